#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Stress kref_put_async() in an x86_64 QEMU guest (TCG, -smp 2): the
# test kernel with lockdep, KASAN and debugobjects (common.sh's
# test_kernel, tinyconfig + harness/stress.config and the fragments the
# other steps that boot it need), the module tests/stress/kref_async_stress.c and
# the static /init tests/stress/stress_init.c.  Objects with three
# references each are dropped from user tasks, exiting tasks, kthreads,
# timer softirqs and hrtimer hard irqs on both CPUs while threads flush;
# every object's state proves it was released exactly once.  Prints
#
#	stress: puts=N released=N lost=N double=N reports=N
#
# (final puts and releases the guest counted, puts whose release never
# came, releases of an object already released, reports in the kernel
# log) and records one check per assertion as stress:* (short),
# stress-long:* and stress-kcsan:*.  The hotplug runs (stress-hotplug:*,
# stress-long-hotplug:*, stress-rt-hotplug:*) add CPU 1 going offline and
# online again throughout, making final puts on its way out whose
# releases the module holds until the check after the offlining, and
# check that kref_async_flush() there waited for them:
#
#	stress: ... hp_offlines=N hp_puts=N hp_pending=N hp_missed=N
#
#   stress.sh [short|long|rt|kmsan|build]
#
#   short  10^6 objects on the KASAN kernel, then 4 x 10^5 with CPU
#          hotplug (part of 'make test')
#   long   10^7 objects on the KASAN kernel, 10^6 with CPU hotplug, then
#          10^7 on a KCSAN kernel (tinyconfig + stress.config +
#          stress-kcsan.config); STRESS_KCSAN=0 skips the latter
#   rt     the short runs on the PREEMPT_RT flavour of the test kernel
#          (+ rt.config, in $CACHE/build/test-rt; part of 'make stress')
#   kmsan  the short run (no hotplug) on the KMSAN flavour (stress.config
#          + test-kunit.config + kmsan.config, clang-19, in
#          $CACHE/build/test-kmsan; part of 'make stress')
#   build  only the test kernel, the module and /init of the short runs
#
# STRESS_OBJS overrides the object count (the check of at least 10^6 or
# 10^7 final puts stays); STRESS_SRC=dir builds the module and /init from
# a modified copy of tests/stress (to show what the test catches).
# Builds are incremental in $CACHE/build/test, test-rt, test-kmsan and
# stress-kcsan, every make under
# $BUILD_LOCK; console logs stay in $CACHE/out/stress/<run>/console.log.
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock timeout qemu-system-x86_64 python3

mode=${1:-short}
# Functions of the series and of the stress module, in KCSAN's stacks
OURS='\b(kref_async|kas)_'
src=$(cd "${STRESS_SRC:-$REPO/tests/stress}" && pwd)
start=$SECONDS

