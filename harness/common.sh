# SPDX-License-Identifier: GPL-2.0-only
# Shared settings and helpers for the harness scripts.  Sourced, not run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kref-async}
JOBS=${JOBS:-$(nproc)}
# The base: Linux 7.3 (mainline as Debian ships it); BASE=6.12 is the
# checked LTS backport, which takes the patches of backport/6.12/ in place
# of those of patches/ with the same name.
export BASE=${BASE:-7.3}
case $BASE in
7.3|6.12) ;;
*) echo "error: BASE=$BASE: the series is kept for 7.3 (mainline) and 6.12 (backport)" >&2; exit 1 ;;
esac
BASE_PKG=linux-source-$BASE
# Installed with dpkg, the source is this tarball; otherwise deps.sh
# fetches the package with apt-get download into $BASE_DEBS.
BASE_TARBALL=/usr/src/$BASE_PKG.tar.xz
BASE_DEBS=$CACHE/base/debs
BACKPORT=$REPO/backport/$BASE
# RESULTS_SET names a separate set of results in the cache (make test-more).
RESULTS=${RESULTS:-$CACHE/${RESULTS_SET:-results}}
# Kernel builds take the whole machine: never run two at once.
BUILD_LOCK=${BUILD_LOCK:-/tmp/kref-async-build.lock}
# A script that already holds the lock (KREF_ASYNC_LOCKED) must not take
# it again: flock on a new descriptor would wait for itself.
locked() {
	if [ -n "${KREF_ASYNC_LOCKED:-}" ]; then
		"$@"
	else
		flock "$BUILD_LOCK" "$@"
	fi
}

die() { echo "error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

need() {
	local tool
	for tool; do
		command -v "$tool" >/dev/null 2>&1 ||
			die "missing tool '$tool' (run 'make deps' as root, or install it)"
	done
}

# kmake SRC BUILDDIR LOG ARGS...: an x86_64 make of a guest kernel (or a
# module with M=) under the build lock, output to LOG, whose last line
# says how long make itself ran (lock wait excluded) and how ccache fared.
kmake() {
	local src=$1 bd=$2 logf=$3 mk=(ARCH=x86_64) cc=gcc
	shift 3
	# KMAKE_LLVM=-19: build with Debian's clang-19 and its tools
	if [ -n "${KMAKE_LLVM:-}" ]; then
		mk+=("LLVM=$KMAKE_LLVM")
		cc=clang$KMAKE_LLVM
	fi
	command -v ccache >/dev/null && mk+=("CC=ccache $cc")
	locked bash -c '
		cstat() { command -v ccache >/dev/null &&
			ccache --print-stats 2>/dev/null | awk -v k="$1" "\$1 == k { print \$2 }"; }
		h0=$(cstat direct_cache_hit) p0=$(cstat preprocessed_cache_hit) m0=$(cstat cache_miss)
		SECONDS=0; make "$@"; rc=$?; t=$SECONDS
		h1=$(cstat direct_cache_hit) p1=$(cstat preprocessed_cache_hit) m1=$(cstat cache_miss)
		cc=
		[ -n "$h0" ] && cc=", ccache $(( h1 + p1 - h0 - p0 )) hits $(( m1 - m0 )) misses"
		echo "make ${*: -1}: ${t}s (exit $rc$cc)"; exit $rc' kmake \
		-C "$src" O="$bd" "${mk[@]}" "$@" >"$logf" 2>&1 || {
		tail -30 "$logf"
		return 1
	}
	log "$(tail -1 "$logf")"
}

# verdict PASS|FAIL NAME [DETAIL]: record a check, counting failures.
fails=0
verdict() {
	record "$@"
	[ "$1" != FAIL ] || fails=$((fails + 1))
}

