#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The converted users (patches "mm: ...", "tty: ...", "userns: ...")
# checked by their own subsystems' selftests, on the series' test kernel
# and on the unpatched base, in x86_64 QEMU guests (TCG, 17 vCPUs):
#
#   patched  the series' test kernel (common.sh's test_kernel: lockdep,
#            KASAN, debugobjects), plus tests/users/kref_async_watch.ko,
#            which counts from kref_async's tracepoints the deferrals and
#            releases of release_one_tty(), mmput_async_fn() and
#            free_user_ns(): each conversion must defer through kref_async
#            from the context its commit message names, and lose nothing
#            (a release made synchronous again, or lost, fails these);
#   base     the unpatched base (common.sh's base_kernel, shared with
#            e2e.sh base): the same selftests, which must pass there too.
#   mutant   the patched kernel with each conversion undone in the way a
#            regression would: tty_kref_put() releasing synchronously again,
#            mmput_async() losing the release, __put_user_ns() freeing
#            synchronously.  The watch checks must then fail, each of them
#            (users-mutant:<check> passes when the check failed); the
#            selftests' verdicts there are only reported.  The tree is
#            assembled back afterwards.  In 'make test-more', not 'make test'.
#
# The selftests are the base tree's own tools/testing/selftests programs
# (SELFTESTS below), built static against the base's uapi headers, run by
# /init (tests/users/users_init.c).  Checks: users-<kernel>:<selftest>,
# users-patched:watch.*, users-<kernel>:boot and users-<kernel>:kernel-log.
#
#   users.sh [patched|base|mutant]...   (default: patched base)
#
# The guests have 17 vCPUs (USERS_SMP): futex_priv_hash skips its one
# test unless more than 16 CPUs are online, and the private futex hash
# grows on thread creation only with more than four.  QEMU_TIMEOUT caps
# each boot (1200 s).
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock timeout rsync qemu-system-x86_64 python3

# libcap's static library (libcap-dev): tty_tiocsti_test and the
# namespaces tests link it.
[ -f /usr/lib/x86_64-linux-gnu/libcap.a ] ||
	die "no /usr/lib/x86_64-linux-gnu/libcap.a: install libcap-dev (harness/deps.sh does)"

QEMU_TIMEOUT=${QEMU_TIMEOUT:-1200}
export QEMU_SMP=${USERS_SMP:-17}
out=$CACHE/out/users
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(patched base)
for k in "${kernels[@]}"; do
	case $k in patched|base|mutant) ;;
	*) die "usage: users.sh [patched|base|mutant]..." ;;
	esac
done
mkdir -p "$out"

# name|sources (under tools/testing/selftests)|ctty or nothing|arguments
# The subsystem each covers: futex_priv_hash (mm: the private hash whose
# replaced tables hold mm references that an RCU callback drops with
# mmput_async()); tty_* (tty: ptys opened and closed, a controlling
# terminal); the rest (userns: user namespaces created, entered and freed
# when their last reference goes).  Left out, each seen failing on the
# unpatched base in this guest (see the README): three fd-passing
# variants of tty_tiocsti_test, which expect TIOCSTI to check the
# opener's credentials where 7.3 checks the caller's, the namespaces
# stress_test, whose concurrent_namespace_operations outruns its 30 s
# limit under TCG, and two cases of ns_active_ref_test that expect a
# network namespace made by a thread to be inactive once pthread_join()
# has returned and the last fd is closed: pthread_join() returns at the
# thread's exit_mm(), before its exit_nsproxy_namespaces() (one failed
# on the base, the other twice on the series, which does not touch
# network namespaces).
SELFTESTS="
futex_priv_hash|futex/functional/futex_priv_hash.c||
tty_tiocsti_test|tty/tty_tiocsti_test.c||-V fdpass_pty_restricted_nocap -V fdpass_nopty_permissive_nocap -V fdpass_nopty_restricted_nocap
tty_tstamp_update|tty/tty_tstamp_update.c|ctty|
nsfs_owner|filesystems/nsfs/owner.c||
cred_change_test|namespaces/cred_change_test.c filesystems/utils.c||
ns_active_ref_test|namespaces/ns_active_ref_test.c filesystems/utils.c||-T thread_ns_inactive_after_exit -T thread_ns_fd_keeps_active
listns_test|namespaces/listns_test.c filesystems/utils.c||
nsid_test|namespaces/nsid_test.c filesystems/utils.c||
"