# build NAME PREFIX FRAGMENT...: kernel, module and initramfs of one
# stress kernel in $CACHE/build/NAME; checks PREFIX:config and :build.
build() {
	local name=$1 p=$2 bd=$CACHE/build/$1 kd=$CACHE/build/$1-kmod
	local out=$CACHE/out/stress/$1 f rd t0=$SECONDS rc=0
	shift 2
	mkdir -p "$kd" "$out"
	[ $# -gt 0 ] || set -- "${TEST_FRAGMENTS[@]}"
	test_kernel "$name" "$out/" "$@" || rc=$?
	if [ "$rc" = 1 ]; then
		verdict FAIL "$p:config" "$config_error"
		return 1
	fi
	verdict PASS "$p:config" "tinyconfig + ${*##*/}, every option as asked"
	if [ "$rc" != 0 ]; then
		verdict FAIL "$p:build" "kernel build failed ($out/build.log)"
		return 1
	fi
	tree=$test_tree
	for f in "$src"/Kbuild "$src"/kref_async_stress.[ch]; do
		cmp -s "$f" "$kd/${f##*/}" || cp "$f" "$kd/"
	done
	log "building the stress module from $src"
	kmake "$tree" "$bd" "$out/kmod.log" -j"$JOBS" M="$kd" modules || {
		verdict FAIL "$p:build" "module build failed ($out/kmod.log)"
		return 1
	}
	if grep -E 'warning:|WARNING:' "$out/kmod.log"; then
		verdict FAIL "$p:build" "the stress module builds with warnings ($out/kmod.log)"
		return 1
	fi
	rd=$out/initramfs
	rm -rf "$rd"
	mkdir -p "$rd/dev" "$rd/proc" "$rd/sys"
	gcc -static -O2 -Wall -Werror -I"$src" -I"$REPO/tests" -o "$rd/init" "$src/stress_init.c" \
		> "$out/init.log" 2>&1 || {
		cat "$out/init.log"
		verdict FAIL "$p:build" "/init does not build ($out/init.log)"
		return 1
	}
	cp "$kd/kref_async_stress.ko" "$rd/"
	pack_initramfs "$rd" "$out/initramfs.cpio.gz"
	verdict PASS "$p:build" "kernel, module and /init in $((SECONDS - t0))s"
}

# run NAME PREFIX OBJECTS MIN-PUTS SANITIZER-BANNER [HOTPLUG-PUTS [APPEND]]:
# boot the kernel built by 'build NAME', judge its counts and its log;
# with HOTPLUG-PUTS, CPU 1 goes offline and online throughout.
run() {
	local name=$1 p=$2 objs=$3 min=$4 banner=$5 hp=${6:-0} append=${7:-}
	local bd=$CACHE/build/$1 out=$CACHE/out/stress/$2
	local console qrc=0 t0 secs res ctx c v reports foreign lost ok
	mkdir -p "$out"
	console=$out/console.log
	# Guest time: about 20 s of boot and checks plus the run; a run
	# that overstays its cap stops early and fails the puts check.
	# STRESS_SLOW multiplies the run's part (the KMSAN kernel's is 4).
	local cap=$((objs / 2500 * ${STRESS_SLOW:-1} + 300))
	log "booting the $name guest: $objs objects (TCG, -smp 2, cap ${cap}s)"
	t0=$SECONDS
	QEMU_TIMEOUT=$((cap + 300)) boot_guest "$bd/arch/x86/boot/bzImage" \
		"$CACHE/out/stress/$name/initramfs.cpio.gz" "$console" \
		'STRESS: \(DONE\|ERROR\)' 1G \
		"console=ttyS0 panic=-1 oops=panic stress_objs=$objs stress_secs=$cap stress_hotplug=$hp $append" ||
		qrc=$?
	secs=$((SECONDS - t0))
	tr -d '\r' < "$console" > "$out/console.txt"
	# Serial lines end in \r; a kernel message may share a line with ours.
	grep -oE 'STRESS: .*' "$out/console.txt" > "$out/stress.txt" || true
	grep -v 'STRESS: ' "$out/console.txt" > "$out/kernel.log" || true

	if ! grep -q '^STRESS: DONE' "$out/stress.txt"; then
		echo "--- last 40 lines of $console:"
		tail -40 "$out/console.txt"
		verdict FAIL "$p:completed" "no 'STRESS: DONE' after ${secs}s (qemu exit $qrc, 124 = timeout): $(grep -m1 'STRESS: ERROR' "$out/stress.txt" || true)"
	fi
	res=$(grep -m1 '^STRESS: result ' "$out/stress.txt" || true)
	val() {	# the value of key $1 in the result line, or "-"
		local x
		x=$(echo "$res" | grep -oE "(^| )$1=[0-9]+" | cut -d= -f2)
		echo "${x:--}"
	}
	# A KCSAN report counts if a frame of its stacks is the series' or
	# the stress module's; a race between two places of the base kernel
	# (6.12's workqueue reads its worker's sum_exec_runtime, which the
	# uninstrumented scheduler updates) is listed, not counted.
	if python3 "$REPO/harness/logscan.py" --kcsan-ours "$OURS" "$out/kernel.log" \
			> "$out/logscan.txt"; then
		reports=0
	else
		grep -v '^--- KCSAN report with no frame' "$out/logscan.txt"
		reports=$(sed -n 's/^logscan: \([0-9]*\) unexpected.*/\1/p' "$out/logscan.txt")
		reports=${reports:-1}
	fi
	foreign=$(sed -n 's/^logscan: \([0-9]*\) KCSAN report(s) outside.*/\1/p' "$out/logscan.txt")
	c=
	[ "$hp" = 0 ] || c=" hp_offlines=$(val hp_offlines) hp_puts=$(val hp_puts) hp_pending=$(val hp_pending) hp_missed=$(val hp_missed)"
	echo "stress: puts=$(val finals) released=$(val released) lost=$(val lost) double=$(val double) reports=$reports$c"
	if [ -z "$res" ]; then
		verdict FAIL "$p:completed" "no result line ($console)"
		verdict FAIL "$p:kernel-log" "$reports report(s) in $console"
		return 1
	fi
	grep -q '^STRESS: DONE' "$out/stress.txt" &&
		verdict PASS "$p:completed" "$(val created) objects, $(val puts) puts in $(val run_ms) ms of run; boot to DONE ${secs}s"

	ok=PASS
	[ "$(val finals)" != - ] && [ "$(val finals)" -ge "$min" ] || ok=FAIL
	verdict $ok "$p:puts" "$(val finals) final puts (at least $min), $(val puts) puts in all"
	lost=$(val lost)
	ok=PASS
	[ "$lost" = 0 ] && [ "$(val unreleased)" = 0 ] || ok=FAIL
	verdict $ok "$p:lost" "lost=$lost (final puts - releases), $(val unreleased) of $(val created) states not RELEASED"
	ok=PASS
	[ "$(val double)" = 0 ] || ok=FAIL
	verdict $ok "$p:double" "double=$(val double) (releases of an object not LIVE)"
	ok=PASS
	[ "$(val in_put)" = 0 ] || ok=FAIL
	verdict $ok "$p:not-in-put" "$(val in_put) releases ran inside a put"
	ok=PASS
	[ "$(val flush_missed)" = 0 ] && [ "$(val flushes)" != - ] && [ "$(val flushes)" -gt 0 ] || ok=FAIL
	verdict $ok "$p:flush" "$(val flushes) concurrent flushes; $(val flush_checked) kthread final puts checked released after a flush, $(val flush_missed) were not"
	ok=PASS
	[ "$(val user_missed)" = 0 ] && [ "$(val user_checked)" != - ] && [ "$(val user_checked)" -gt 0 ] || ok=FAIL
	verdict $ok "$p:user-task-work" "$(val user_checked) final puts of a STEP checked released at the next STEP, $(val user_missed) were not"
	if [ "$hp" != 0 ]; then
		# At least ten offlinings, each leaving releases pending (held
		# until the check) that the flush after it waited for.
		ok=PASS
		[ "$(val hp_offlines)" != - ] && [ "$(val hp_offlines)" -ge 10 ] &&
			[ "$(val hp_puts)" -ge $((10 * hp)) ] || ok=FAIL
		verdict $ok "$p:offlines" "CPU 1 went offline $(val hp_offlines) times, making $(val hp_puts) final puts on its way out ($hp each)"
		ok=PASS
		[ "$(val hp_missed)" = 0 ] && [ "$(val hp_checked)" != - ] &&
			[ "$(val hp_checked)" -gt 0 ] &&
			[ "$(val hp_pending)" = "$(val hp_checked)" ] &&
			[ "$(val hp_checked)" = "$(val hp_puts)" ] &&
			[ "$(val hp_gate_timeouts)" = 0 ] || ok=FAIL
		verdict $ok "$p:flush-offline" "$(val hp_checked) of them checked once CPU 1 was offline: $(val hp_pending) still pending before the flush, $(val hp_missed) not released after it; $(val hp_gate_timeouts) gate timeouts"
	fi
	# Each context must have made final puts on each CPU: a context that
	# silently made none would otherwise pass.
	for ctx in user exit kthread softirq hardirq; do
		c=$(grep -m1 "^STRESS: final $ctx " "$out/stress.txt" || true)
		ok=PASS
		[ -n "$c" ] || ok=FAIL
		for v in $(echo "$c" | grep -oE 'cpu[0-9]+=[0-9]+' | cut -d= -f2); do
			[ "$v" -gt 0 ] || ok=FAIL
		done
		[ "$(echo "$c" | grep -oE 'cpu[0-9]+=' | wc -l)" -ge 2 ] || ok=FAIL
		verdict $ok "$p:ctx-$ctx" "final puts: ${c#STRESS: final $ctx }"
	done
	c=$(grep -m1 '^STRESS: unload ' "$out/stress.txt" || true)
	ok=FAIL
	case $c in "STRESS: unload ok"*) ok=PASS ;; esac
	verdict $ok "$p:unload" "${c#STRESS: unload }"
	# The checkers were on, and still on at the end: lockdep turns
	# itself off at its first report.
	c=$(grep -m1 '^STRESS: checkers ' "$out/stress.txt" || true)
	ok=PASS
	grep -q "$banner" "$out/kernel.log" || ok=FAIL
	# The KMSAN kernel has no lockdep (kmsan.config): -1 there.
	echo "$c" | grep -qw "debug_locks=${STRESS_DEBUG_LOCKS:-1}" || ok=FAIL
	echo "$c" | grep -qw 'odebug_warnings=0' || ok=FAIL
	echo "$c" | grep -qE 'odebug_used=[1-9]' || ok=FAIL
	verdict $ok "$p:checkers" "'$banner' in the log; ${c#STRESS: checkers }"
	c=
	[ "${foreign:-0}" = 0 ] ||
		c="; $foreign KCSAN report(s) with no frame of ours not counted ($out/logscan.txt)"
	if [ "$reports" = 0 ]; then
		verdict PASS "$p:kernel-log" "clean ($console)$c"
	else
		verdict FAIL "$p:kernel-log" "$reports unexpected report(s) in $console$c"
	fi
	echo "$p: console log $console"
}

