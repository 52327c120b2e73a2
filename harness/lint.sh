#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# checkpatch.pl --strict on every patch and added file, kernel-doc on the
# added sources, and the core-api htmldocs for the new page.  Any finding
# fails its check.
. "$(dirname "$0")/common.sh"
need perl

tree=${1:-$("$REPO/harness/assemble.sh")}
out=$CACHE/out/lint
mkdir -p "$out"
# UNKNOWN_COMMIT_ID: the base is a tarball with no upstream history to
# look ids up in; the ids the messages cite were checked upstream.
cp=("$tree/scripts/checkpatch.pl" --strict --no-tree --show-types --color=never
    --ignore MISSING_SIGN_OFF,UNKNOWN_COMMIT_ID)
rc=0
cd "$out"   # checkpatch leaves a camelcase cache in a git cwd

while read -r patch added; do
	if grep -q '^--- ' "$REPO/patches/$patch"; then
		if "${cp[@]}" -q "$REPO/patches/$patch" > "$out/$patch.txt" 2>&1; then
			record PASS "checkpatch:$patch"
		else
			sed 's/^/    /' "$out/$patch.txt"
			record FAIL "checkpatch:$patch"; rc=1
		fi
	fi
	for f in $added; do
		n=$(basename "$f")
		if "${cp[@]}" -q -f "$REPO/$f" > "$out/$n.checkpatch.txt" 2>&1; then
			record PASS "checkpatch:$f"
		else
			sed 's/^/    /' "$out/$n.checkpatch.txt"
			record FAIL "checkpatch:$f"; rc=1
		fi
		case $f in
		*.c|*.h)
			if "$tree/scripts/kernel-doc" -none -Wall "$REPO/$f" > "$out/$n.kdoc.txt" 2>&1 &&
			   [ ! -s "$out/$n.kdoc.txt" ]; then
				record PASS "kernel-doc:$f"
			else
				sed 's/^/    /' "$out/$n.kdoc.txt"
				record FAIL "kernel-doc:$f"; rc=1
			fi
			;;
		esac
	done
done < <(series_lines)
# The backports' patches: their edits of the added files included.
for p in "$REPO"/backport/*/*.patch; do
	[ -f "$p" ] || continue
	n=backport-$(basename "$(dirname "$p")")/$(basename "$p")
	mkdir -p "$out/$(dirname "$n")"
	if "${cp[@]}" -q "$p" > "$out/$n.txt" 2>&1; then
		record PASS "checkpatch:$n"
	else
		sed 's/^/    /' "$out/$n.txt"
		record FAIL "checkpatch:$n"; rc=1
	fi
done
exit $rc
