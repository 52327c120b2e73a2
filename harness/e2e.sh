#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end proof in a running kernel: the vfio + KVM scenarios of
# tests/e2e/vfio_kvm_e2e.c, on vfio's group and cdev paths, run as /init
# on x86_64 guests under QEMU TCG (-smp 2, -cpu max, whose emulated AMD
# SVM lets kvm_amd load).  Every kernel but the base also runs the module
# stages (e2e_module_stages=1): kvm_amd and kvm unloaded, and their counts
# read, at every step of every scenario (e2e-NAME:module-stages).
#
#   patched  the assembled tree: every scenario passes (the VM is gone
#            when the device fd's close() returns), lockdep records no
#            dependency from vfio's dev_set->lock / group->group_lock to
#            a KVM teardown lock, and the kernel log is clean;
#   base     the pristine base: the same dependency IS recorded, which
#            shows that the test detects the hazard the series removes.
#   detector, detector-off
#            the series up to "KVM: tell lockdep at every kvm_put_kvm()
#            ..." (vfio not yet converted), with and without
#            CONFIG_PROVE_RELEASE_MAPS (harness/e2e-detector.config):
#            after the order that closes the VM fd last, lockdep knows
#            vfio -> KVM only with the option on.  detector-off also
#            checks that, with the option off, the KVM patch leaves
#            kvm_put_kvm() and kvm_destroy_vm() instruction for
#            instruction as they were.
#
# Both kernels are tinyconfig + harness/e2e.config (KVM as modules, vfio,
# mtty, lockdep), bzImage and modules: the patched one is the series' test
# kernel ($CACHE/build/test, which adds KASAN, debugobjects and the rest of
# harness/stress.config), the base one is built in $CACHE/build/e2e-base;
# every make under $BUILD_LOCK; each boots with its own initramfs.
# Console logs: $CACHE/out/e2e/{patched,base}.log; side-by-side table:
# $CACHE/out/e2e/table.md.  Checks: e2e-patched:* and e2e-base:*.
#
#   e2e.sh [patched|base|detector|detector-off]...   (default: patched base)
#
# QEMU_TIMEOUT caps each boot (900 s).  E2E_QEMU_CPU and E2E_APPEND
# change the -cpu model and add to the kernel command line, for
# experiments only.
. "$(dirname "$0")/common.sh"
need make gcc flex bison bc cpio gzip flock timeout rsync qemu-system-x86_64 python3

QEMU_TIMEOUT=${QEMU_TIMEOUT:-900}
QEMU_CPU=${E2E_QEMU_CPU:-max}
frag=$REPO/harness/e2e.config
out=$CACHE/out/e2e
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(patched base)
for k in "${kernels[@]}"; do
	case $k in patched|base|detector|detector-off) ;;
	*) die "usage: e2e.sh [patched|base|detector|detector-off]..." ;;
	esac
done



# The number of series entries up to the release-map annotation of
# kvm_put_kvm(): the detector kernels' tree.
detector_upto() {
	local n
	n=$(series_lines | grep -n 'KVM-tell-lockdep-at-every-kvm_put_kvm' | cut -d: -f1)
	[ -n "$n" ] || die "patches/series has no 'KVM: tell lockdep at every kvm_put_kvm()' entry"
	echo "$n"
}

# The objdump of FUNC in OBJ with its relocations (which function each
# call goes to), without addresses: the code alone.
disas() {
	objdump -dr --no-show-raw-insn --disassemble="$2" "$1" |
		sed -n '/^[0-9a-f]* <'"$2"'>:$/,$p' |
		sed -E 's/^ *[0-9a-f]+:\t//; s/^\t+[0-9a-f]+: /\t/; s/^[0-9a-f]+ </</; s/[0-9a-f]+ <([^>]+)>/<\1>/g'
}