case $mode in
build)
	# Only the test kernel, module and /init of the short runs (lib-mutant.sh
	# boots them on its mutant kernel).
	build test stress
	;;
short)
	if build test stress; then
		run test stress "${STRESS_OBJS:-1000000}" 1000000 \
			'KernelAddressSanitizer initialized'
		run test stress-hotplug "${STRESS_HP_OBJS:-400000}" 400000 \
			'KernelAddressSanitizer initialized' 16
	fi
	;;
rt)
	flavour rt
	if build test-rt stress-rt "${FLAVOUR_FRAGMENTS[@]}"; then
		run test-rt stress-rt "${STRESS_OBJS:-1000000}" 1000000 'SMP PREEMPT_RT'
		run test-rt stress-rt-hotplug "${STRESS_HP_OBJS:-400000}" 400000 \
			'SMP PREEMPT_RT' 16
	fi
	;;
kmsan)
	flavour kmsan
	export STRESS_SLOW=${STRESS_SLOW:-4} STRESS_DEBUG_LOCKS=-1
	if build test-kmsan stress-kmsan "${FLAVOUR_FRAGMENTS[@]}"; then
		run test-kmsan stress-kmsan "${STRESS_OBJS:-1000000}" 1000000 \
			'Starting KernelMemorySanitizer'
	fi
	;;
long)
	if build test stress-long; then
		run test stress-long "${STRESS_OBJS:-10000000}" 10000000 \
			'KernelAddressSanitizer initialized'
		run test stress-long-hotplug "${STRESS_HP_OBJS:-1000000}" 1000000 \
			'KernelAddressSanitizer initialized' 16
	fi
	if [ "${STRESS_KCSAN:-1}" != 0 ]; then
		# No KASAN here: SLUB poisoning at least catches a write to
		# a freed object when its slot is reused.
		build stress-kcsan stress-kcsan "$REPO/harness/stress.config" \
			"$REPO/harness/stress-kcsan.config" &&
			run stress-kcsan stress-kcsan "${STRESS_OBJS:-10000000}" 10000000 \
				'kcsan: enabled early' 0 slub_debug=FZP
	fi
	;;
*)
	die "usage: stress.sh [short|long|rt|kmsan|build]"
	;;
esac
echo "stress $mode: $((SECONDS - start))s"
[ "$fails" -eq 0 ]
