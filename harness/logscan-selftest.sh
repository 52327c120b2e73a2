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
printf '%s\n' 'ODEBUG: free active (active state 0) object: 00000000 object type: timer_list hint: kas_timer_fn+0x0/0x10' > "$t/odebug"
check odebug-report 1 "$t/odebug"
printf 'BUG: KCSAN: data-race in kref_async_drain / kref_async_queue\n' > "$t/kcsan"
check kcsan-report 1 "$t/kcsan"
# A race inside the base kernel is listed, not counted, under --kcsan-ours;
# one with a frame of ours counts.
kcsan_report() {	# kcsan_report FRAME
	printf '%s\n' '==================================================================' \
		'BUG: KCSAN: data-race in process_scheduled_works+0x21a/0x883' '' \
		'race at unknown origin, with read to 0xffff888000302fa0 of 8 bytes by task 8 on cpu 0:' \
		" $1" ' worker_thread+0x1e7/0x2a6' ' kthread+0x17d/0x185' '' \
		'Reported by Kernel Concurrency Sanitizer on:' \
		'==================================================================' 'ok 1 a'
}
kcsan_report 'process_scheduled_works+0x21a/0x883' > "$t/kcsan-base"
check kcsan-base-not-ours 0 --kcsan-ours '\b(kref_async|kas)_' "$t/kcsan-base"
check kcsan-base-counted-without-option 1 "$t/kcsan-base"
kcsan_report 'kref_async_drain+0x9c/0x1c7' > "$t/kcsan-ours"
check kcsan-ours 1 --kcsan-ours '\b(kref_async|kas)_' "$t/kcsan-ours"
printf 'INFO: task stress_init:42 blocked for more than 60 seconds.\n' > "$t/hung"
check hung-task 1 "$t/hung"
printf 'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n' > "$t/stall"
check rcu-stall 1 "$t/stall"
printf 'Oops: general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1] PREEMPT SMP KASAN\n' > "$t/oops"
check oops 1 "$t/oops"
printf 'BUG kmalloc-64 (Not tainted): Poison overwritten\n' > "$t/slub"
check slub-report 1 "$t/slub"
! grep -q '^FAIL logscan:' "$RESULTS/checks" 2>/dev/null
