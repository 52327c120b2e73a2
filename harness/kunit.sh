#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run the kref_async KUnit suite.
#   kunit.sh um       - User Mode Linux through tools/testing/kunit/kunit.py,
#                       lockdep + debugobjects + KASAN
#   kunit.sh x86_64   - the x86_64 test kernel (common.sh's test_kernel:
#                       lockdep, KASAN, debugobjects, tracepoints, PREEMPT,
#                       shared with the guest, stress and e2e steps), in QEMU
#                       TCG -smp 2 with tests/kunit/kunit_init.c as /init,
#                       which loads the suite as a module; its KTAP report
#                       is parsed with "kunit.py parse"
#   kunit.sh x86_64-rt, x86_64-kmsan
#                     - the same on the PREEMPT_RT and KMSAN flavours of
#                       that kernel (common.sh's flavour), in
#                       $CACHE/build/test-rt and test-kmsan ('make stress')
# Each test case is recorded as a check, plus one for a clean kernel log.
. "$(dirname "$0")/common.sh"
need python3 make gcc flex bison bc

arch=${1:-um}
name=kunit-$arch$(build_suffix)
out=$CACHE/out/$name
mkdir -p "$out"
rm -f "$out/results.json" "$out/kernel.log"
rc=0

case $arch in
um)
	tree=$("$REPO/harness/assemble.sh")
	bd=$CACHE/build/$name
	mkdir -p "$bd"
	args=(--build_dir="$bd" --kunitconfig=tools/testing/kunit/configs/kref_async.config
	      --jobs="$JOBS" --json="$out/results.json" --timeout=900
	      --kconfig_add CONFIG_KASAN=y --kconfig_add CONFIG_KASAN_VMALLOC=n)
	command -v ccache >/dev/null && args+=(--make_options="CC=ccache gcc")
	log "kunit.py run ($arch) on $(base_version "$(base_dir)")"
	(cd "$tree" && locked python3 tools/testing/kunit/kunit.py run "${args[@]}") \
		> "$out/kunit.log" 2>&1 || rc=$?
	cp -f "$bd/test.log" "$out/kernel.log" 2>/dev/null || true
	;;
x86_64|x86_64-rt|x86_64-kmsan)
	need qemu-system-x86_64 cpio gzip
	if [ "$arch" = x86_64 ]; then
		test_kernel test "$out/" || rc=$?
	else
		fl=${arch#x86_64-}
		flavour "$fl"
		test_kernel "test-$fl" "$out/" "${FLAVOUR_FRAGMENTS[@]}" || rc=$?
	fi
	if [ "$rc" != 0 ]; then
		record FAIL "$name" "the test kernel: ${config_error:-build failed ($out/build.log)}"
		exit 1
	fi
	tree=$test_tree
	rd=$out/initramfs
	rm -rf "$rd"
	mkdir -p "$rd/dev" "$rd/proc" "$rd/sys"
	gcc -static -O2 -Wall -Wextra -Werror -o "$rd/init" \
		"$REPO/tests/kunit/kunit_init.c" > "$out/init.log" 2>&1 || {
		cat "$out/init.log"
		record FAIL "$name" "tests/kunit/kunit_init.c does not build"
		exit 1
	}
	cp "$test_bd/lib/test_kref_async.ko" "$rd/"
	pack_initramfs "$rd" "$out/initramfs.cpio.gz"
	log "booting the suite on $(base_version "$(base_dir)") (TCG, -smp 2)"
	QEMU_TIMEOUT=${QEMU_TIMEOUT:-900} boot_guest "$test_bd/arch/x86/boot/bzImage" \
		"$out/initramfs.cpio.gz" "$out/console.log" 'KUNIT-INIT: DONE' 1G \
		"console=ttyS0 panic=-1" || rc=$?
	tr -d '\r' < "$out/console.log" > "$out/kernel.log"
	grep 'KUNIT-INIT: ' "$out/kernel.log" || true
	# kunit.py parse reads the first KTAP report, and the built-in
	# executor prints an empty one at boot: keep the module's, the last.
	# A record whose printing an emergency message (a WARN on the other
	# CPU) cut short is printed again whole after "** replaying previous
	# printk message **": drop the cut copy, which would parse as a
	# result of its own (a test named "kref_async_test_get_unless_").
	python3 - "$out/kernel.log" > "$out/ktap.log" <<'PY'
import re, sys
MARK = "** replaying previous printk message **"
DROPPED = re.compile(r"\*\* [0-9]+ printk messages dropped \*\*")
TS = re.compile(r"\[ *[0-9]+\.[0-9]+\]")
lines = open(sys.argv[1], errors="replace").read().split("\n")
out = []
for i, line in enumerate(lines):
    if MARK not in line:
        out.append(line)
        continue
    cut = line.split(MARK)[0]
    # The record replayed: the first line with a timestamp after the
    # marker (a "messages dropped" line may come first).
    whole = next((l for l in lines[i + 1:i + 4]
                  if TS.match(l) and not DROPPED.search(l)), None)
    if whole is None:
        out.append(line)
        continue
    if cut.strip():
        # The cut copy shares the marker's line: keep what it is not.
        if not whole.startswith(cut):
            out.append(cut)
        continue
    # The cut copy, if the takeover came after its first byte, is one of
    # the last lines before: a beginning of the record replayed.
    for j in range(len(out) - 1, max(len(out) - 4, -1), -1):
        if TS.match(out[j]) and whole.startswith(out[j]):
            del out[j]
            break
starts = [i for i, line in enumerate(out)
          if re.fullmatch(r"\[ *[0-9.]+\] KTAP version 1", line)]
if starts:
    print("\n".join(out[starts[-1]:]))
PY
	python3 "$tree/tools/testing/kunit/kunit.py" parse --json="$out/results.json" \
		"$out/ktap.log" > "$out/kunit.log" 2>&1 || rc=$?
	;;
*) die "usage: kunit.sh um|x86_64|x86_64-rt|x86_64-kmsan" ;;
esac

grep -E '^\[..:..:..\] (=|\[|Testing complete|Elapsed)|error|Error' "$out/kunit.log" |
	grep -v '^\[..:..:..\] \[PASSED\]' | tail -40 || true
if [ ! -s "$out/results.json" ] || [ ! -s "$out/kernel.log" ]; then
	tail -30 "$out/kunit.log"
	record FAIL "$name" "the suite did not run (exit $rc, log $out/kunit.log)"
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
