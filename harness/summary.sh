#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Print the verdicts recorded by the checks of this run, grouped, and the
# closing 'N passed, N failed, N skipped' line.  Exits 1 if any failed.
. "$(dirname "$0")/common.sh"

checks=$RESULTS/checks
[ -s "$checks" ] || { echo "0 passed, 1 failed (no check recorded a verdict)"; exit 1; }
echo
# The base of each leg, computed in a shell of its own: common.sh fixes
# the base when it is sourced.
version_of() {
	BASE=$1 bash -c '. "$1/harness/common.sh"; base_version "$(base_dir)"' _ "$REPO"
}
if grep -qv ' [a-z0-9_-]*-6\.12:' "$checks"; then
	echo "=== kref_async on $(version_of 7.3)"
fi
if grep -q ' [a-z0-9_-]*-6\.12:' "$checks"; then
	echo "=== 6.12 backport (the *-6.12 checks) on $(version_of 6.12)"
fi
awk '{ split($2, g, ":"); n[g[1]]++; s[g[1], $1]++ }
     END { for (k in n) printf "  %-28s %4d passed %4d failed %4d skipped\n",
			k, s[k, "PASS"], s[k, "FAIL"], s[k, "SKIP"] }' "$checks" | sort
if grep -q '^FAIL' "$checks"; then
	echo "  failed:"
	grep '^FAIL' "$checks" | sed 's/^FAIL /    /'
fi
p=$(grep -c '^PASS' "$checks" || true)
f=$(grep -c '^FAIL' "$checks" || true)
s=$(grep -c '^SKIP' "$checks" || true)
line="$p passed, $f failed"
[ "$s" -gt 0 ] && line="$line, $s skipped"
echo "$line" > "$RESULTS/summary"
echo "$line"
[ "$f" -eq 0 ]
