#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark kref_put_async() in an x86_64 QEMU guest (TCG, -smp 2): a
# non-debug tinyconfig kernel built -O2 (tinyconfig + harness/bench.config,
# built in $CACHE/build/bench), the module tests/bench/kref_async_bench.c and the
# static /init tests/bench/bench_init.c.  All variants are measured in the
# same boot, interleaved round by round, so that drift shows as spread.
# Prints a table of medians and min/max per variant and writes
# $CACHE/out/bench/bench.json.  Not part of 'make test': timings on a
# shared TCG machine are figures to read, not checks to pass.
#
#   bench.sh
#
# ROUNDS (11) sets the number of rounds; QEMU_TIMEOUT caps the boot
# (600 s).  Every make of the kernel or the module holds $BUILD_LOCK.
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock qemu-system-x86_64 python3

ROUNDS=${ROUNDS:-11}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-600}
src=$REPO/tests/bench
frag=$REPO/harness/bench.config
bd=$CACHE/build/bench
kd=$CACHE/build/bench-kmod
out=$CACHE/out/bench
start=$SECONDS


# A work tree of its own: harness/mutate.sh edits the shared one in
# place while 'make test' runs, and a benchmark of the mutant measures
# nothing.
tree=$(ASSEMBLE_SUFFIX=-bench "$REPO/harness/assemble.sh")
base=$(base_dir)

# run_pass BD KD OUT CMDLINE FRAGMENT...: build the kernel in BD and the
# module in KD, boot them with /init, leave the whole BENCH records of
# the console in OUT/raw.txt.  Sets build_time and boot_time.
run_pass() {
	local bd=$1 kd=$2 out=$3 append=$4 t0=$SECONDS rd console qrc=0 bad f
	shift 4
	mkdir -p "$bd" "$kd" "$out"
	tinyconfig_kernel "$tree" "$bd" "$out/" "$@" || die "bench config: $config_error"

	log "building the bench kernel in $bd"
	kmake "$tree" "$bd" "$out/build.log" -j"$JOBS" bzImage modules_prepare modules ||
		die "kernel build failed ($out/build.log)"

	for f in "$src"/Kbuild "$src"/kref_async_bench.[ch]; do
		cmp -s "$f" "$kd/${f##*/}" || cp "$f" "$kd/"
	done
	log "building the benchmark module"
	kmake "$tree" "$bd" "$out/kmod.log" -j"$JOBS" M="$kd" modules || die "module build failed ($out/kmod.log)"
	! grep -E 'warning:|WARNING:' "$out/kmod.log" || die "the benchmark module builds with warnings"

	log "building /init"
	rd=$out/initramfs
	rm -rf "$rd"
	mkdir -p "$rd/dev" "$rd/proc" "$rd/sys"
	gcc -static -O2 -Wall -Werror -I"$src" -I"$REPO/tests" -o "$rd/init" "$src/bench_init.c" ||
		die "/init does not build"
	cp "$kd/kref_async_bench.ko" "$rd/"
	pack_initramfs "$rd" "$out/initramfs.cpio.gz"
	build_time=$((SECONDS - t0))

	log "booting the bench guest (TCG, -smp 2, $append, timeout ${QEMU_TIMEOUT}s)"
	console=$out/console.log
	t0=$SECONDS
	boot_guest "$bd/arch/x86/boot/bzImage" "$out/initramfs.cpio.gz" "$console" \
		'BENCH: \(DONE\|ERROR\)' 1G \
		"console=ttyS0 panic=-1 oops=panic printk.devkmsg=on $append" || qrc=$?
	boot_time=$((SECONDS - t0))

	tr -d '\r' < "$console" > "$out/console.txt"
	if ! grep -q 'BENCH: DONE' "$out/console.txt" ||
			grep -qE 'BENCH: ERROR|Kernel panic|BUG:|WARNING:|Oops' "$out/console.txt"; then
		echo "--- last 40 lines of $console:"
		tail -40 "$out/console.txt"
		die "bench guest: no clean 'BENCH: DONE' after ${boot_time}s (qemu exit $qrc, 124 = timeout)"
	fi

	# Every figure is one printk record: "[time] [module: ]BENCH: key round
	# value".  A line that holds BENCH: but is not one whole record means
	# the console mixed two records, and its figures cannot be trusted.
	sed -nE 's/^(\[ *[0-9.]+\] )?([a-z_]+: )?(BENCH: [^ ]+ [0-9]+ [^ ]+)$/\3/p' \
		"$out/console.txt" > "$out/raw.txt"
	bad=$(grep 'BENCH: ' "$out/console.txt" | grep -vcE '^(\[ *[0-9.]+\] )?([a-z_]+: )?BENCH: ([^ ]+ [0-9]+ [^ ]+|DONE)$' || true)
	[ "$bad" = 0 ] || die "bench guest: $bad console line(s) hold a BENCH record that is not whole (see $out/console.txt)"
}

