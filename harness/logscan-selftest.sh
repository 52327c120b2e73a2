#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The log scanner judges every kernel log of the test command, so test it
# too: it must fail on an injected report, excuse exactly one announced
# report per announcement, and ignore what comes before --from.
. "$(dirname "$0")/common.sh"

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
scan() { python3 "$REPO/harness/logscan.py" "$@" > "$t/out" 2>&1; }
warn='------------[ cut here ]------------
WARNING: CPU: 1 PID: 42 at lib/kref_async.c:167 kref_async_defer+0x1/0x2
Call Trace:'

check() {	# check NAME EXPECTED-EXIT scan-args...
	local name=$1 want=$2 rc=0
	shift 2
	scan "$@" || rc=$?
	if [ "$rc" = "$want" ]; then
		record PASS "logscan:$name" "exit $rc"
	else
		sed 's/^/    /' "$t/out"
		record FAIL "logscan:$name" "exit $rc, expected $want"
	fi
}

printf 'boot\nKTAP version 1\nok 1 a\n' > "$t/clean"
check clean-log 0 "$t/clean"
printf 'KTAP version 1\n%s\nok 1 a\n' "$warn" > "$t/warn"
check injected-warning 1 "$t/warn"
printf 'KTAP version 1\n# x: a WARNING is expected next\n%s\n' "$warn" > "$t/excused"
check announced-warning 0 "$t/excused"
# two reports far enough apart to be two events, one announcement
printf 'KTAP version 1\n# x: a WARNING is expected next\n%s\n%s\n%s\n' "$warn" \
	"$(seq 1 50 | sed 's/^/filler /')" "$warn" > "$t/twice"
check one-excuse-per-announcement 1 "$t/twice"
printf '%s\nKTAP version 1\nok 1 a\n' "$warn" > "$t/before"
check before-from-ignored 0 --from 'KTAP version' "$t/before"
printf 'BUG: KASAN: slab-use-after-free in kref_async_call_kref\n' > "$t/kasan"
check kasan-report 1 "$t/kasan"
printf 'WARNING: possible circular locking dependency detected\n' > "$t/lockdep"
check lockdep-report 1 "$t/lockdep"
! grep -q '^FAIL logscan:' "$RESULTS/checks" 2>/dev/null