# With CONFIG_PROVE_RELEASE_MAPS off, the KVM patch must not change the
# code of the put and the teardown: build kvm_main.o of the series one
# entry before and compare, then build it back.  Both sides are built as
# part of kvm.ko (make arch/x86/kvm/), with its flags (-DMODULE).
code_unchanged() {
	local name=$1 src=$2 bd=$3 upto f before after diffs=''
	upto=$(detector_upto)
	for f in kvm_put_kvm kvm_destroy_vm; do
		disas "$bd/virt/kvm/kvm_main.o" "$f" > "$out/$name-$f.after"
	done
	before=$(ASSEMBLE_SUFFIX=-detector "$REPO/harness/assemble.sh" $((upto - 1))) &&
		kmake "$before" "$bd" "$out/$name-before.log" arch/x86/kvm/ || {
		verdict FAIL "e2e-$name:code-unchanged" "kvm_main.o without the KVM patch does not build ($out/$name-before.log)"
		return 1
	}
	for f in kvm_put_kvm kvm_destroy_vm; do
		disas "$bd/virt/kvm/kvm_main.o" "$f" > "$out/$name-$f.before"
	done
	after=$(ASSEMBLE_SUFFIX=-detector "$REPO/harness/assemble.sh" "$upto") &&
		kmake "$after" "$bd" "$out/$name-after.log" arch/x86/kvm/ ||
		die "cannot rebuild kvm_main.o of the detector tree ($out/$name-after.log)"
	# kvm_destroy_vm() is usually inlined into kvm_put_kvm(): then it has
	# no symbol of its own on either side.
	for f in kvm_put_kvm kvm_destroy_vm; do
		if [ ! -s "$out/$name-$f.before" ] && [ ! -s "$out/$name-$f.after" ]; then
			[ $f = kvm_put_kvm ] && diffs+=" kvm_put_kvm: not found in kvm_main.o"
		elif ! cmp -s "$out/$name-$f.before" "$out/$name-$f.after"; then
			diffs+=" $f: differs (diff $out/$name-$f.before $out/$name-$f.after)"
		fi
	done
	if [ -z "$diffs" ]; then
		verdict PASS "e2e-$name:code-unchanged" "kvm_put_kvm(): $(grep -c . "$out/$name-kvm_put_kvm.after") lines of objdump, kvm_destroy_vm(): $(grep -c . "$out/$name-kvm_destroy_vm.after") (0: inlined), the same with and without the annotations"
	else
		verdict FAIL "e2e-$name:code-unchanged" "with CONFIG_PROVE_RELEASE_MAPS off:$diffs"
	fi
}

# build NAME: configure and build bzImage and modules.  The patched
# kernel is the series' test kernel (common.sh's test_kernel, which the
# kunit-x86_64, guest and stress steps boot too); the base kernel is the
# pristine base with harness/e2e.config alone (lockdep, no KASAN), in
# $CACHE/build/e2e-base; the detector kernels are the same on the
# series' tree up to the release-map annotation of kvm_put_kvm(), in
# $CACHE/build/e2e-detector{,-off}.  Sets kbd[NAME] to the build directory.
declare -A kbd
build() {
	local name=$1 src bd rc=0 frags=("$frag")
	if [ "$name" = patched ]; then
		test_kernel test "$out/$name-" || rc=$?
		src=$test_tree bd=$test_bd
	elif [ "$name" = base ]; then
		base_kernel "$out/$name-" || rc=$?
		src=$(base_dir) bd=$base_bd
	else
		src=$(ASSEMBLE_SUFFIX=-detector "$REPO/harness/assemble.sh" "$(detector_upto)") ||
			die "the series up to the kvm_put_kvm() annotation does not assemble"
		[ "$name" = detector ] && frags+=("$REPO/harness/e2e-detector.config")
		bd=$CACHE/build/e2e-$name
		tinyconfig_kernel "$src" "$bd" "$out/$name-" "${frags[@]}" || rc=1
		if [ "$rc" = 0 ]; then
			log "building the $name kernel in $bd from $src"
			kmake "$src" "$bd" "$out/$name-build.log" -j"$JOBS" bzImage modules ||
				rc=2
		fi
	fi
	if [ "$rc" = 1 ]; then
		verdict FAIL "e2e-$name:config" "$config_error"
		die "e2e $name config: $config_error"
	elif [ "$rc" != 0 ]; then
		verdict FAIL "e2e-$name:build" "kernel build failed ($out/$name-build.log)"
		return 1
	fi
	kbd[$name]=$bd
	echo "build=$(tail -1 "$out/$name-build.log")" >> "$out/$name.status"
	[ "$name" = detector-off ] && code_unchanged "$name" "$src" "$bd"
	initramfs "$name" "$src" || {
		verdict FAIL "e2e-$name:initramfs" "$initramfs_error"
		return 1
	}
}