run_pass "$bd" "$kd" "$out" "bench_rounds=$ROUNDS" "$frag"
console=$out/console.log
main_build=$build_time main_boot=$boot_time

# The release maps' cost with CONFIG_PROVE_RELEASE_MAPS on: the same
# module's non-final puts in a lockdep kernel (harness/bench-lockdep.config),
# where kref_put_mapped() adds a lockdep acquire and release per put.
lockdep_raw=
if [ "${BENCH_LOCKDEP:-1}" != 0 ]; then
	run_pass "$CACHE/build/bench-lockdep" "$CACHE/build/bench-lockdep-kmod" "$out/lockdep" \
		"bench_rounds=$ROUNDS bench_only=nonfinal" "$frag" "$REPO/harness/bench-lockdep.config"
	lockdep_raw=$out/lockdep/raw.txt
fi
python3 - "$out/raw.txt" "$out/bench.json" "$(base_version "$base")" \
	"$(nproc)" "$main_boot" "$main_build" "$bd/.config" "$lockdep_raw" <<'PY'
import json, statistics, sys, datetime

raw, jpath, base, nproc, boot_time, build_time, config, lockdep_raw = sys.argv[1:]
def parse(path):
    fig = {}
    for line in open(path):
        _, key, rnd, val = line.split()
        if key in ("DONE",):
            continue
        fig.setdefault(key, {})[int(rnd)] = val
    return fig
fig = parse(raw)

def nums(key):
    return [float(v) for _, v in sorted(fig.get(key, {}).items())]

def stats(key):
    v = nums(key)
    if not v:
        return None
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return {"median": statistics.median(v), "min": min(v), "max": max(v),
            "q1": q[0], "q3": q[2], "n": len(v), "rounds": v}

summary = {k: stats(k) for k in sorted(fig)
           if all(c not in k for c in ("tw_before", "tw_same", "tw_unlocked"))}
checks = {}
for k in sorted(fig):
    if k.startswith(("tw_before", "tw_same", "tw_unlocked")):
        ok = sum(int(v.split("/")[0]) for v in fig[k].values())
        tot = sum(int(v.split("/")[1]) for v in fig[k].values())
        checks[k] = {"ok": ok, "total": tot}

def med(k):
    s = summary.get(k)
    return s["median"] if s else None

def ratio(a, b):
    a, b = med(a), med(b)
    return a / b if a is not None and b else None

# Ratios of medians, and the per-round ratios' range (same-round pairs).
def round_ratios(a, b):
    A, B = fig.get(a, {}), fig.get(b, {})
    return [float(A[r]) / float(B[r]) for r in sorted(A) if r in B and float(B[r])]