# tinyconfig_kernel SRC BUILDDIR LOGPREFIX FRAGMENT...: configure BUILDDIR
# as tinyconfig plus the fragments, from scratch only when they changed
# (so builds stay incremental), then olddefconfig, which picks up Kconfig
# changes of the tree.  Every option the fragments set or unset, the last
# word on each winning, must come out as asked.  Logs go to
# LOGPREFIXconfig.log and LOGPREFIXolddefconfig.log.  On failure returns 1
# with the reason in $config_error.
config_error=
tinyconfig_kernel() {
	local src=$1 bd=$2 lp=$3 frag missing='' opt val
	shift 3
	mkdir -p "$bd" "$(dirname "${lp}x")"
	frag=${lp}fragment.config
	cat "$@" > "$frag"
	if [ ! -f "$bd/.config" ] || ! cmp -s "$frag" "$bd/.fragment.config"; then
		log "configuring $bd: tinyconfig + ${*#"$REPO"/}"
		rm -f "$bd/.fragment.config"
		kmake "$src" "$bd" "${lp}config.log" tinyconfig ||
			{ config_error="make tinyconfig failed (${lp}config.log)"; return 1; }
		"$src/scripts/kconfig/merge_config.sh" -m -O "$bd" "$bd/.config" "$@" \
			>>"${lp}config.log" 2>&1 ||
			{ config_error="merge_config.sh failed (${lp}config.log)"; return 1; }
	fi
	kmake "$src" "$bd" "${lp}olddefconfig.log" olddefconfig ||
		{ config_error="make olddefconfig failed (${lp}olddefconfig.log)"; return 1; }
	while read -r opt val; do
		if [ "$val" = n ]; then
			! grep -q "^$opt=" "$bd/.config" || missing="$missing $opt(=n)"
		else
			grep -qxF "$opt=$val" "$bd/.config" || missing="$missing $opt"
		fi
	done < <(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1 \2/p' \
			-e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1 n/p' "$frag" |
		 awk '{ v[$1] = $2; if (!($1 in o)) o[$1] = n++ }
		      END { for (k in v) print o[k], k, v[k] }' | sort -n | cut -d' ' -f2-)
	if [ -n "$missing" ]; then
		config_error="not as asked after olddefconfig:$missing (see $bd/.config)"
		return 1
	fi
	cp "$frag" "$bd/.fragment.config"
}

# test_kernel NAME LOGPREFIX [FRAGMENT...]: an x86_64 test kernel of the
# series (bzImage and in-tree modules) in $CACHE/build/NAME, tinyconfig
# plus the FRAGMENTs, by default TEST_FRAGMENTS: the one kernel that the
# kunit-x86_64, guest, stress and e2e (patched) steps all boot, built
# once.  It comes from a work tree of its own (ASSEMBLE_SUFFIX=-stress:
# mutate.sh puts a mutant in the shared one while 'make test' runs).
# Sets test_tree and test_bd; returns 1 with $config_error set if the
# configuration fails, 2 if the build does (log: LOGPREFIXbuild.log).
TEST_FRAGMENTS=("$REPO/harness/stress.config" "$REPO/harness/test-kunit.config"
		"$REPO/harness/e2e.config" "$REPO/harness/users.config")
test_tree= test_bd=
test_kernel() {
	local name=$1 lp=$2
	shift 2
	[ $# -gt 0 ] || set -- "${TEST_FRAGMENTS[@]}"
	test_tree=$(ASSEMBLE_SUFFIX=-stress "$REPO/harness/assemble.sh") ||
		{ config_error="the series does not assemble"; return 1; }
	test_bd=$CACHE/build/$name$(build_suffix)
	tinyconfig_kernel "$test_tree" "$test_bd" "$lp" "$@" || return 1
	log "building the $name kernel in $test_bd"
	kmake "$test_tree" "$test_bd" "${lp}build.log" -j"$JOBS" \
		bzImage modules_prepare modules || return 2
}

# flavour FLAVOUR: set up the build of a flavour of the test kernel that
# 'make stress' builds besides it, in $CACHE/build/test-FLAVOUR: sets
# FLAVOUR_FRAGMENTS to its config fragments and exports what its builds
# need.  rt is PREEMPT_RT; kmsan is KMSAN instead of KASAN, no KVM, built
# with Debian's clang-19 (KMAKE_LLVM=-19).
# shellcheck disable=SC2034 # used by kunit.sh and stress.sh
FLAVOUR_FRAGMENTS=()
flavour() {
	case $1 in
	rt)	FLAVOUR_FRAGMENTS=("${TEST_FRAGMENTS[@]}" "$REPO/harness/rt.config") ;;
	kmsan)	FLAVOUR_FRAGMENTS=("$REPO/harness/stress.config"
				   "$REPO/harness/test-kunit.config"
				   "$REPO/harness/kmsan.config")
		export KMAKE_LLVM=-19 ;;
	*)	die "no test kernel flavour '$1'" ;;
	esac
}

