#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Prove the KUnit suite tests the deferral: rebuild the UML kernel with
# kref_async_queue() calling the release synchronously (the feature
# removed) and check that the cases that exist to catch that now fail.
# The assembled tree is restored on exit (and by the next assemble.sh).
. "$(dirname "$0")/common.sh"
need python3

# The shared work tree carries the mutant while this runs: hold the build
# lock throughout, so that no other build compiles it.
if [ -z "${KREF_ASYNC_LOCKED:-}" ]; then
	exec env KREF_ASYNC_LOCKED=1 flock "$BUILD_LOCK" "$0" "$@"
fi

# Cases that must fail once the release runs in the putter's context.
expect="group_lock_chain worker_drains spinlock_irqs_off hardirq softirq
	batching chain flush_waits"

tree=$("$REPO/harness/assemble.sh")
src=$tree/lib/kref_async.c
bd=$CACHE/build/kunit-um$(build_suffix)
out=$CACHE/out/mutation$(build_suffix)
mkdir -p "$out"
trap '"$REPO/harness/assemble.sh" >/dev/null 2>&1 || true' EXIT

grep -q '^	if (in_interrupt() || (task->flags & PF_KTHREAD))$' "$src" ||
	die "mutation point not found in $src; update harness/mutate.sh"
sed -i 's/^\(\tif (in_interrupt() || (task->flags \& PF_KTHREAD))\)$/\tkref_async_run(\&node->twork, kref, false);\n\treturn;\n\n\1/' "$src"

rm -f "$out/results.json"
cc_opt=()
command -v ccache >/dev/null && cc_opt=(--make_options="CC=ccache gcc")
(cd "$tree" && locked python3 tools/testing/kunit/kunit.py run \
	--build_dir="$bd" --kunitconfig=tools/testing/kunit/configs/kref_async.config \
	--jobs="$JOBS" --json="$out/results.json" --timeout=900 \
	"${cc_opt[@]}" \
	--kconfig_add CONFIG_KASAN=y --kconfig_add CONFIG_KASAN_VMALLOC=n) \
	> "$out/kunit.log" 2>&1 || true
[ -s "$out/results.json" ] || { tail -20 "$out/kunit.log"; record FAIL mutation:build "see $out/kunit.log"; exit 1; }

mkdir -p "$RESULTS"
python3 - "$out/results.json" "$RESULTS/checks" $expect <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
checks, expect = sys.argv[2], sys.argv[3:]
status = {}
def walk(g):
    for c in g.get("test_cases", []):
        status[c["name"]] = c["status"]
    for s in g.get("sub_groups", []):
        walk(s)
walk(data)
rc = 0
with open(checks, "a") as f:
    for name in expect:
        st = status.get("kref_async_test_" + name, "MISSING")
        ok = st == "FAIL"
        rc |= not ok
        f.write(f"{'PASS' if ok else 'FAIL'} mutation:{name} synchronous release -> {st}\n")
        print(f"  {'ok  ' if ok else 'FAIL'} mutation:{name}: with the release synchronous the case reports {st}")
    passed = sorted(n for n, s in status.items() if s == "PASS")
    print("  (still passing without deferral: " + ", ".join(p.replace("kref_async_test_", "") for p in passed) + ")")
sys.exit(rc)
PY
