#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Scan a kernel log (from the first line matching --from, if given) for reports: WARNING, BUG, lockdep, KASAN, KCSAN,
ODEBUG, SLUB debug, hung task, RCU stall, Oops, panic.  A report is expected, and not counted, when the test printed
"... is expected next" just before it (one marker excuses one report).
With --kcsan-ours REGEX, a KCSAN report counts only if one of its stack
frames matches REGEX: the others are races inside the base kernel (or with
code KCSAN does not instrument), listed but not counted.
Prints each unexpected report with some context; exits 1 if any."""

import re
import sys

REPORT = re.compile(r"(WARNING:|BUG:|Oops|Kernel panic|KASAN:|KCSAN:|ODEBUG:|"
                    r"UBSAN:|possible circular locking|possible recursive locking|"
                    r"inconsistent lock state|lock held when returning|"
                    r"suspicious RCU usage|INFO: task .* blocked|"
                    r"DEBUG_LOCKS_WARN_ON|refcount_t: |detected stalls on CPUs|"
                    # SLUB debugging: "BUG kmalloc-64 (Not tainted): Poison overwritten"
                    r"BUG \S+ \((?:Not tainted|Tainted: [^)]*)\): )")
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


KCSAN = re.compile(r"BUG: KCSAN: ")
RULE = re.compile(r"={40,}")
FRAME = re.compile(r"[\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+")


def foreign_kcsan(lines, ours):
    """Blank the KCSAN reports none of whose stack frames match ours (a
    race between two places of the base kernel, or with code KCSAN does not
    instrument); returns (first line, function) of each."""
    found = []
    for i, line in enumerate(lines):
        if not KCSAN.search(line):
            continue
        end = next((j for j in range(i + 1, min(len(lines), i + 80))
                    if RULE.search(lines[j])), None)
        if end is None:
            continue
        frames = [m.group(0) for l in lines[i + 1:end] for m in FRAME.finditer(l)]
        if any(ours.search(f) for f in frames):
            continue
        start = i - 1 if i and RULE.search(lines[i - 1]) else i
        where = line[KCSAN.search(line).end():].strip()
        found.append((i, where))
        for j in range(start, end + 1):
            lines[j] = ""
    return found


def main():
    args = sys.argv[1:]
    start = ours = None
    while len(args) > 2 and args[0] in ("--from", "--kcsan-ours"):
        if args[0] == "--from":
            start = re.compile(args[1])
        else:
            ours = re.compile(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.exit("usage: logscan.py [--from REGEX] [--kcsan-ours REGEX] LOG")
    sys.argv[1:] = args
    with open(sys.argv[1], errors="replace") as f:
        lines = f.read().splitlines()
    if start:
        first = next((i for i, l in enumerate(lines) if start.search(l)), None)
        if first is None:
            print(f"logscan: no line matches {start.pattern} in {sys.argv[1]}")
            sys.exit(1)
        lines = [""] * first + lines[first:]
    if ours:
        foreign = foreign_kcsan(lines, ours)
        for i, where in foreign:
            print(f"--- KCSAN report with no frame matching {ours.pattern} at "
                  f"{sys.argv[1]}:{i + 1}: {where}")
        print(f"logscan: {len(foreign)} KCSAN report(s) outside {ours.pattern} "
              f"not counted")
    bad = scan(lines)
    for i in bad:
        print(f"--- unexpected report at {sys.argv[1]}:{i + 1}")
        print("\n".join(lines[max(0, i - 2):i + 12]))
    print(f"logscan: {len(bad)} unexpected report(s) in {sys.argv[1]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
