#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Assemble the patched tree: the pristine base, plus the repo's added
# files at their kernel paths, plus patches/ applied in series order.
#
#   assemble.sh [N]   - apply the first N series entries (default: all)
#
# The work tree is a copy of the base kept in the cache and updated in
# place: only files whose content changes are rewritten, so out-of-tree
# builds stay incremental.  Prints the tree's path on stdout.
. "$(dirname "$0")/common.sh"
need patch tar cmp

upto=${1:-9999}
base=$(base_dir)
tree=$(tree_dir "$base")${ASSEMBLE_SUFFIX:-}
stamp=$tree/.kref-async-base

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$base" ]; then
	log "copying base $base -> $tree"
	rm -rf "$tree"
	mkdir -p "$(dirname "$tree")"
	cp -a "$base" "$tree.tmp"
	rm -f "$tree.tmp/.kref-async-extracted" "$tree.tmp/.kref-async-files"
	echo "$base" > "$tree.tmp/.kref-async-base"
	mv "$tree.tmp" "$tree"
fi

# Build the touched files in a small staging tree first, so that a patch
# that does not apply leaves the work tree as it was.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
files=$stage/.files
: > "$files"
n=0
while read -r patch added; do
	n=$((n + 1))
	[ "$n" -le "$upto" ] || break
	p=$(patch_file "$patch")
	[ -f "$p" ] || die "patches/series names $patch, which does not exist"
	for f in $added; do
		[ -f "$REPO/$f" ] || die "patches/series: $patch adds $f, which is not in the repo"
		mkdir -p "$stage/$(dirname "$f")"
		cp "$REPO/$f" "$stage/$f"
		echo "$f" >> "$files"
	done
	for f in $(sed -n 's@^+++ b/\([^[:space:]]*\).*@\1@p' "$p"); do
		grep -qxF "$f" "$files" && continue
		mkdir -p "$stage/$(dirname "$f")"
		[ -f "$base/$f" ] && cp "$base/$f" "$stage/$f"
		echo "$f" >> "$files"
	done
	grep -q '^--- ' "$p" || continue
	if ! out=$(cd "$stage" && patch -p1 -N -F"${FUZZ:-0}" --no-backup-if-mismatch \
			-r "$stage/.rej" < "$p" 2>&1); then
		echo "$out" >&2
		echo "--- rejected hunks of $patch:" >&2
		cat "$stage/.rej" >&2 2>/dev/null || true
		die "patch $patch does not apply to $(base_version "$base")"
	fi
	if echo "$out" | grep -q 'with fuzz\|offset'; then
		echo "$patch: $out" | grep 'fuzz\|offset' >&2
	fi
done < <(series_lines)

# Sync the staging tree into the work tree, content-wise.
changed=0
while read -r f; do
	if ! cmp -s "$stage/$f" "$tree/$f"; then
		mkdir -p "$(dirname "$tree/$f")"
		cp "$stage/$f" "$tree/$f"
		changed=$((changed + 1))
	fi
done < "$files"
# Files an earlier run touched that this one does not: back to the base.
if [ -f "$tree/.kref-async-files" ]; then
	while read -r f; do
		grep -qxF "$f" "$files" && continue
		if [ -f "$base/$f" ]; then
			cmp -s "$base/$f" "$tree/$f" || cp -p "$base/$f" "$tree/$f"
		else
			rm -f "$tree/$f"
		fi
		changed=$((changed + 1))
	done < "$tree/.kref-async-files"
fi
sort -u "$files" > "$tree/.kref-async-files"
log "assembled $(base_version "$base") + $((n > upto ? upto : n)) series entries in $tree ($changed files updated)"
echo "$tree"
