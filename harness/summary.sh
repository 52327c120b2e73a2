#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Print the verdicts recorded by the checks of this run, grouped, and the
# closing 'N passed, N failed, N skipped' line.  Exits 1 if any failed.
. "$(dirname "$0")/common.sh"

checks=$RESULTS/checks
[ -s "$checks" ] || { echo "0 passed, 1 failed (no check recorded a verdict)"; exit 1; }
echo
echo "=== kref_async on $(base_version "$(base_dir)")"
grep -q ' [a-z0-9_-]*-6\.12:' "$checks" &&
	echo "    6.12 backport (*-6.12 checks) on $(BASE=6.12 base_version "$(BASE=6.12 base_dir)")"
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
