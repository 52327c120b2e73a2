#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Write the series as it would be mailed: git format-patch with a cover
# letter, per-patch To/Cc from scripts/get_maintainer.pl, no sign-off
# (SIGNOFF=1 adds the committer's, AUTHOR="Name <mail>" sets the author).
#   series.sh [outdir]     (default $CACHE/out/series)
# Then checks each patch with checkpatch.pl --strict and that the series
# applies with git am to the pristine base and gives the same tree.
. "$(dirname "$0")/common.sh"
need git perl

base=$(base_dir)
out=${1:-$CACHE/out/series}
g=$CACHE/git/$(base_key "$base")-series
AUTHOR=${AUTHOR:-kref_async series <kref-async@localhost>}
export GIT_AUTHOR_NAME=${AUTHOR% <*} GIT_AUTHOR_EMAIL=${AUTHOR##*<}
export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL%>}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
GIT_TREE=$g FORCE=1 "$REPO/harness/tree.sh" >/dev/null
rm -rf "$out"
mkdir -p "$out"

fp=(--cover-letter --no-signature --zero-commit -o "$out")
[ "${SIGNOFF:-0}" = 1 ] && fp+=(-s)
git -C "$g" format-patch -q "${fp[@]}" kref-async-base..kref-async-series

# Cover letter: our text, the latest test results, the base version.
cover=$out/0000-cover-letter.patch
# The checks are make test's, also when make test-more runs this step.
checks=$RESULTS/checks
[ -z "${RESULTS_SET:-}" ] || checks=$CACHE/results/checks
results="Tests: see the repository's README."
if [ -s "$checks" ]; then
	results="Tested on $(base_version "$base"): $(grep -c '^PASS' "$checks") passed, $(grep -c '^FAIL' "$checks") failed checks