goals = {
    "nonfinal_put_ratio": (ratio("nonfinal_ns.kref_put_async", "nonfinal_ns.kref_put"),
                           "<=", 1.05, ("nonfinal_ns.kref_put_async", "nonfinal_ns.kref_put")),
    # The final put's caller side is the batch timed with no release
    # running anywhere until it is done (final_local_ns: preemption off,
    # on the unbound workqueues' only CPU), as queue_work()'s batch and
    # the floor's are: one kick, then 1999 pushes onto a stack that no
    # drain takes meanwhile.  In the preempt-off batch the drains release
    # on the other vCPU while the puts are timed, and queue_work()'s items
    # do not; in the preemptible one either may run inside the batch.
    "final_put_ratio_vs_work": (ratio("final_local_ns.async", "final_local_ns.work"), "<=", 0.5,
                                ("final_local_ns.async", "final_local_ns.work")),
    # against a non-final kref_get() + kref_put() pair, the issue's unit:
    # a final put's floor is refcount_dec_and_test() plus the cmpxchg that
    # publishes the node, with preemption off (final_local_ns.floor)
    "final_put_ratio_vs_put": (ratio("final_local_ns.async", "nonfinal_ns.kref_put"), "<=", 3,
                               ("final_local_ns.async", "nonfinal_ns.kref_put")),
    "drain_ratio_vs_work_2cpu": (ratio("drain2_ops.async", "drain2_ops.work"), ">=", 2,
                                 ("drain2_ops.async", "drain2_ops.work")),
    "bytes_per_object": (med("bytes.kref_async_node"), "<=", 32, None),
    # short releases queued behind a 100 ms one must not wait for it
    "head_of_line_p99_ms": (med("hol_p99_ns.async") / 1e6 if med("hol_p99_ns.async") is not None else None,
                            "<", 100, None),
}
res = {
    "base_version": base,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "nproc": int(nproc),
    "guest": "QEMU x86_64 TCG -cpu max -smp 2, tinyconfig + harness/bench.config",
    "rounds": int(med("rounds") or 0),
    "boot_seconds": int(boot_time),
    "build_seconds": int(build_time),
    "goals": {}, "figures": summary, "task_work_checks": checks,
}
debug = [l.strip() for l in open(config)
         if l.startswith(("CONFIG_DEBUG_KERNEL=", "CONFIG_PROVE_LOCKING=",
                          "CONFIG_LOCKDEP=", "CONFIG_KASAN=", "CONFIG_HZ=",
                          "CONFIG_PREEMPT", "CONFIG_DEBUG_ATOMIC_SLEEP=",
                          "CONFIG_CC_OPTIMIZE_FOR_"))]
res["kernel_config"] = debug
# The local batch is what the goals read only if no drain took any of it
# before it was done: one kick for the whole batch in every round.
local_kicks = nums("final_local_objs_per_kick.async")
local_whole = sum(1 for v in local_kicks if v == 2000)
res["local_batch_rounds_whole"], res["local_batch_rounds"] = local_whole, len(local_kicks)
local_goals = ("final_put_ratio_vs_put", "final_put_ratio_vs_work")
ok_all = True
for name, (val, op, tgt, pair) in goals.items():
    if name in local_goals and (not local_kicks or local_whole != len(local_kicks)):
        val = None
    cmp = {"<=": val.__le__, "<": val.__lt__, ">=": val.__ge__} if val is not None else {}
    met = None if val is None else bool(cmp[op](tgt))
    g = {"value": val, "goal": f"{op} {tgt}", "met": met}
    if pair:
        rr = round_ratios(*pair)
        if rr:
            g["per_round_min"], g["per_round_max"] = min(rr), max(rr)
    res["goals"][name] = g
    res[name] = val
# Differences of medians, no target: what a deferral costs per operation.
def diff(a, b):
    a, b = med(a), med(b)
    return a - b if a is not None and b is not None else None
