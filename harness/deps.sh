#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Install what the harness needs from Debian's archive.
#   deps.sh base     - the base kernel source (linux-source-$BASE, 7.3 by
#                      default), fetched with apt-get download, which
#                      installs nothing; for 7.3 the trixie-backports
#                      suite is added to apt's sources with pin priority 1
#                      (two files under /etc/apt, named kref-async-*)
#   deps.sh build    - compilers and kernel build tools (UML, x86_64)
#   deps.sh all      - everything the test command uses (s390, QEMU, lint)
#   deps.sh kmsan    - Debian 12's clang-19 for the KMSAN kernel of
#                      'make stress' (in the bookworm suites)
# Only packages that are missing are installed; needs root for that.
. "$(dirname "$0")/common.sh"

pkgs_build="build-essential flex bison bc libelf-dev libssl-dev python3 ccache
	    cpio kmod rsync patch git xz-utils"
pkgs_all="$pkgs_build sparse qemu-system-x86 gcc-s390x-linux-gnu
	  gcc-aarch64-linux-gnu python3-sphinx python3-yaml libcap-dev"
# The KMSAN kernel of 'make stress': 7.3 needs LLVM 17.0.1 or later.
pkgs_kmsan="clang-19 lld-19 llvm-19"

# linux-source-7.3 is in trixie-backports, which Debian 12 does not list.
# The suite is added with pin priority 1: apt then installs nothing from
# it unless asked by name, and 'apt-get download' takes the one package.
BPO_LIST=/etc/apt/sources.list.d/kref-async-trixie-backports.sources
BPO_PIN=/etc/apt/preferences.d/kref-async-trixie-backports

apt_as_root() {
	[ "$(id -u)" = 0 ] ||
		die "$*: needs root (run 'make deps' as root once, or use KDIR=/path/to/linux)"
}

fetch_base() {
	[ -f "$BASE_TARBALL" ] && return
	[ -n "$(base_deb)" ] && return
	export DEBIAN_FRONTEND=noninteractive
	mkdir -p "$BASE_DEBS"
	if ! apt-cache show "$BASE_PKG" >/dev/null 2>&1; then
		apt_as_root "adding trixie-backports to apt's sources for $BASE_PKG"
		if [ ! -f "$BPO_LIST" ]; then
			log "adding trixie-backports (pin priority 1) to apt's sources"
			cat > "$BPO_LIST" <<-EOT
			Types: deb
			URIs: http://deb.debian.org/debian
			Suites: trixie-backports
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
			EOT
			cat > "$BPO_PIN" <<-EOT
			Package: *
			Pin: release n=trixie-backports
			Pin-Priority: 1
			EOT
		fi
		apt-get update -q >"$CACHE.apt.log" 2>&1 ||
			{ tail -20 "$CACHE.apt.log" >&2; die "apt-get update failed"; }
		apt-cache show "$BASE_PKG" >/dev/null 2>&1 ||
			die "$BASE_PKG is not in any suite apt knows (see $CACHE.apt.log)"
	fi
	log "downloading $BASE_PKG"
	if ! (cd "$BASE_DEBS" && apt-get download -q "$BASE_PKG") >"$CACHE.apt.log" 2>&1; then
		# Stale lists name a version the archive no longer has.
		apt_as_root "apt-get download $BASE_PKG failed; updating apt's lists"
		apt-get update -q >>"$CACHE.apt.log" 2>&1 || true
		(cd "$BASE_DEBS" && apt-get download -q "$BASE_PKG") >>"$CACHE.apt.log" 2>&1 ||
			{ tail -20 "$CACHE.apt.log" >&2; die "apt-get download $BASE_PKG failed"; }
	fi
	[ -n "$(base_deb)" ] || die "apt-get download left no $BASE_PKG package in $BASE_DEBS"
}

install_missing() {
	local p missing=
	for p; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return
	[ "$(id -u)" = 0 ] ||
		die "missing Debian packages:$missing; install them as root (apt-get install$missing)"
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends $missing >"$CACHE.apt.log" 2>&1; then
		apt-get update -q >>"$CACHE.apt.log" 2>&1 || true
		apt-get install -y -q --no-install-recommends $missing >>"$CACHE.apt.log" 2>&1 ||
			{ tail -20 "$CACHE.apt.log" >&2; die "apt-get could not install:$missing"; }
	fi
}

mkdir -p "$CACHE"
case ${1:-all} in
base) install_missing xz-utils ;;
build) install_missing $pkgs_build ;;
all) install_missing $pkgs_all ;;
kmsan) install_missing $pkgs_kmsan ;;
*) die "usage: deps.sh base|build|all|kmsan" ;;
esac
# A KDIR needs no Debian source.
[ -n "${KDIR:-}" ] || fetch_base
