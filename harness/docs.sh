#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the core-api htmldocs and fail on any Sphinx or kernel-doc warning
# that names a file the series adds, or if the new page is missing.
. "$(dirname "$0")/common.sh"
need sphinx-build python3

tree=${1:-$("$REPO/harness/assemble.sh")}
bd=$CACHE/build/docs
out=$CACHE/out/docs
mkdir -p "$bd" "$out"
rc=0
locked make -C "$tree" O="$bd" SPHINXDIRS=core-api SPHINXOPTS=-E htmldocs > "$out/htmldocs.log" 2>&1 || rc=$?
page=$bd/Documentation/output/core-api/kref_async.html
# Every file the series adds, and every reference to the new page, has
# kref_async in its name; the base's own warnings do not.
if grep -E "(WARNING|ERROR|warning|error)" "$out/htmldocs.log" | grep -i kref_async > "$out/ours.txt"; then
	sed 's/^/    /' "$out/ours.txt"
	record FAIL docs:htmldocs "warnings in the series' files ($out/htmldocs.log)"
	exit 1
fi
if [ $rc -ne 0 ] || [ ! -f "$page" ]; then
	tail -20 "$out/htmldocs.log"
	record FAIL docs:htmldocs "htmldocs failed or $page missing"
	exit 1
fi
missing=
for sym in kref_put_async kref_async_defer kref_async_flush kref_async_node_init kref_async_node; do
	grep -q "$sym" "$page" || missing="$missing $sym"
done
if [ -n "$missing" ]; then
	record FAIL docs:htmldocs "kref_async.html lacks the kernel-doc of:$missing"
	exit 1
fi
record PASS docs:htmldocs "core-api/kref_async.html, no warning in the series' files"
