#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Compile-test what the series touches, with W=1 and sparse (C=1):
#   compile.sh x86_64 | s390 | arm64 [tree]
# Configures defconfig plus the options the series touches, runs
# 'make prepare', then builds only the objects of files the series adds
# or edits.  A warning in a touched file fails the check unless the
# unpatched base prints the same warning (base warnings are computed once
# per base and config, and cached).
. "$(dirname "$0")/common.sh"
need make gcc sparse flex bison bc

arch=${1:-x86_64}
tree=${2:-$("$REPO/harness/assemble.sh")}
base=$(base_dir)
label=${LABEL:-compile-$arch$(build_suffix)}
# QUICK=1: does it build at all (bisect.sh): no W=1/C=1, no base run.
quick=${QUICK:-0}

case $arch in
x86_64)
	mk=(ARCH=x86_64)
	# KVM_AMD_SEV and what it depends on: arch/x86/kvm/svm/sev.c
	opts="KVM KVM_AMD KVM_INTEL VFIO VFIO_GROUP VFIO_CONTAINER VFIO_MDEV
	      DRM_I915 DRM_I915_GVT_KVMGT KUNIT KREF_ASYNC_KUNIT_TEST MODULES
	      CRYPTO_HW CRYPTO_DEV_CCP CRYPTO_DEV_CCP_DD IOMMU_SUPPORT AMD_IOMMU
	      CRYPTO_DEV_SP_PSP KVM_AMD_SEV USER_NS"
	;;
s390)
	need s390x-linux-gnu-gcc
	mk=(ARCH=s390 CROSS_COMPILE=s390x-linux-gnu-)
	opts="KVM VFIO VFIO_AP VFIO_PCI VFIO_PCI_ZDEV_KVM ZCRYPT PCI
	      KUNIT KREF_ASYNC_KUNIT_TEST MODULES USER_NS"
	;;
arm64)
	# Only KVM's stage-2 ptdump files, which the debugfs patch touches.
	need aarch64-linux-gnu-gcc
	mk=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
	opts="KVM DEBUG_KERNEL DEBUG_FS PTDUMP_STAGE2_DEBUGFS VFIO
	      KUNIT KREF_ASYNC_KUNIT_TEST MODULES USER_NS"
	;;
*) die "usage: compile.sh x86_64|s390|arm64 [tree]" ;;
esac
cc=gcc
[ "$arch" = s390 ] && cc=s390x-linux-gnu-gcc
[ "$arch" = arm64 ] && cc=aarch64-linux-gnu-gcc
command -v ccache >/dev/null && mk+=("CC=ccache $cc")

# Objects to build: every .c the series adds or edits that this arch
# compiles, plus the users of every header it edits (harness/objects).
touched=$(sort -u "$tree/.kref-async-files")
objs=()
for f in $touched; do
	mapped=$(awk -v a="$arch" -v f="$f" '$1 == a && $2 == f { print $3 }' "$REPO/harness/objects")
	if [ -n "$mapped" ]; then
		# Objects of another base's layout (6.12 or 7.3) are skipped.
		for o in $mapped; do
			[ "$o" = - ] || [ ! -f "$tree/${o%.o}.c" ] || objs+=("$o")
		done
	elif [ "${f%.c}" != "$f" ]; then
		objs+=("${f%.c}.o")
	fi
done
[ ${#objs[@]} -gt 0 ] || die "no objects to build for $arch"

configure() {	# configure SRC BUILD
	local src=$1 bd=$2 o missing=
	mkdir -p "$bd"
	if [ ! -f "$bd/.config" ]; then
		make -s -C "$src" O="$bd" "${mk[@]}" defconfig >/dev/null
	fi
	for o in $opts; do
		"$src/scripts/config" --file "$bd/.config" --enable "$o"
	done
	"$src/scripts/config" --file "$bd/.config" --module KREF_ASYNC_KUNIT_TEST
	make -s -C "$src" O="$bd" "${mk[@]}" olddefconfig >/dev/null
	for o in $opts; do
		[ "$o" = KREF_ASYNC_KUNIT_TEST ] && ! grep -q "config KREF_ASYNC_KUNIT_TEST" "$src/lib/Kconfig.debug" && continue
		grep -q "^CONFIG_$o=[ym]" "$bd/.config" || missing="$missing $o"
	done
	[ -z "$missing" ] || die "$arch config: could not enable$missing (see $bd/.config)"
	locked make -s -C "$src" O="$bd" "${mk[@]}" -j"$JOBS" prepare >"$bd/prepare.log" 2>&1 ||
		{ tail -20 "$bd/prepare.log"; die "$arch: make prepare failed ($bd/prepare.log)"; }
}

build() {	# build SRC BUILD LOG objs...: warnings in touched files -> LOG
	local src=$1 bd=$2 logf=$3 rc=0
	shift 3
	# Rebuild the objects so that their warnings are printed again.
	for o; do rm -f "$bd/$o"; done
	local extra=(W=1 C=1)
	[ "$quick" = 1 ] && extra=()
	locked make -C "$src" O="$bd" "${mk[@]}" -j"$JOBS" "${extra[@]}" "$@" >"$logf.full" 2>&1 || rc=$?
	grep -E '(warning|error):' "$logf.full" |
		sed -E "s@^($src|$bd|\.\./[^ ]*)/@@; s@^[^ :]*/($(echo $touched | tr ' ' '|')):@\1:@" |
		grep -E "^($(echo $touched | tr ' ' '|')):" |
		sed -E 's/^([^:]*):[0-9]+:[0-9]+:/\1:/' | sort -u > "$logf" || true
	return $rc
}

bd=$CACHE/build/${BUILD_NAME:-$label}
log "$arch: configure + prepare in $bd"
configure "$tree" "$bd"
rc=0
build "$tree" "$bd" "$bd/warnings" "${objs[@]}" || rc=$?
if [ $rc -ne 0 ]; then
	grep -E 'error|Error' "$bd/warnings.full" | head -20
	record FAIL "$label:build" "build failed ($bd/warnings.full)"
	exit 1
fi
if [ "$quick" = 1 ]; then
	record PASS "$label:build" "${objs[*]}"
	exit 0
fi

# What the unpatched base prints for the same objects (those it has).
bb=$CACHE/build/$label-base
key=$(echo "$base ${objs[*]} $opts" | md5sum | cut -c1-12)
if [ ! -f "$bb/warnings.$key" ]; then
	bobjs=()
	for o in "${objs[@]}"; do
		[ -f "$base/${o%.o}.c" ] && bobjs+=("$o")
	done
	mkdir -p "$bb"
	: > "$bb/warnings.$key"
	if [ ${#bobjs[@]} -gt 0 ]; then
		log "$arch: base warnings for ${bobjs[*]}"
		configure "$base" "$bb"
		build "$base" "$bb" "$bb/warnings.$key" "${bobjs[@]}" || true
	fi
fi
new=$(comm -23 "$bd/warnings" "$bb/warnings.$key")
for o in "${objs[@]}"; do
	if [ -n "$(echo "$new" | grep "^${o%.o}\.")" ]; then
		echo "$new" | grep "^${o%.o}\." | sed 's/^/    /'
		record FAIL "$label:$o" "new W=1/sparse warnings"
	else
		record PASS "$label:$o" "W=1 C=1 clean"
	fi
done
hdr=$(echo "$new" | grep -v '\.c:' || true)
if [ -n "$hdr" ]; then
	echo "$hdr" | sed 's/^/    /'
	record FAIL "$label:headers" "new warnings in touched headers"
	exit 1
fi
[ -z "$new" ]