base=$(base_dir)
st=$base/tools/testing/selftests
sel=$out/selftests

uapi_headers "$out/headers.log"

log "building the selftests from $st"
rm -rf "$sel"
mkdir -p "$sel"
: > "$sel/list"
while IFS='|' read -r name srcs ctty args; do
	[ -n "$name" ] || continue
	files=()
	for f in $srcs; do files+=("$st/$f"); done
	if gcc -static -O2 -pthread -D_GNU_SOURCE -isystem "$uapi_hdr/include" \
		-I"$st" -I"$st/futex/include" -I"$base/tools/include/uapi" \
		"${files[@]}" -o "$sel/$name" -lcap -lpthread -lrt \
		>"$out/$name.build.log" 2>&1; then
		echo "$name ${ctty:--} $args" >> "$sel/list"
	else
		tail -5 "$out/$name.build.log"
		for k in "${kernels[@]}"; do
			verdict FAIL "users-$k:$name" "does not build ($out/$name.build.log)"
		done
	fi
done <<< "$SELFTESTS"

# build_watch: tests/users/kref_async_watch.ko against the test kernel.
build_watch() {
	local kd=$CACHE/build/users-kmod f
	mkdir -p "$kd"
	for f in "$REPO"/tests/users/Kbuild "$REPO"/tests/users/kref_async_watch.c; do
		cmp -s "$f" "$kd/${f##*/}" || cp "$f" "$kd/"
	done
	kmake "$test_tree" "$test_bd" "$out/watch.log" -j"$JOBS" M="$kd" modules || return 1
	if grep -E 'warning:|WARNING:' "$out/watch.log"; then
		verdict FAIL users-patched:build "kref_async_watch.ko builds with warnings ($out/watch.log)"
	fi
	watch_ko=$kd/kref_async_watch.ko
}

# The mutant's edits: file, the line as the series has it, the line instead.
MUTATIONS=(
	"drivers/tty/tty_io.c|kref_async_defer_worker(&tty->release_node, release_one_tty);|release_one_tty(&tty->release_node);"
	"kernel/fork.c|kref_async_defer_worker(&mm->async_put_node, mmput_async_fn);|(void)mm;"
	"kernel/user_namespace.c|kref_async_defer(&ns->release_node, free_user_ns);|free_user_ns(&ns->release_node);"
)
# The watch checks each mutation must make fail.
MUTANT_FAILS="watch.tty-close watch.mm-rcu-callback watch.userns-close"

# mutate: apply MUTATIONS to $test_tree and rebuild the test kernel there.
mutate() {
	local m f from to
	for m in "${MUTATIONS[@]}"; do
		IFS='|' read -r f from to <<< "$m"
		replace_once "$test_tree/$f" "$from" "$to" || {
			verdict FAIL "users-mutant:apply" "$f has not exactly one '$from'"
			return 1
		}
	done
	log "building the mutant kernel in $test_bd"
	kmake "$test_tree" "$test_bd" "$out/mutant-build.log" -j"$JOBS" bzImage modules ||
		{ verdict FAIL "users-mutant:build" "the mutant does not build ($out/mutant-build.log)"; return 1; }
}