# uapi_headers LOG: the base's uapi headers, which the guests' programs
# are built against (Debian 12's are 6.1's), in $CACHE/build/uapi-hdr/include.
# Sets uapi_hdr.
uapi_hdr=
uapi_headers() {
	local base
	base=$(base_dir)
	uapi_hdr=$CACHE/build/uapi-hdr
	log "installing the base's uapi headers in $uapi_hdr"
	locked make -s -C "$base" O="$uapi_hdr/build" ARCH=x86_64 \
		INSTALL_HDR_PATH="$uapi_hdr" headers_install >"$1" 2>&1 ||
		die "make headers_install of $base failed ($1)"
}

# base_kernel LOGPREFIX: the unpatched base kernel that the e2e and
# users guests boot (e2e.sh base, users.sh base), tinyconfig plus
# BASE_FRAGMENTS (lockdep, no KASAN), bzImage and modules, in
# $CACHE/build/e2e-base.  Sets base_bd; returns as test_kernel does.
BASE_FRAGMENTS=("$REPO/harness/e2e.config" "$REPO/harness/users.config")
base_bd=
base_kernel() {
	local lp=$1 src
	src=$(base_dir)
	base_bd=$CACHE/build/e2e-base
	tinyconfig_kernel "$src" "$base_bd" "$lp" "${BASE_FRAGMENTS[@]}" || return 1
	log "building the base kernel in $base_bd from $src"
	kmake "$src" "$base_bd" "${lp}build.log" -j"$JOBS" bzImage modules || return 2
}

# replace_once FILE OLD NEW: replace the one occurrence of OLD in FILE
# (a mutant's edit); fails, changing nothing, unless OLD occurs once.
replace_once() {
	python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
PY
}

# pack_initramfs DIR FILE: DIR, with the /dev/console that the kernel
# opens for /init before devtmpfs is mounted, as a gzipped cpio archive.
pack_initramfs() {
	mkdir -p "$1/dev"
	mknod "$1/dev/console" c 5 1 2>/dev/null || true
	(cd "$1" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) |
		gzip -9 > "$2"
}

# boot_guest KERNEL INITRD CONSOLE DONE-REGEX MEM APPEND [CPU]
# Boot an x86_64 guest in QEMU under TCG with -smp 2 (QEMU_SMP: another
# count of vCPUs; never -accel kvm: it
# hangs on the machines this runs on), its console to CONSOLE.  /init
# powers off after printing a line matching DONE-REGEX; if that fails the
# guest is stopped 60 s later rather than waiting out QEMU_TIMEOUT (600 s),
# which caps the whole boot.  Returns QEMU's (or timeout's) exit status.
boot_guest() {
	local kernel=$1 initrd=$2 console=$3 done_re=$4 mem=$5 append=$6
	local cpu=${7:-max} qpid done_at= qrc=0

	# no5lvl: with -cpu max's 5-level paging, KASAN kernels of the 7.3.4
	# base code sometimes take a KASAN wild-memory-access in
	# handle_edge_irq() during identify_cpu() in start_kernel(), before
	# any initcall (seen 2026-12-01 in one boot in four with 17 vCPUs,
	# and with 2 vCPUs in the guest and stress-hotplug boots); boots
	# with 4-level paging have not shown it.
	timeout "${QEMU_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg \
		-cpu "$cpu" -smp "${QEMU_SMP:-2}" -m "$mem" -nographic -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "$append no5lvl" \
		</dev/null >"$console" 2>&1 &
	qpid=$!
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 2
		if [ -z "$done_at" ] && grep -q "$done_re" "$console"; then
			done_at=$SECONDS
		fi
		if [ -n "$done_at" ] && [ $((SECONDS - done_at)) -gt 60 ]; then
			log "the guest finished but did not power off: stopping it"
			kill "$qpid" 2>/dev/null || true
			break
		fi
	done
	wait "$qpid" || qrc=$?
	return $qrc
}

