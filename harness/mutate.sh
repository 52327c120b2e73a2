#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Prove the KUnit suite tests what it claims: rebuild the UML kernel with
# one property of lib/kref_async.c broken at a time (the release run
# synchronously, one drain per CPU, one list per CPU, no NMI guard), or
# the release map's put annotation of include/linux/release_map.h
# removed, and check that the cases that exist to catch each now fail.
# The assembled tree is restored on exit (and by the next assemble.sh).
. "$(dirname "$0")/common.sh"
need python3

# The shared work tree carries the mutant while this runs: hold the build
# lock throughout, so that no other build compiles it.
if [ -z "${KREF_ASYNC_LOCKED:-}" ]; then
	exec env KREF_ASYNC_LOCKED=1 flock "$BUILD_LOCK" "$0" "$@"
fi

tree=$("$REPO/harness/assemble.sh")
bd=$CACHE/build/kunit-um$(build_suffix)
out=$CACHE/out/mutation$(build_suffix)
mkdir -p "$out" "$RESULTS"
trap '"$REPO/harness/assemble.sh" >/dev/null 2>&1 || true' EXIT
cc_opt=()
command -v ccache >/dev/null && cc_opt=(--make_options="CC=ccache gcc")

# mutant NAME WHAT FILE LINE-REGEX SED-EXPRESSION CASES...: rebuild with
# the line of FILE (a path in the tree) that LINE-REGEX matches changed by
# SED-EXPRESSION, and check that each of CASES now fails.  A case is a
# kref_async case without its kref_async_test_ prefix, or a whole name.
mutant() {
	local name=$1 what=$2 file=$3 line=$4 edit=$5 src
	shift 5
	src=$tree/$file
	"$REPO/harness/assemble.sh" >/dev/null
	grep -q "$line" "$src" ||
		die "mutation point of $name not found in $src; update harness/mutate.sh"
	sed -i "$edit" "$src"
	! cmp -s "$src" "$REPO/$file" || die "mutant $name changed nothing"

	rm -f "$out/$name.json"
	(cd "$tree" && locked python3 tools/testing/kunit/kunit.py run \
		--build_dir="$bd" --kunitconfig=tools/testing/kunit/configs/kref_async.config \
		--jobs="$JOBS" --json="$out/$name.json" --timeout=900 \
		"${cc_opt[@]}" \
		--kconfig_add CONFIG_KASAN=y --kconfig_add CONFIG_KASAN_VMALLOC=n) \
		> "$out/$name.log" 2>&1 || true
	[ -s "$out/$name.json" ] || { tail -20 "$out/$name.log"; record FAIL "mutation:$name" "build failed, see $out/$name.log"; return 1; }

	python3 - "$out/$name.json" "$RESULTS/checks" "$name" "$what" "$@" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
checks, mutant, what, expect = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
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
        st = status.get(name, status.get("kref_async_test_" + name, "MISSING"))
        ok = st == "FAIL"
        rc |= not ok
        f.write(f"{'PASS' if ok else 'FAIL'} mutation:{mutant}:{name} {what} -> {st}\n")
        print(f"  {'ok  ' if ok else 'FAIL'} mutation:{mutant}:{name}: {what}: the case reports {st}")
    passed = sorted(n for n, s in status.items() if s == "PASS")
    print(f"  ({mutant}: still passing: " + ", ".join(p.replace("kref_async_test_", "") for p in passed) + ")")
sys.exit(rc)
PY
}

rc=0
# The feature removed: the release runs in the putter's context.
mutant synchronous "release run synchronously" lib/kref_async.c \
	'^	if (!worker_only && kref_async_task_work_ok(task, task_ctx)) {$' \
	's/^\(\tif (!worker_only && kref_async_task_work_ok(task, task_ctx)) {\)$/\tkref_async_run(\&node->twork, kref, KREF_ASYNC_BATCH_PIN);\n\treturn;\n\n\1/' \
	group_lock_chain worker_drains spinlock_irqs_off hardirq softirq \
	batching chain flush_waits worker_only || rc=1
# One drain per CPU: a blocked release holds back every later one.
mutant one-drain "one drain per CPU" lib/kref_async.c \
	'find_first_zero_bit(&kc->busy, KREF_ASYNC_DRAINS);$' \
	's/find_first_zero_bit(&kc->busy, KREF_ASYNC_DRAINS);$/0;/' \
	slow_release || rc=1
# One list per CPU: interrupts push the list of puts from tasks, and wait
# behind its drains.
mutant one-list "interrupts push the tasks' list" lib/kref_async.c \
	'kc = this_cpu_ptr(&kref_async_cpus\[KREF_ASYNC_IRQ_STACK\]);$' \
	's/this_cpu_ptr(&kref_async_cpus\[KREF_ASYNC_IRQ_STACK\]);$/this_cpu_ptr(\&kref_async_cpus[KREF_ASYNC_TASK_STACK]);/' \
	irq_list || rc=1
# No NMI guard: the put takes the drains' lock and queues work in NMI.
mutant nmi "NMI not refused" lib/kref_async.c \
	'WARN_ON_ONCE(in_nmi()) ||$' \
	's/ WARN_ON_ONCE(in_nmi()) ||$//' \
	nmi_refused || rc=1
# The release map's put annotation gone: lockdep learns nothing at a put
# that is not the last.
mutant release-map "release_map_might_run() does nothing" include/linux/release_map.h \
	'^		lock_release(&__rm->dep_map, _THIS_IP_);		\\$' \
	'/^#define release_map_might_run(map)	*\\$/,/^	} while (0)$/{/lock_acquire_exclusive\|release_map_subclass(__rm), 0,\|NULL, _THIS_IP_);\|lock_release(&__rm/d}' \
	release_map_test_nonfinal_put || rc=1
exit $rc
