#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run the kref_async KUnit suite through tools/testing/kunit/kunit.py.
#   kunit.sh um       - User Mode Linux, lockdep + debugobjects + KASAN
#   kunit.sh x86_64   - QEMU x86_64 under TCG, -smp 2, lockdep + tracing
# Each test case is recorded as a check, plus one for a clean kernel log.
. "$(dirname "$0")/common.sh"
need python3 make gcc flex bison bc

arch=${1:-um}
tree=$("$REPO/harness/assemble.sh")
name=kunit-$arch$(build_suffix)
bd=$CACHE/build/$name
out=$CACHE/out/$name
mkdir -p "$bd" "$out"
kunitconfig=tools/testing/kunit/configs/kref_async.config
args=(--build_dir="$bd" --kunitconfig="$kunitconfig" --jobs="$JOBS"
      --json="$out/results.json" --timeout=900)
command -v ccache >/dev/null && args+=(--make_options="CC=ccache gcc")

case $arch in
um)
	args+=(--kconfig_add CONFIG_KASAN=y --kconfig_add CONFIG_KASAN_VMALLOC=n)
	;;
x86_64)
	need qemu-system-x86_64
	# TCG only: -accel kvm hangs on the machines this runs on.
	args+=(--arch=x86_64 --qemu_args="-smp 2 -accel tcg"
	       --kconfig_add CONFIG_SMP=y
	       --kconfig_add CONFIG_FTRACE=y
	       --kconfig_add CONFIG_ENABLE_DEFAULT_TRACERS=y)
	;;
*) die "usage: kunit.sh um|x86_64" ;;
esac

log "kunit.py run ($arch) on $(base_version "$(base_dir)")"
rc=0
(cd "$tree" && locked python3 tools/testing/kunit/kunit.py run "${args[@]}") \
	> "$out/kunit.log" 2>&1 || rc=$?
grep -E '^\[..:..:..\] (=|\[|Testing complete|Elapsed)|error|Error' "$out/kunit.log" |
	grep -v '^\[..:..:..\] \[PASSED\]' | tail -40 || true
cp -f "$bd/test.log" "$out/kernel.log" 2>/dev/null || true

if [ ! -s "$out/results.json" ] || [ ! -s "$out/kernel.log" ]; then
	tail -30 "$out/kunit.log"
	record FAIL "$name" "kunit.py failed before running tests (exit $rc, log $out/kunit.log)"
	exit 1
fi

mkdir -p "$RESULTS"
python3 - "$out/results.json" "$name" "$RESULTS/checks" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
name, checks = sys.argv[2], sys.argv[3]
rows = []
def walk(group, prefix):
    for case in group.get("test_cases", []):
        rows.append((prefix + case["name"], case["status"]))
    for sub in group.get("sub_groups", []):
        walk(sub, prefix + sub["name"] + ".")
walk(data, "")
with open(checks, "a") as f:
    for case, status in rows:
        verdict = {"PASS": "PASS", "SKIP": "SKIP"}.get(status, "FAIL")
        f.write(f"{verdict} {name}:{case} {status}\n")
        print(f"  {verdict:4} {name}:{case}")
if not rows:
    with open(checks, "a") as f:
        f.write(f"FAIL {name} no test case ran\n")
    print(f"  FAIL {name}: no test case ran")
PY
# Only what the suite provoked: the boot before it is the base's business.
if python3 "$REPO/harness/logscan.py" --from 'KTAP version' "$out/kernel.log" > "$out/logscan.txt"; then
	record PASS "$name:kernel-log" "clean ($out/kernel.log)"
else
	cat "$out/logscan.txt"
	record FAIL "$name:kernel-log" "unexpected reports in $out/kernel.log"
	rc=1
fi
echo "$name: kernel log $out/kernel.log"
exit $rc
