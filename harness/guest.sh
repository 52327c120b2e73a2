#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run the user-space test of kref_put_async()'s task_work path in an
# x86_64 QEMU guest (TCG, -smp 2): the test kernel (common.sh's
# test_kernel: lockdep, KASAN, debugobjects), the test module tests/kmod,
# and the static
# program tests/user/kref_async_user.c as /init of the initramfs.  Each
# "KTEST: PASS|FAIL name" line the guest prints is recorded as the check
# guest:name, plus guest:boot and guest:kernel-log.
#
#   guest.sh
#
# KMOD_SRC=dir builds the module from a modified copy of tests/kmod
# instead (to show what the test catches); QEMU_TIMEOUT caps the boot
# (600 s).  Builds are incremental in $CACHE/build/test, and every make
# of the kernel or the module holds $BUILD_LOCK, so that they never run
# alongside another kernel build on this machine.
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock qemu-system-x86_64 python3

QEMU_TIMEOUT=${QEMU_TIMEOUT:-600}
kmod_src=$(cd "${KMOD_SRC:-$REPO/tests/kmod}" && pwd)
kd=$CACHE/build/guest-kmod
out=$CACHE/out/guest
mkdir -p "$kd" "$out"

rc=0
test_kernel test "$out/" || rc=$?
if [ "$rc" = 1 ]; then
	verdict FAIL guest:config "$config_error"
	die "guest config: $config_error"
elif [ "$rc" != 0 ]; then
	verdict FAIL guest:build "kernel build failed ($out/build.log)"
	exit 1
fi
tree=$test_tree bd=$test_bd
# The test module starts a vhost task: vhost_task_create() is built in
# only when something selects VHOST_TASK (x86 KVM does, in e2e.config).
if ! grep -qx 'CONFIG_VHOST_TASK=y' "$bd/.config"; then
	verdict FAIL guest:config "the test kernel has no CONFIG_VHOST_TASK, which tests/kmod needs"
	die "guest config: no CONFIG_VHOST_TASK=y in $bd/.config"
fi

# Kbuild writes its objects next to the sources of M=: build a
# copy, updated content-wise so that an unchanged module is not rebuilt.
for f in "$kmod_src"/*; do
	[ -f "$f" ] || continue
	cmp -s "$f" "$kd/${f##*/}" || cp "$f" "$kd/"
done
log "building the test module from $kmod_src"
kmake "$tree" "$bd" "$out/kmod.log" -j"$JOBS" M="$kd" modules ||
	{ verdict FAIL guest:build "module build failed ($out/kmod.log)"; exit 1; }
if grep -E 'warning:|WARNING:' "$out/kmod.log"; then
	verdict FAIL guest:build "the test module builds with warnings ($out/kmod.log)"
fi

log "building /init"
rd=$out/initramfs
rm -rf "$rd"
mkdir -p "$rd/dev" "$rd/proc" "$rd/sys"
gcc -static -O2 -Wall -I"$kmod_src" -o "$rd/init" \
	"$REPO/tests/user/kref_async_user.c" 2>"$out/init.log" ||
	{ cat "$out/init.log"; verdict FAIL guest:build "/init does not build"; exit 1; }
if [ -s "$out/init.log" ]; then
	cat "$out/init.log"
	verdict FAIL guest:build "/init builds with warnings ($out/init.log)"
fi
cp "$kd"/kref_async_test.ko "$kd"/kref_async_victim.ko "$kd"/kref_async_pair_[ab].ko "$rd/"
pack_initramfs "$rd" "$out/initramfs.cpio.gz"

log "booting the guest (TCG, -smp 2, timeout ${QEMU_TIMEOUT}s)"
console=$out/console.log
SECONDS=0
qrc=0
boot_guest "$bd/arch/x86/boot/bzImage" "$out/initramfs.cpio.gz" "$console" \
	'KTEST: DONE' 1G "console=ttyS0 panic=-1 oops=panic" || qrc=$?
boot_time=$SECONDS

# Serial lines end in \r; a kernel message may share a line with ours.
tr -d '\r' < "$console" > "$out/console.txt"
while read -r _ v name detail; do
	verdict "$v" "guest:${name%:}" "$detail"
done < <(grep -oE 'KTEST: (PASS|FAIL) .*' "$out/console.txt" || true)
if grep -q 'KTEST: DONE' "$out/console.txt"; then
	if grep -qE 'KTEST: (PASS|FAIL) ' "$out/console.txt"; then
		verdict PASS guest:boot "ran to DONE in ${boot_time}s (qemu exit $qrc)"
	else
		verdict FAIL guest:boot "DONE without any check"
	fi
else
	echo "--- last 40 lines of $console:"
	tail -40 "$out/console.txt"
	verdict FAIL guest:boot "no 'KTEST: DONE' after ${boot_time}s (qemu exit $qrc, 124 = timeout)"
fi

# The kernel's own lines only: a failing KTEST line may quote a report.
grep -v 'KTEST: ' "$out/console.txt" > "$out/kernel.log" || true
if python3 "$REPO/harness/logscan.py" "$out/kernel.log" > "$out/logscan.txt"; then
	verdict PASS guest:kernel-log "clean ($console)"
else
	cat "$out/logscan.txt"
	verdict FAIL guest:kernel-log "unexpected reports in $console"
fi
echo "guest: console log $console"
[ "$fails" -eq 0 ]