p50_net = diff("final_each_p50_ns.async", "clock_p50_ns")
res["derived"] = {
    # a final put deferred with task_work, against the same put released
    # synchronously, both inside an ioctl from a user task
    "tw_deferral_ns": diff("tw_put_ns.async", "tw_put_ns.sync"),
    # close(2) whose fput() is the last (deferred __fput()) against one
    # that is not: fput()'s own deferral plus __fput()'s work, for scale
    "close_final_extra_ns": diff("close_ns.final", "close_ns.nonfinal"),
    # CONFIG_PROVE_RELEASE_MAPS off: kref_put_mapped() is kref_put()'s code
    # (harness/e2e.sh's code-unchanged check shows it for kvm_put_kvm());
    # its ratio shows the noise of this figure
    "mapped_put_ratio_option_off": ratio("nonfinal_ns.kref_put_mapped", "nonfinal_ns.kref_put"),
    # the final put's floor measured two more ways: each put timed alone
    # (the median put, without the few that kick a drain or are preempted
    # by the host), and against a non-final kref_put() without its get
    "final_put_p50_ratio_vs_put": ratio("final_each_p50_ns.async", "nonfinal_ns.kref_put"),
    "final_put_ratio_vs_put_alone": ratio("final_ns.async", "put_only_ns.kref_put"),
    # each put's p50 less what reading the clock around it adds
    "final_put_p50_net_ratio_vs_put": (
        p50_net / med("nonfinal_ns.kref_put")
        if p50_net is not None and med("nonfinal_ns.kref_put") else None),
    # the batch timed with preemption off, as the non-final puts are: a
    # drain woken on the putting CPU cannot run inside the batch's time,
    # but one woken on the other vCPU does
    "final_put_ratio_vs_put_preempt_off": ratio("final_nopreempt_ns.async", "nonfinal_ns.kref_put"),
    "final_put_ratio_vs_work_preempt_off": ratio("final_nopreempt_ns.async", "final_nopreempt_ns.work"),
    # the same ratios on the preemptible batch, the goals' figure before
    # final_local_ns existed
    "final_put_ratio_vs_put_preemptible": ratio("final_ns.async", "nonfinal_ns.kref_put"),
    "final_put_ratio_vs_work_preemptible": ratio("final_ns.async", "final_ns.work"),
    # the floor itself, inline and with the push out of line as the final
    # put's is, against the pair; and the final put against that floor
    "floor_ratio_vs_put": ratio("final_local_ns.floor", "nonfinal_ns.kref_put"),
    "floor_call_ratio_vs_put": ratio("final_local_ns.floor_call", "nonfinal_ns.kref_put"),
    "final_put_ratio_vs_floor_call": ratio("final_local_ns.async", "final_local_ns.floor_call"),
    # the local batch split at its first put: the 1999 puts that ride on
    # the batch, per put, against the pair and beside the floor's, and the
    # first put, which kicks the drain, against one queue_work() of an
    # idle item on the same queue (the floor's first put, which kicks
    # nothing, shows what a first put costs by itself); what the first put
    # adds to each put of the 2000-put batch over a riding put
    "final_put_rest_ratio_vs_put": ratio("final_local_rest_ns.async", "nonfinal_ns.kref_put"),
    "floor_call_rest_ratio_vs_put": ratio("final_local_rest_ns.floor_call", "nonfinal_ns.kref_put"),
    "final_put_first_ratio_vs_queue_work": ratio("final_local_first_ns.async",
                                                 "final_local_first_ns.queue_work_dfl"),
    "final_put_first_extra_ns": (
        (med("final_local_first_ns.async") - med("final_local_rest_ns.async")) / 2000
        if med("final_local_first_ns.async") is not None
        and med("final_local_rest_ns.async") is not None else None),
}
# The converted users, each old deferral against its replacement, in the
# same rounds: caller side of a final put (final_ns, lower is better) and
# releases per second from two CPUs (drain2_ops, higher is better).
res["users"] = {
    user: {
        "old": old, "new": new,
        "final_ns_old": med("final_ns." + old), "final_ns_new": med("final_ns." + new),
        "final_ratio_new_to_old": ratio("final_ns." + new, "final_ns." + old),
        "drain2_ops_old": med("drain2_ops." + old), "drain2_ops_new": med("drain2_ops." + new),
        "drain2_ratio_new_to_old": ratio("drain2_ops." + new, "drain2_ops." + old),
    }
    # tty_kref_put() is kref_put() and then kref_async_defer_worker(), mm
    # an atomic_t and kref_async_defer_worker(), userns kref_async_defer():
    # from the bench's kthread all three take the worker path, as "defer"
    for user, old, new in (("tty", "work", "defer"), ("mm", "mm_old", "defer"),
                           ("userns", "userns_old", "defer"))
}
# The lockdep pass: the release map's cost with the option on.
if lockdep_raw:
    lfig = parse(lockdep_raw)
    lmed = {k: statistics.median([float(v) for v in lfig[k].values()])
            for k in lfig if k.startswith("nonfinal_ns.")}
    res["lockdep_pass"] = {
        "guest": "the same, plus harness/bench-lockdep.config (PROVE_LOCKING, PROVE_RELEASE_MAPS)",
        "nonfinal_ns": lmed,
    }
    if lmed.get("nonfinal_ns.kref_put"):
        res["derived"]["mapped_put_ratio_option_on"] = \
            lmed.get("nonfinal_ns.kref_put_mapped", 0) / lmed["nonfinal_ns.kref_put"]
        res["derived"]["mapped_put_extra_ns_option_on"] = \
            lmed.get("nonfinal_ns.kref_put_mapped", 0) - lmed["nonfinal_ns.kref_put"]
