#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Install what the harness needs from Debian's archive.
#   deps.sh base     - the base kernel source (linux-source-6.12)
#   deps.sh build    - compilers and kernel build tools (UML, x86_64)
#   deps.sh all      - everything the test command uses (s390, QEMU, lint)
# Only packages that are missing are installed; needs root for that.
. "$(dirname "$0")/common.sh"

pkgs_base="$BASE_PKG xz-utils"
pkgs_build="build-essential flex bison bc libelf-dev libssl-dev python3 ccache
	    cpio kmod rsync patch git"
pkgs_all="$pkgs_build sparse qemu-system-x86 gcc-s390x-linux-gnu
	  python3-sphinx python3-yaml"

case ${1:-all} in
base) want=$pkgs_base ;;
build) want="$pkgs_base $pkgs_build" ;;
all) want="$pkgs_base $pkgs_all" ;;
*) die "usage: deps.sh base|build|all" ;;
esac

mkdir -p "$CACHE"
missing=
for p in $want; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
check_tarball() {
	[ -f "$BASE_TARBALL" ] ||
		die "$BASE_PKG is installed but $BASE_TARBALL is missing"
}
[ -z "$missing" ] && { check_tarball; exit 0; }

[ "$(id -u)" = 0 ] ||
	die "missing Debian packages:$missing; install them as root (apt-get install$missing)"
log "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $missing >"$CACHE.apt.log" 2>&1; then
	apt-get update -q >>"$CACHE.apt.log" 2>&1 || true
	apt-get install -y -q --no-install-recommends $missing >>"$CACHE.apt.log" 2>&1 ||
		{ tail -20 "$CACHE.apt.log" >&2; die "apt-get could not install:$missing"; }
fi
check_tarball
