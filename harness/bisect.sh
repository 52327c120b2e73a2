#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Bisectability: after each series commit, the objects touched so far
# must build on x86_64 and s390.  Uses its own tree and build dirs, so the
# main ones stay incremental.
. "$(dirname "$0")/common.sh"

total=$(series_lines | wc -l)
rc=0
for arch in x86_64 s390; do
	for n in $(seq 1 "$total"); do
		patch=$(series_lines | sed -n "${n}p" | cut -d' ' -f1)
		tree=$(ASSEMBLE_SUFFIX=-bisect "$REPO/harness/assemble.sh" "$n") || {
			record FAIL "bisect-$arch:${patch:0:4}" "does not assemble"; rc=1; continue; }
		QUICK=1 LABEL="bisect-$arch$(build_suffix):${patch:0:4}" \
			BUILD_NAME="bisect-$arch$(build_suffix)" \
			"$REPO/harness/compile.sh" "$arch" "$tree" || rc=1
	done
done
exit $rc