json.dump(res, open(jpath, "w"), indent=1)

def fmt(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.0f}"

print(f"kref_put_async benchmark: {base}, {res['rounds']} rounds interleaved, "
      f"QEMU TCG -smp 2 on a {nproc}-CPU host")
print(f"{'figure':42} {'median':>12} {'min':>12} {'max':>12} {'IQR':>12}")
groups = ["bytes.", "nonfinal_ns.", "put_only_ns.", "final_ns.", "final_objs_per_kick", "final_nopreempt_", "final_local_", "final_each_", "clock_", "drain1_ops.", "drain2_ops.",
          "lat_wq_p50", "lat_wq_p99", "lat_tw_", "hol_", "tw_put_ns", "close_ns"]
for g in groups:
    for k in sorted(summary):
        if not k.startswith(g) or summary[k] is None:
            continue
        s = summary[k]
        print(f"{k:42} {fmt(s['median']):>12} {fmt(s['min']):>12} "
              f"{fmt(s['max']):>12} {fmt(s['q3'] - s['q1']):>12}")
for k, c in checks.items():
    print(f"{k:42} {c['ok']}/{c['total']}")
print()
print(f"{'goal':28} {'value':>9} {'target':>8} {'per-round range':>18}  verdict")
for name, g in res["goals"].items():
    rng = (f"{g['per_round_min']:.3f}..{g['per_round_max']:.3f}"
           if "per_round_min" in g else "")
    verdict = {True: "met", False: "NOT met", None: "no data"}[g["met"]]
    print(f"{name:28} {fmt(g['value']):>9} {g['goal']:>8} {rng:>18}  {verdict}")
print()
for name, v in res["derived"].items():
    unit = ("(ratio of medians)" if "ratio" in name else
            "ns per put of the batch ((first - rest) / 2000, medians)" if name == "final_put_first_extra_ns" else
            "ns per operation (difference of medians)")
    print(f"{name:32} {fmt(v):>9} {unit}")
print()
print(f"{'user (old -> new)':26} {'final ns old':>12} {'new':>8} {'ratio':>6} {'drain2/s old':>13} {'new':>9} {'ratio':>6}")
for user, u in res["users"].items():
    print(f"{user + ' (' + u['old'] + ' -> ' + u['new'] + ')':26} {fmt(u['final_ns_old']):>12} "
          f"{fmt(u['final_ns_new']):>8} {fmt(u['final_ratio_new_to_old']):>6} "
          f"{fmt(u['drain2_ops_old']):>13} {fmt(u['drain2_ops_new']):>9} {fmt(u['drain2_ratio_new_to_old']):>6}")
if "lockdep_pass" in res:
    print("lockdep pass, non-final put: " + ", ".join(
        f"{k.split('.')[1]} {v:.0f} ns" for k, v in sorted(res["lockdep_pass"]["nonfinal_ns"].items())))
if res["local_batch_rounds_whole"] != res["local_batch_rounds"]:
    print(f"note: in {res['local_batch_rounds'] - res['local_batch_rounds_whole']} of "
          f"{res['local_batch_rounds']} rounds a drain took part of the local batch "
          "before it was done (final_local_objs_per_kick.async below 2000): "
          "the final-put goals have no value")
bad = [k for k, c in checks.items() if c["ok"] != c["total"]]
if bad:
    print("task_work path: FAILED " + ", ".join(bad))
    sys.exit(2)
PY
echo "bench: $out/bench.json (console $console; build ${build_time}s, boot ${boot_time}s, total $((SECONDS - start))s)"
