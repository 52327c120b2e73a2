#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Show that the guest's two-module check and the stress run's CPU-hotplug
# check catch what they are written for: the x86_64 test kernel rebuilt
# with lib/kref_async.c broken in two ways, booted with the guest's and
# the short stress run's initramfs (made first by guest.sh and
# 'stress.sh build', whose own verdicts go to $CACHE/out/lib-mutant/prep
# and do not count here).
#
#   batch-pin     kref_async_covered() lets the module pinned by a node
#                 of a batch cover the releases of any module, so the
#                 other module's releases in the batch keep no
#                 reference: the guest's module.pair-b-first.refused
#                 must fail (and the release then runs in freed text:
#                 the guest panics)
#   flush-online  kref_async_flush() waits for the drains of online CPUs
#                 only: the stress-hotplug run must count releases that
#                 CPU 1 queued on its way offline and that a flush after
#                 it did not wait for (hp_missed > 0)
#
# One kernel carries both: neither test reaches the other's mutation.
# The mutant is built from a work tree and in a build directory of its
# own (ASSEMBLE_SUFFIX=-libmutant, $CACHE/build/test-libmutant: a cold
# kernel build the first time), from the test kernel's fragments, and
# boots copies of the two initramfs: nothing that other steps build or
# boot is touched.  Records lib-mutant:batch-pin and
# lib-mutant:flush-online (each passes when its check failed on the
# mutant).  'make test-more'.
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock timeout qemu-system-x86_64 python3

out=$CACHE/out/lib-mutant
bd=$CACHE/build/test-libmutant
mkdir -p "$out"
start=$SECONDS

# file|the line as the series has it|the line instead
MUTATIONS=(
	"lib/kref_async.c|return addr - kc->pin_start < kc->pin_end - kc->pin_start;|return kc->pin_end != kc->pin_start;"
	"lib/kref_async.c|	for_each_possible_cpu(cpu) {
		for (s = 0; s < KREF_ASYNC_STACKS; s++) {
			struct kref_async_cpu *kc =
				per_cpu_ptr(&kref_async_cpus[s], cpu);

			for (i = 0; i < KREF_ASYNC_DRAINS; i++)
				flush_work(|	for_each_online_cpu(cpu) {
		for (s = 0; s < KREF_ASYNC_STACKS; s++) {
			struct kref_async_cpu *kc =
				per_cpu_ptr(&kref_async_cpus[s], cpu);

			for (i = 0; i < KREF_ASYNC_DRAINS; i++)
				flush_work("
)

# The initramfs of both, made now against the test kernel, and copied.
log "building the guest's and the stress run's initramfs (verdicts in $out/prep)"
touch "$out/prep.stamp"
RESULTS=$out/prep "$REPO/harness/guest.sh" > "$out/prep-guest.log" 2>&1 || true
RESULTS=$out/prep "$REPO/harness/stress.sh" build > "$out/prep-stress.log" 2>&1 || true
for f in "$CACHE/out/guest/initramfs.cpio.gz" "$CACHE/out/stress/test/initramfs.cpio.gz"; do
	[ "$f" -nt "$out/prep.stamp" ] ||
		{ verdict FAIL lib-mutant:prep "$f was not made (see $out/prep-*.log)"; exit 1; }
done
guest_rd=$out/guest-initramfs.cpio.gz
stress_rd=$out/stress-initramfs.cpio.gz
cp "$CACHE/out/guest/initramfs.cpio.gz" "$guest_rd"
cp "$CACHE/out/stress/test/initramfs.cpio.gz" "$stress_rd"

# The series' tree again (assemble.sh undoes the last run's mutation),
# then the mutation.
tree=$(ASSEMBLE_SUFFIX=-libmutant "$REPO/harness/assemble.sh") ||
	{ verdict FAIL lib-mutant:build "the series does not assemble"; exit 1; }
for m in "${MUTATIONS[@]}"; do
	IFS='|' read -r -d '' f from to <<< "$m" || true
	to=${to%$'\n'}
	replace_once "$tree/$f" "$from" "$to" || {
		verdict FAIL lib-mutant:apply "$f has not exactly one '${from%%$'\n'*}'"
		exit 1
	}
done
tinyconfig_kernel "$tree" "$bd" "$out/" "${TEST_FRAGMENTS[@]}" ||
	{ verdict FAIL lib-mutant:build "$config_error"; exit 1; }
log "building the mutant kernel in $bd"
kmake "$tree" "$bd" "$out/mutant-build.log" -j"$JOBS" bzImage ||
	{ verdict FAIL lib-mutant:build "the mutant does not build ($out/mutant-build.log)"; exit 1; }

log "booting the guest on the mutant"
QEMU_TIMEOUT=600 boot_guest "$bd/arch/x86/boot/bzImage" "$guest_rd" "$out/guest.log" \
	'KTEST: DONE' 1G "console=ttyS0 panic=-1 oops=panic" || true
tr -d '\r' < "$out/guest.log" > "$out/guest.txt"
line=$(grep -m1 -oE 'KTEST: (PASS|FAIL) module\.pair-b-first\.refused.*' "$out/guest.txt" || true)
# The failure meant: kref_async_pair_a, whose releases the batch's pin
# on kref_async_pair_b now covers, unloads with them pending.
case $line in
"KTEST: FAIL "*"kref_async_pair_a: Success"*)
	verdict PASS lib-mutant:batch-pin "fails on the mutant: ${line#KTEST: FAIL module.pair-b-first.refused: }; then: $(grep -m1 -oE 'Oops: .*|BUG: .*' "$out/guest.txt" || echo 'no Oops')" ;;
"KTEST: "*) verdict FAIL lib-mutant:batch-pin "not the failure expected on the mutant: ${line#KTEST: }" ;;
*) verdict FAIL lib-mutant:batch-pin "did not run on the mutant ($out/guest.log)" ;;
esac

log "booting the stress-hotplug run on the mutant (2 x 10^5 objects)"
QEMU_TIMEOUT=900 boot_guest "$bd/arch/x86/boot/bzImage" "$stress_rd" "$out/stress.log" \
	'STRESS: \(DONE\|ERROR\)' 1G \
	"console=ttyS0 panic=-1 oops=panic stress_objs=200000 stress_secs=400 stress_hotplug=16" || true
tr -d '\r' < "$out/stress.log" > "$out/stress.txt"
res=$(grep -m1 -oE 'STRESS: result .*' "$out/stress.txt" || true)
hp() { echo "$res" | grep -oE "(^| )$1=[0-9]+" | cut -d= -f2 || true; }
missed=$(hp hp_missed)
if [ -z "$res" ] || [ -z "$missed" ]; then
	verdict FAIL lib-mutant:flush-online "no result line with hp_missed ($out/stress.log)"
elif [ "$missed" -gt 0 ]; then
	verdict PASS lib-mutant:flush-online "fails on the mutant: $missed of $(hp hp_checked) releases queued by CPU 1 going offline ($(hp hp_pending) pending before the flush) not run after it, in $(hp hp_offlines) offlinings"
else
	verdict FAIL lib-mutant:flush-online "still passes on the mutant: 0 of $(hp hp_checked) missed in $(hp hp_offlines) offlinings"
fi
echo "lib-mutant: $((SECONDS - start))s"
[ "$fails" -eq 0 ]