# initramfs NAME SRC: /init plus the kernel's modules, kvm-amd.ko and what it
# needs, listed in /modules.list in load order (from modules.dep).
initramfs_error=
initramfs() {
	local name=$1 src=$2 bd=${kbd[$1]} rd=$out/initramfs-$1 mi dep
	mi=$bd/modinst
	rm -rf "$mi" "$rd"
	kmake "$src" "$bd" "$out/$name-modinst.log" INSTALL_MOD_PATH="$mi" \
		INSTALL_MOD_STRIP=1 modules_install ||
		{ initramfs_error="make modules_install failed ($out/$name-modinst.log)"; return 1; }
	dep=$(ls "$mi"/lib/modules/*/modules.dep 2>/dev/null | head -1)
	[ -n "$dep" ] || { initramfs_error="no modules.dep in $mi"; return 1; }
	cp -a "$out/initramfs" "$rd"
	mkdir -p "$rd/modules"
	python3 - "$dep" "$rd" <<'PY' || { initramfs_error="kvm-amd.ko is not among the modules built"; return 1; }
import os, shutil, sys
dep, rd = sys.argv[1:]
root = os.path.dirname(dep)
deps = {}
for line in open(dep):
    mod, _, rest = line.partition(":")
    deps[mod] = rest.split()
want = [m for m in deps if m.endswith("/kvm-amd.ko")]
if not want:
    sys.exit(1)
order = []
def visit(m):
    if m in order:
        return
    for d in reversed(deps.get(m, [])):
        visit(d)
    order.append(m)
visit(want[0])
with open(f"{rd}/modules.list", "w") as f:
    for m in order:
        shutil.copy(f"{root}/{m}", f"{rd}/modules/")
        f.write(f"/modules/{os.path.basename(m)}\n")
PY
	pack_initramfs "$rd" "$out/initramfs-$name.cpio.gz"
}

# judge_deps TAG KEY CHECK PRESENT WHEN: inside boot(), judge the guest's
# "E2E: DEPS<TAG> <n>" count of lock chains from vfio's locks to KVM's,
# taken WHEN: PRESENT is 1 if this kernel must have some (vfio not
# converted, or the release map shows them), 0 if it must have none.
# Records KEY=<n> in the status file and the verdict CHECK.
judge_deps() {
	local tag=$1 key=$2 chk=$3 present=$4 when=$5 deps first
	deps=$(grep -oE "E2E: DEPS$tag -?[0-9]+" "$txt" | awk '{ print $3 }' | tail -1 || true)
	first=$(grep -oE "E2E: DEP$tag .*" "$txt" | head -1 | cut -c$((10 + ${#tag}))- || true)
	echo "$key=${deps:-none}" >> "$status"
	if [ -z "$deps" ] || [ "$deps" -lt 0 ]; then
		verdict FAIL "e2e-$name:$chk" "no lockdep report from the guest $when"
	elif [ "$present" = 1 ] && [ "$deps" -gt 0 ]; then
		verdict PASS "e2e-$name:$chk" "present $when, as expected: $deps chains, e.g. $first"
	elif [ "$present" = 0 ] && [ "$deps" -eq 0 ]; then
		verdict PASS "e2e-$name:$chk" "absent $when: no chain from dev_set->lock or group->group_lock to a KVM lock"
	elif [ "$present" = 1 ]; then
		verdict FAIL "e2e-$name:$chk" "no chain from vfio's locks to KVM's $when: the test cannot see the hazard"
	else
		grep -oE "E2E: DEP$tag .*" "$txt" | head -20 || true
		verdict FAIL "e2e-$name:$chk" "$deps chains from vfio's locks to KVM's $when"
	fi
}

# boot NAME: run the guest, record its checks, write $out/NAME.status.
boot() {
	local name=$1 bd=${kbd[$1]} console=$out/$1.log
	local txt=$out/$1.txt status=$out/$1.status qrc=0 t
	local v n detail why mod vm stages=''

	# The module stages would free kvm_amd under a live VM on the base
	[ "$name" = base ] || stages=' e2e_module_stages=1'
	log "booting the $name kernel (TCG, -cpu $QEMU_CPU, -smp 2, timeout ${QEMU_TIMEOUT}s)"
	SECONDS=0
	boot_guest "$bd/arch/x86/boot/bzImage" "$out/initramfs-$name.cpio.gz" \
		"$console" 'E2E: DONE' 2G \
		"console=ttyS0 loglevel=5 panic=-1$stages${E2E_APPEND:+ $E2E_APPEND}" "$QEMU_CPU" ||
		qrc=$?
	t=$SECONDS
	echo "time=${t}s" >> "$status"

	# Serial lines end in \r; a kernel message may share a line with ours.
	tr -d '\r' < "$console" > "$txt"
	if grep -q 'E2E: DONE' "$txt"; then
		echo "boot=PASS" >> "$status"
		verdict PASS "e2e-$name:boot" "ran to DONE in ${t}s (qemu exit $qrc)"
	else
		echo "--- last 40 lines of $console:"
		tail -40 "$txt"
		echo "boot=FAIL" >> "$status"
		if grep -q 'Kernel panic' "$txt"; then
			why="the kernel panicked"
		elif [ "$qrc" -eq 124 ]; then
			why="timed out: the guest hung"
		else
			why="the guest stopped early"
		fi
		verdict FAIL "e2e-$name:boot" "no 'E2E: DONE' after ${t}s: $why (qemu exit $qrc)"
	fi

	while read -r _ v n detail; do
		n=${n%:}
		# The base kernel's own log is not ours to judge: table only.
		[ "$name" = base ] && [ "$n" = kernel-log ] && continue
		verdict "$v" "e2e-$name:$n" "$detail"
	done < <(grep -oE 'E2E: (PASS|FAIL) .*' "$txt" || true)
	# A kernel message printed into the middle of a check's line can
	# hide it (a FAIL among them): every check made must have been read.
	n=$(grep -oE 'E2E: DONE [0-9]+ checks' "$txt" | awk '{ print $3 }' | tail -1 || true)
	v=$(grep -cE 'E2E: (PASS|FAIL) ' "$txt" || true)
	if [ -n "$n" ] && [ "$n" = "$v" ]; then
		verdict PASS "e2e-$name:lines" "all $n checks the guest made read from the console"
	else
		verdict FAIL "e2e-$name:lines" "the guest made ${n:-?} checks, $v read from the console ($console)"
	fi

	# After the order that closes the VM fd last, alone: vfio's put was
	# not the last, and only the release map can show lockdep the chain.
	judge_deps -VMLAST vmlast vm-fd-last "$([ "$name" = detector ] && echo 1 || echo 0)" \
		"after the order that closes the VM fd last"
	# After the cdev scenarios, with the group path's put never the last:
	# only where the first read must find none is the second the cdev
	# path's (the detector's release map has shown it already).
	if [ "$name" = detector ]; then
		v=$(grep -oE 'E2E: DEPS-CDEV -?[0-9]+' "$txt" | awk '{ print $3 }' | tail -1 || true)
		echo "cdev=${v:-none}" >> "$status"
	else
		judge_deps -CDEV cdev cdev-vfio-to-kvm-dependency "$([ "$name" = patched ] && echo 0 || echo 1)" \
			"after the cdev path's scenarios"
	fi
	judge_deps "" deps vfio-to-kvm-dependency "$([ "$name" = patched ] && echo 0 || echo 1)" \
		"after every scenario"

	# The module stages: every kernel but the base runs all eight.
	if [ "$name" != base ]; then
		n=$(grep -cE 'E2E: PASS modules\.' "$txt" || true)
		if [ "$n" -eq 8 ]; then
			verdict PASS "e2e-$name:module-stages" "in the 8 scenarios, at every stage while anything held the VM, it was alive, kvm_amd counted its fds and itself and kvm vfio's reference, and both were refused; once the last close() returned, both counts were back and both unloaded"
		else
			verdict FAIL "e2e-$name:module-stages" "$n of the 8 module-stage scenarios passed"
		fi
	fi

	# The vendor module with a VM that only vfio's reference keeps: the
	# series refuses the unload, the base lets it go (the bug it fixes).
	mod=$(grep -oE 'E2E: MODULE kvm_amd-with-vm [a-z]+ vm-[a-z]+' "$txt" | tail -1 || true)
	vm=${mod##* }
	mod=$(echo "$mod" | awk '{ print $4 }')
	echo "module=${mod:-none}" >> "$status"
	if [ "$vm" != vm-alive ]; then
		verdict FAIL "e2e-$name:vendor-module" "no VM kept by vfio alone when kvm_amd was unloaded (${mod:-not tried}, ${vm:-?})"
	elif [ "$name" != base ]; then
		if [ "$mod" = refused ]; then
			verdict PASS "e2e-$name:vendor-module-pinned" "rmmod kvm_amd refused while vfio's reference kept a VM"
		else
			verdict FAIL "e2e-$name:vendor-module-pinned" "kvm_amd $mod with a VM alive"
		fi
	elif [ "$mod" = unloaded ]; then
		verdict PASS "e2e-$name:vendor-module-bug" "reproduced: kvm_amd unloaded while vfio's reference kept a VM"
	else
		verdict FAIL "e2e-$name:vendor-module-bug" "kvm_amd $mod: the test cannot see the bug"
	fi
	if grep -q 'E2E: INFO closing the device fd with kvm_amd unloaded' "$txt"; then
		why=$(sed -n '/E2E: INFO closing the device fd with kvm_amd unloaded/,$p' "$txt" |
			grep -m1 -oE '(BUG: .*|Oops: .*|general protection fault.*|E2E: INFO close\(\) returned)' || true)
		echo "afterclose=${why:-nothing printed}" >> "$status"
	fi

	# The kernel's own lines only: a failing E2E line may quote a report.
	grep -v 'E2E: ' "$txt" > "$out/$name-kernel.log" || true
	if python3 "$REPO/harness/logscan.py" "$out/$name-kernel.log" > "$out/$name-logscan.txt"; then
		echo "logscan=clean" >> "$status"
		[ "$name" = base ] ||
			verdict PASS "e2e-$name:console-log" "clean ($console)"
	else
		echo "logscan=$(tail -1 "$out/$name-logscan.txt" | sed 's/logscan: //; s/ in .*//')" >> "$status"
		if [ "$name" != base ]; then
			cat "$out/$name-logscan.txt"
			verdict FAIL "e2e-$name:console-log" "unexpected reports in $console"
		fi
	fi
	echo "e2e $name: console log $console"
}

# The side-by-side table, with the other kernel's column from its last
# run when this one did not boot it.
table() {
	local shown=() k
	for k in base detector-off detector patched; do
		[ -f "$out/$k.status" ] && shown+=("$k")
	done
	python3 - "$out" "${shown[@]}" <<'PY'
import os, re, sys
out, ran = sys.argv[1], sys.argv[2:]
cols = ["base", "detector-off", "detector", "patched"]
# Columns of kernels that never ran here are left out, but base and
# patched are always shown.
cols = [k for k in cols if k in ran or k in ("base", "patched")]
data = {}
for k in cols:
    st, checks, deps, vdeps = {}, {}, [], set()
    if k not in ran:
        st = {"build": "not run", "boot": "not run", "time": "-", "deps": "-", "vmlast": "-", "cdev": "-", "logscan": "-"}
    elif os.path.exists(f"{out}/{k}.status"):
        for line in open(f"{out}/{k}.status"):
            key, _, val = line.rstrip("\n").partition("=")
            st[key] = val
    if k in ran and os.path.exists(f"{out}/{k}.txt"):
        for line in open(f"{out}/{k}.txt", errors="replace"):
            m = re.search(r"E2E: (PASS|FAIL) ([^ :]+):? ?(.*)", line)
            if m:
                checks[m.group(2)] = (m.group(1), m.group(3))
            m = re.search(r"E2E: DEP (.*)", line)
            if m:
                deps.append(m.group(1).strip())
            m = re.search(r"E2E: INFO vfio-dep (.*)", line)
            if m:
                vdeps.add(m.group(1).strip())
    data[k] = (st, checks, deps, vdeps)

names = []
for k in cols:
    for n in data[k][1]:
        if n not in names:
            names.append(n)

def cell(k, n):
    c = data[k][1].get(n)
    if not c:
        return "-"
    m = re.search(r"took ([0-9.]+ ms)", c[1])
    if m:
        return f"{c[0]} ({m.group(1)})"
    return c[0]

def status(k, key, default="-"):
    return data[k][0].get(key, default)

rows = [("build (make bzImage modules, this run)", [re.sub(r"^make [a-z_]+: ", "", status(k, "build")) for k in cols]),
        ("boot to E2E: DONE", [f'{status(k, "boot")} ({status(k, "time")})' for k in cols])]
rows += [(n, [cell(k, n) for k in cols]) for n in names]
def dep(k, key="deps", present=lambda k: k != "patched"):
    d = status(k, key)
    if k not in ran:
        return "not run"
    if d in ("-", "none") or d.startswith("-"):
        return "no report"
    want = "expected" if present(k) == (int(d) > 0) else "UNEXPECTED"
    return f'{"present" if int(d) else "absent"}: {d} chains ({want})'
rows.append(("lockdep: vfio lock -> KVM lock", [dep(k) for k in cols]))
rows.append(("  the same after c. alone (VM fd closed last)",
             [dep(k, "vmlast", lambda k: k == "detector") for k in cols]))
rows.append(("  the same after c. and the cdev scenarios",
             [dep(k, "cdev") for k in cols]))
def module(k):
    m = status(k, "module")
    return {"refused": "refused (VM pins it)", "unloaded": "unloaded (the bug)"}.get(m, m)
rows.append(("rmmod kvm_amd, VM alive via vfio", [module(k) for k in cols]))
def afterclose(k):
    if status(k, "module") == "refused":
        c = data[k][1].get("e.vendor-module-pinned")
        return "VM destroyed, both modules unload" if c and c[0] == "PASS" else "FAIL (see e.vendor-module-pinned)"
    return status(k, "afterclose")
rows.append(("then close(device fd)", [afterclose(k) for k in cols]))
rows.append(("console log (logscan.py)", [status(k, "logscan") for k in cols]))

head = {"base": "base", "detector-off": "detector, option off",
        "detector": "detector, option on", "patched": "patched"}
w0 = max(len(r[0]) for r in rows + [("scenario / check", [])])
ws = [max([len(head[k])] + [len(r[1][i]) for r in rows]) for i, k in enumerate(cols)]
def tr(first, cells):
    return f"| {first:<{w0}} | " + " | ".join(f"{c:<{w}}" for c, w in zip(cells, ws)) + " |"
lines = [tr("scenario / check", [head[k] for k in cols]),
         f"|{'-' * (w0 + 2)}|" + "|".join("-" * (w + 2) for w in ws) + "|"]
lines += [tr(r[0], r[1]) for r in rows]
for k in cols:
    if data[k][2]:
        lines += ["", f"Lock chains from vfio's locks to KVM locks on {k}:", ""]
        lines += [f"    {d}" for d in data[k][2]]
only = sorted(data["base"][3] - data["patched"][3])
if only and data["patched"][3]:
    lines += ["", "Direct dependencies of vfio's locks recorded on base but not on patched:", ""]
    lines += [f"    {d}" for d in only]
text = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(text)
print(text, end="")
PY
}

mkdir -p "$out"
for k in "${kernels[@]}"; do
	rm -f "$out/$k.status" "$out/$k.log" "$out/$k.txt"
done

log "building /init"
rd=$out/initramfs
rm -rf "$rd"
mkdir -p "$rd/dev" "$rd/proc" "$rd/sys"
uapi_headers "$out/headers.log"
if ! gcc -static -O2 -Wall -Wextra -isystem "$uapi_hdr/include" \
		-o "$rd/init" "$REPO/tests/e2e/vfio_kvm_e2e.c" \
		2>"$out/init.log"; then
	cat "$out/init.log"
	verdict FAIL e2e:init "tests/e2e/vfio_kvm_e2e.c does not build"
	exit 1
fi
if [ -s "$out/init.log" ]; then
	cat "$out/init.log"
	verdict FAIL e2e:init "tests/e2e/vfio_kvm_e2e.c builds with warnings ($out/init.log)"
fi

for k in "${kernels[@]}"; do
	echo "=== e2e: $k kernel"
	if [ "$k" = patched ]; then
		log "patched: $(base_version "$(base_dir)") + the series"
	elif [ "$k" != base ]; then
		log "$k: $(base_version "$(base_dir)") + the series up to entry $(detector_upto)"
	else
		log "base: $(base_version "$(base_dir)")"
	fi
	if build "$k"; then
		boot "$k"
	else
		echo "boot=FAIL" >> "$out/$k.status"
	fi
done

echo
echo "=== e2e: side by side ($out/table.md)"
table
echo "console logs: $(for k in "${kernels[@]}"; do printf '%s ' "$out/$k.log"; done)"
[ "$fails" -eq 0 ]
