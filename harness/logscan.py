#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Scan a kernel log (from the first line matching --from, if given) for reports: WARNING, BUG, lockdep, KASAN, ODEBUG,
Oops, panic.  A report is expected, and not counted, when the test printed
"... is expected next" just before it (one marker excuses one report).
Prints each unexpected report with some context; exits 1 if any."""

import re
import sys

REPORT = re.compile(r"(WARNING:|BUG:|Oops|Kernel panic|KASAN:|KCSAN:|ODEBUG:|"
                    r"UBSAN:|possible circular locking|possible recursive locking|"
                    r"inconsistent lock state|lock held when returning|"
                    r"suspicious RCU usage|INFO: task .* blocked|"
                    r"DEBUG_LOCKS_WARN_ON|refcount_t: )")
MARKER = re.compile(r"is expected next")
# a report is one event, whatever number of lines match inside it
SPAN = 40


def scan(lines):
    bad = []
    excused = 0
    last = -SPAN - 1
    for i, line in enumerate(lines):
        if MARKER.search(line):
            excused += 1
            continue
        if not REPORT.search(line):
            continue
        if i - last <= SPAN:
            last = i
            continue
        last = i
        if excused:
            excused -= 1
            continue
        bad.append(i)
    return bad


def main():
    args = sys.argv[1:]
    start = None
    if len(args) == 3 and args[0] == "--from":
        start = re.compile(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.exit("usage: logscan.py [--from REGEX] LOG")
    sys.argv[1:] = args
    with open(sys.argv[1], errors="replace") as f:
        lines = f.read().splitlines()
    if start:
        first = next((i for i, l in enumerate(lines) if start.search(l)), None)
        if first is None:
            print(f"logscan: no line matches {start.pattern} in {sys.argv[1]}")
            sys.exit(1)
        lines = [""] * first + lines[first:]
    bad = scan(lines)
    for i in bad:
        print(f"--- unexpected report at {sys.argv[1]}:{i + 1}")
        print("\n".join(lines[max(0, i - 2):i + 12]))
    print(f"logscan: {len(bad)} unexpected report(s) in {sys.argv[1]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