($(cut -d' ' -f2 "$checks" | cut -d: -f1 | sort | uniq -c |
   awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')),
including the kref_async KUnit suite under UML and x86_64 QEMU with
lockdep, KASAN (UML) and debugobjects."
fi
e2e="(No end-to-end results yet: run 'make e2e' before 'make series'.)"
if [ -s "$CACHE/out/e2e/table.md" ]; then
	# The side-by-side table, its cells shortened to fit a mail, and the
	# chains found on each kernel, indented.
	e2e=$(python3 - "$CACHE/out/e2e/table.md" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
rows, rest = [], []
for i, l in enumerate(lines):
    if not l.startswith("|"):
        rest = lines[i:]
        break
    rows.append([c.strip() for c in l.strip("|").split("|")])
short = {"detector, option off": "det. off", "detector, option on": "det. on",
         "scenario / check": "check"}
def cell(c):
    c = short.get(c, c)
    c = re.sub(r"^PASS \(([0-9.]+ ms)\)$", r"PASS \1", c)
    c = re.sub(r"^PASS \(([0-9]+s)\)$", r"PASS", c)
    c = re.sub(r"^(present|absent): ([0-9]+) chains.*$", lambda m: "none" if m.group(2) == "0" else f"{m.group(2)} chains", c)
    c = re.sub(r"^BUG: kernel NULL pointer dereference.*$", "NULL deref Oops", c)
    c = {"refused (VM pins it)": "refused", "unloaded (the bug)": "unloaded (bug)",
         "VM destroyed, both modules unload": "VM gone"}.get(c, c)
    c = re.sub(r"^([0-9]+) unexpected report\(s\)$", r"\1 reports", c)
    return c
rows = [r for r in rows if not r[0].startswith(("build", "---", "-"))]
rows = [[cell(c) for c in r] for r in rows if not set(r[0]) <= set("-")]
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
rest = [l for l in rest]
cut = next((i for i, l in enumerate(rest) if l.startswith("Direct dependencies")), len(rest))
for l in rest[:cut]:
    print(("  " + l) if l else "")
PY
)
fi
bench="(No benchmark results yet: run 'make bench' before 'make series'.)"
if [ -s "$CACHE/out/bench/bench.json" ]; then
	bench=$(python3 - "$CACHE/out/bench/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = d["figures"]
m = lambda k: f[k]["median"] if k in f else float("nan")
print(f"Benchmarks on {d.get('base_version', 'an unrecorded base')} ({d['rounds']} interleaved rounds,")
opt = [{"PERFORMANCE=y": "built -O2", "SIZE=y": "built -Os"}.get(c.split("OPTIMIZE_FOR_")[1], c)
       for c in d.get("kernel_config", []) if c.startswith("CONFIG_CC_OPTIMIZE_FOR_")]
print(f"{d['guest']}, {opt[0] if opt else 'optimisation not recorded'}, {d['date'][:10]};")
print("medians; ns per put, objects released per second):")
print()
print("                           kref_put_async  kref_put  queue_work  sched_dwork(0)  call_rcu")
print(f"  non-final put             {m('nonfinal_ns.kref_put_async'):>10.1f}  {m('nonfinal_ns.kref_put'):>8.1f}")
print(f"  final put, preemptible    {m('final_ns.async'):>10.0f}            {m('final_ns.work'):>10.0f}  {m('final_ns.dwork0'):>14.0f}  {m('final_ns.rcu'):>8.0f}")
print(f"  final put, each alone, p50 {m('final_each_p50_ns.async'):>9.0f}            {m('final_each_p50_ns.work'):>10.0f}")
if 'final_nopreempt_ns.async' in f:
    print(f"  final put, preemption off {m('final_nopreempt_ns.async'):>10.0f}            {m('final_nopreempt_ns.work'):>10.0f}")
if 'final_local_ns.async' in f:
    print(f"  final put, nothing beside {m('final_local_ns.async'):>10.0f}            {m('final_local_ns.work'):>10.0f}")
    print(f"  the floor (atomic + preempt-off cmpxchg): {m('final_local_ns.floor'):.0f} inline, {m('final_local_ns.floor_call'):.0f} out of line")
    whole, rounds = d.get('local_batch_rounds_whole'), d.get('local_batch_rounds')
    print("  (nothing beside: preemption off on the unbound workqueues' only CPU; the")
    print(f"  final-put goals below read this row; one kick took the whole batch in {whole}")
    print(f"  of {rounds} rounds, so no release ran during it" +
          (")" if whole == rounds else " only in those)"))
    if 'final_local_rest_ns.async' in f:
        print(f"  that batch split: the 1999 puts riding on it, {m('final_local_rest_ns.async'):.0f} ns each (floor out of")
        print(f"  line {m('final_local_rest_ns.floor_call'):.0f}); the first put, which kicks the drain, {m('final_local_first_ns.async')/1e3:.1f} us, against")
        print(f"  {m('final_local_first_ns.queue_work_dfl')/1e3:.1f} us for one queue_work() of an idle item on system_dfl_wq")
print(f"  drain, 2 producers        {m('drain2_ops.async')/1e6:>9.2f}M            {m('drain2_ops.work')/1e6:>9.2f}M  {m('drain2_ops.dwork0')/1e6:>13.2f}M  {m('drain2_ops.rcu')/1e6:>7.2f}M")
print(f"  bytes per object          {m('bytes.kref_async_node'):>10.0f}            {m('bytes.work_struct'):>10.0f}  {m('bytes.delayed_work'):>14.0f}  {m('bytes.rcu_head'):>8.0f}")
print()
print("task_work path, from a user task's ioctl, against fput()'s own deferral (ns per operation):")
print(f"  ioctl with a final kref_put_async() {m('tw_put_ns.async'):.0f} vs with kref_put() {m('tw_put_ns.sync'):.0f}: deferral {m('tw_put_ns.async') - m('tw_put_ns.sync'):.0f}")
print(f"  close(2) with the last fput()      {m('close_ns.final'):.0f} vs not the last  {m('close_ns.nonfinal'):.0f}: deferral and __fput() {m('close_ns.final') - m('close_ns.nonfinal'):.0f}")
print(f"worker path, put to release: p50 {m('lat_wq_p50_ns.async')/1e3:.1f} us (queue_work {m('lat_wq_p50_ns.work')/1e3:.1f} us);")
print(f"  1000 short releases behind a 100 ms one: p99 {m('hol_p99_ns.async')/1e6:.2f} ms")
print()
for k, g in d["goals"].items():
    v = "-" if g["value"] is None else f"{g['value']:.3f}"
    verdict = {True: "met", False: "not met", None: "no value"}[g["met"]]
    print(f"  {k:<26} {v} (goal {g['goal']}: {verdict})")
PY
)
fi
# The converted users: their selftests' verdicts on the series (make
# test), on the base and the mutant's (make test-more) and each old
# deferral's cost against its replacement (make bench).
users=$(python3 - "$checks" "$CACHE/results-more/checks" "$CACHE/out/bench/bench.json" <<'PY'
import json, os, sys
checks, more, bj = sys.argv[1:]
v = {}
for path in (checks, more):
    if os.path.exists(path):
        for line in open(path):
            verdict, name = line.split()[:2]
            if name.startswith("users-"):
                v[name] = verdict
tests = []
for name in v:
    k, _, t = name.partition(":")
    if k in ("users-base", "users-patched") and not t.startswith(("watch.", "boot", "kernel-log", "build", "config")):
        if t not in tests:
            tests.append(t)
if not tests:
    print("(No users results yet: run 'make users' before 'make series'.)")
    sys.exit(0)
word = {"PASS": "pass", "FAIL": "FAIL", "SKIP": "skip", None: "-"}
print("Each conversion's own subsystem selftests (tools/testing/selftests of")
print("the base, built static), on the unpatched base and on the series:")
print()
print(f"  {'selftest':20} {'base':6} series")
for t in tests:
    print(f"  {t:20} {word[v.get('users-base:' + t)]:6} {word[v.get('users-patched:' + t)]}")
if not any(n.startswith("users-base:") for n in v):
    print()
    print("(The base column comes from 'make test-more', not run here.)")
watch = [n.partition(":")[2] for n in v if n.startswith("users-patched:watch.")]
if watch:
    ok = sum(v["users-patched:" + w] == "PASS" for w in watch)
    print()
    print(f"On the series, a probe on kref_async's tracepoints checks that each")
    print(f"release is deferred from the context named above and none is lost:")
    import textwrap
    print("\n".join(textwrap.wrap(f"{ok} of {len(watch)} checks pass ({', '.join(sorted(watch))}).", 72)))
    mut = [n for n in v if n.startswith("users-mutant:watch.")]
    if mut:
        bad = sum(v[n] == "PASS" for n in mut)
        print(f"With each conversion undone (tty and userns releasing synchronously")
        print(f"again, mm's release lost), {bad} of {len(mut)} of them fail, as they must.")
if os.path.exists(bj):
    u = json.load(open(bj)).get("users")
    if u:
        print()
        print("Cost, each old deferral against its replacement in the same bench")
        print("rounds (final put, caller side, ns; releases per second from two CPUs):")
        print()
        for name, d in u.items():
            f = lambda x, p=0: "-" if x is None else f"{x:.{p}f}"
            print(f"  {name:7} {d['old']:>10} {f(d['final_ns_old']):>5} -> {d['new']:<6} {f(d['final_ns_new']):>5} ns"
                  f" ({f(d['final_ratio_new_to_old'], 2)}x);"
                  f" {f((d['drain2_ops_old'] or 0) / 1e6, 2)}M -> {f((d['drain2_ops_new'] or 0) / 1e6, 2)}M/s"
                  f" ({f(d['drain2_ratio_new_to_old'], 2)}x)")
PY
)
python3 - "$cover" "$REPO/harness/cover-letter.txt" "$(base_version "$base")" "$results" "$e2e" "$bench" "$users" <<'PY'
import sys
cover, tmpl, base, results, e2e, bench, users = sys.argv[1:]
blurb = open(tmpl).read().replace("@BASE@", base).replace("@RESULTS@", results)
blurb = blurb.replace("@BENCH@", bench.rstrip()).replace("@USERS@", users.rstrip())
blurb = blurb.replace("@E2E@", e2e.rstrip()).rstrip("\n")
s = open(cover).read()
s = s.replace("*** SUBJECT HERE ***",
              "Release KVM outside vfio's locks with a generic kref_put_async()")
s = s.replace("*** BLURB HERE ***", blurb)
open(cover, "w").write(s)
PY

# Recipients: maintainers To, lists and reviewers Cc; the cover letter
# goes to all of them.  The tree has no history, so the authors of a
# commit that a Fixes: tag names cannot be looked up here (--no-fixes;
# git would only say that it does not know the commit): whoever sends
# the series runs get_maintainer.pl on a tree with history for them.
gm=(perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback --no-fixes)
: > "$out/recipients.txt"
all_to=() all_cc=()
for p in "$out"/0*.patch; do
	[ "$p" = "$cover" ] && continue
	to=$(cd "$g" && "${gm[@]}" --m --no-r --no-l "$p" | paste -sd, | sed 's/,/, /g')
	cc=$(cd "$g" && "${gm[@]}" --no-m --r --l "$p" |
	     grep -vxF -f <(echo "$to" | tr ',' '\n' | sed 's/^ *//') | paste -sd, | sed 's/,/, /g')
	printf '%s\n  To: %s\n  Cc: %s\n' "$(basename "$p")" "$to" "$cc" >> "$out/recipients.txt"
	python3 - "$p" "$to" "$cc" <<'PY'
import sys
p, to, cc = sys.argv[1:]
s = open(p).read()
head, sep, body = s.partition("\nSubject: ")
extra = "".join(f"{k}: {v}\n" for k, v in (("To", to), ("Cc", cc)) if v)
open(p, "w").write(head + "\n" + extra.rstrip("\n") + sep + body if extra else s)
PY
	all_to+=("$to") all_cc+=("$cc")
done
to=$(printf '%s\n' "${all_to[@]}" | tr ',' '\n' | sed 's/^ *//' | grep -v '^$' | sort -u | paste -sd, | sed 's/,/, /g')
cc=$(printf '%s\n' "${all_cc[@]}" | tr ',' '\n' | sed 's/^ *//' | grep -v '^$' | sort -u |
     grep -vxF -f <(echo "$to" | tr ',' '\n' | sed 's/^ *//') | paste -sd, | sed 's/,/, /g')
python3 - "$cover" "$to" "$cc" <<'PY'
import sys
p, to, cc = sys.argv[1:]
s = open(p).read()
head, sep, body = s.partition("\nSubject: ")
open(p, "w").write(head + f"\nTo: {to}\nCc: {cc}" + sep + body)
PY

echo "series: $out"
ls "$out"
[ "${CHECK:-1}" = 1 ] || exit 0

# Checks: checkpatch on every patch; git am on the pristine base.
rc=0
for p in "$out"/0*.patch; do
	[ "$p" = "$cover" ] && continue
	n=$(basename "$p")
	if (cd "$out" && "$g/scripts/checkpatch.pl" --strict --show-types --color=never \
		--ignore MISSING_SIGN_OFF,UNKNOWN_COMMIT_ID -q "$p") > "$out/${n%.patch}.checkpatch" 2>&1; then
		record PASS "series:checkpatch:${n:0:4}" "${n:5:50}"
	else
		sed 's/^/    /' "$out/${n%.patch}.checkpatch"
		record FAIL "series:checkpatch:${n:0:4}" "$n"; rc=1
	fi
done
git -C "$g" checkout -q -B am-check kref-async-base
if git -C "$g" am -q --keep-cr $(ls "$out"/0*.patch | grep -v cover-letter) > "$out/am.log" 2>&1 &&
   git -C "$g" diff --quiet kref-async-series am-check; then
	record PASS "series:git-am" "applies to the pristine base, same tree as the assembled one"
else
	cat "$out/am.log"
	git -C "$g" am --abort >/dev/null 2>&1 || true
	record FAIL "series:git-am" "does not apply to the pristine base ($out/am.log)"; rc=1
fi
git -C "$g" checkout -q master
exit $rc