# Record one check's verdict for the summary line.
record() {	# record PASS|FAIL|SKIP name [detail]
	mkdir -p "$RESULTS"
	printf '%s %s %s\n' "$1" "$2" "${3:-}" >> "$RESULTS/checks"
	case $1 in
	PASS) echo "  ok   $2 ${3:-}" ;;
	FAIL) echo "  FAIL $2 ${3:-}" ;;
	SKIP) echo "  skip $2 ${3:-}" ;;
	esac
}

# The pristine base tree: $KDIR if given, else Debian's linux-source-$BASE
# extracted once into the cache.  Prints its path.
base_dir() {
	if [ -n "${KDIR:-}" ]; then
		[ -f "$KDIR/Makefile" ] && [ -d "$KDIR/kernel" ] ||
			die "KDIR=$KDIR is not a kernel source tree"
		(cd "$KDIR" && pwd)
		return
	fi
	local dir=$CACHE/base/$BASE_PKG deb ver
	if [ ! -f "$dir/.kref-async-extracted" ]; then
		"$REPO/harness/deps.sh" base >&2
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		if [ -f "$BASE_TARBALL" ]; then
			log "extracting $BASE_TARBALL"
			tar -xf "$BASE_TARBALL" -C "$dir.tmp" --strip-components=1 ||
				die "cannot extract $BASE_TARBALL"
			ver=$(dpkg-query -W -f '${Version}' "$BASE_PKG" 2>/dev/null) || ver=unknown
		else
			deb=$(base_deb) || die "no $BASE_PKG package in $BASE_DEBS"
			log "extracting $BASE_TARBALL from $deb"
			if ! dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$BASE_TARBALL" |
				tar -xJ -C "$dir.tmp" --strip-components=1; then
				# A damaged download: fetch it again next time.
				rm -f "$deb"
				die "cannot extract $BASE_TARBALL from $deb (removed; run again to download it anew)"
			fi
			ver=$(dpkg-deb -f "$deb" Version)
		fi
		echo "$ver" > "$dir.tmp/.kref-async-extracted"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

# The newest downloaded package of the base, if any.
base_deb() {
	local deb
	deb=$(ls "$BASE_DEBS/${BASE_PKG}_"*_all.deb 2>/dev/null | sort -V | tail -1) || true
	[ -n "$deb" ] && echo "$deb"
}

# "7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)" or the KDIR's.
base_version() {
	local dir=$1 v
	v=$(make -s -C "$dir" kernelversion 2>/dev/null) || v=unknown
	if [ -f "$dir/.kref-async-extracted" ]; then
		echo "$v (Debian $BASE_PKG $(cat "$dir/.kref-async-extracted"))"
	else
		echo "$v (KDIR=$dir)"
	fi
}

# A cache key for a base tree: the same KDIR maps to the same work tree.
base_key() {
	if [ -n "${KDIR:-}" ]; then
		echo "kdir-$(echo "$1 $BASE" | md5sum | cut -c1-8)"
	else
		echo "debian-$BASE"
	fi
}

# Build directories of the backport leg get their own names.
build_suffix() { [ "$BASE" = 7.3 ] || echo "-$BASE"; }

tree_dir() { echo "$CACHE/tree/$(base_key "$1")"; }

# The series: "patch-file added-file..." per line, in order.
series_lines() {
	grep -v '^[[:space:]]*\(#\|$\)' "$REPO/patches/series"
}

# The file of series entry PATCH for this base: backport/$BASE/PATCH if
# the backport has one, else patches/PATCH.
patch_file() {
	if [ -f "$BACKPORT/$1" ]; then
		echo "$BACKPORT/$1"
	else
		echo "$REPO/patches/$1"
	fi
}