run() {
	local k=$1 rc=0 bd rd console boot_time qrc=0
	if [ "$k" = patched ] || [ "$k" = mutant ]; then
		test_kernel test "$out/$k-" || rc=$?
		bd=$test_bd
		if [ "$rc" = 0 ] && [ "$k" = mutant ]; then
			mutate || { ASSEMBLE_SUFFIX=-stress "$REPO/harness/assemble.sh" >/dev/null; return 1; }
		fi
	else
		base_kernel "$out/$k-" || rc=$?
		bd=$base_bd
	fi
	if [ "$rc" = 1 ]; then
		verdict FAIL "users-$k:config" "$config_error"
		return 1
	elif [ "$rc" != 0 ]; then
		verdict FAIL "users-$k:build" "kernel build failed ($out/$k-build.log)"
		return 1
	fi
	rd=$out/initramfs-$k
	rm -rf "$rd"
	mkdir -p "$rd/dev" "$rd/proc" "$rd/sys" "$rd/selftests"
	gcc -static -O2 -Wall -pthread -o "$rd/init" "$REPO/tests/users/users_init.c" \
		2>"$out/init.log" ||
		{ cat "$out/init.log"; verdict FAIL "users-$k:build" "/init does not build"; return 1; }
	if [ -s "$out/init.log" ]; then
		cat "$out/init.log"
		verdict FAIL "users-$k:build" "/init builds with warnings ($out/init.log)"
	fi
	cp "$sel"/* "$rd/selftests/"
	mv "$rd/selftests/list" "$rd/selftests.list"
	if [ "$k" != base ]; then
		build_watch || { verdict FAIL users-patched:build "kref_async_watch.ko does not build ($out/watch.log)"; return 1; }
		cp "$watch_ko" "$rd/"
	fi
	pack_initramfs "$rd" "$out/initramfs-$k.cpio.gz"

	log "booting the $k kernel (TCG, -smp $QEMU_SMP, timeout ${QEMU_TIMEOUT}s)"
	console=$out/$k.log
	SECONDS=0
	# (boot_guest adds no5lvl: see there.)
	boot_guest "$bd/arch/x86/boot/bzImage" "$out/initramfs-$k.cpio.gz" "$console" \
		'KTEST: DONE' 2G "console=ttyS0 panic=-1 oops=panic" || qrc=$?
	boot_time=$SECONDS
	tr -d '\r' < "$console" > "$out/$k.txt"
	if [ "$k" = mutant ]; then
		# Back to the series' tree: the next test_kernel rebuilds from it.
		ASSEMBLE_SUFFIX=-stress "$REPO/harness/assemble.sh" >/dev/null
		mutant_verdicts "$out/$k.txt"
		return
	fi
	while read -r _ v name detail; do
		verdict "$v" "users-$k:${name%:}" "$detail"
	done < <(grep -oE 'KTEST: (PASS|FAIL|SKIP) .*' "$out/$k.txt" || true)
	# What the selftests reached, counted by the watch module: for the
	# README, not a check.
	grep -oE 'USERS: .*' "$out/$k.txt" > "$out/$k-reached.txt" || true
	[ ! -s "$out/$k-reached.txt" ] || cat "$out/$k-reached.txt"
	if grep -q 'KTEST: DONE' "$out/$k.txt"; then
		verdict PASS "users-$k:boot" "ran to DONE in ${boot_time}s (qemu exit $qrc)"
	else
		echo "--- last 40 lines of $console:"
		tail -40 "$out/$k.txt"
		verdict FAIL "users-$k:boot" "no 'KTEST: DONE' after ${boot_time}s (qemu exit $qrc, 124 = timeout)"
	fi
	# The kernel's own lines only: the selftests' output is theirs.
	grep -E '^\[ *[0-9]+\.[0-9]+\]' "$out/$k.txt" > "$out/$k-kernel.log" || true
	if python3 "$REPO/harness/logscan.py" "$out/$k-kernel.log" > "$out/$k-logscan.txt"; then
		verdict PASS "users-$k:kernel-log" "clean ($console)"
	else
		cat "$out/$k-logscan.txt"
		verdict FAIL "users-$k:kernel-log" "unexpected reports in $console"
	fi
}

# mutant_verdicts CONSOLE: each of MUTANT_FAILS must have failed.
mutant_verdicts() {
	local c line
	grep -oE 'KTEST: (PASS|FAIL|SKIP) .*' "$1" | sed 's/^/    mutant: /' || true
	for c in $MUTANT_FAILS; do
		line=$(grep -oE "KTEST: (PASS|FAIL) $c[: ].*" "$1" | head -1)
		case $line in
		"KTEST: FAIL "*) verdict PASS "users-mutant:$c" "fails on the mutant: ${line#KTEST: FAIL $c: }" ;;
		"KTEST: PASS "*) verdict FAIL "users-mutant:$c" "still passes on the mutant: ${line#KTEST: PASS $c }" ;;
		*) verdict FAIL "users-mutant:$c" "did not run on the mutant ($1)" ;;
		esac
	done
}

for k in "${kernels[@]}"; do
	run "$k" || true
done
echo "users: console logs in $out"
[ "$fails" -eq 0 ]
