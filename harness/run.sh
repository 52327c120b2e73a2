#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run a list of steps, recording a failure for any step that dies without
# recording a verdict of its own, then print the summary.
#   run.sh STEP...   where STEP is one of the names below
. "$(dirname "$0")/common.sh"

# leg612 CMD...: run CMD on the 6.12 base (KDIR_6_12 or Debian's).
leg612() {
	if [ -n "${KDIR_6_12:-}" ]; then
		BASE=6.12 KDIR=$KDIR_6_12 "$@"
	else
		(unset KDIR; BASE=6.12 "$@")
	fi
}

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
start=$(date +%s)
for step; do
	before=$( (wc -l < "$RESULTS/checks") 2>/dev/null || echo 0)
	t0=$(date +%s)
	echo
	echo "=== $step"
	rc=0
	case $step in
	deps)		"$REPO/harness/deps.sh" all || rc=$? ;;
	assemble)	"$REPO/harness/assemble.sh" >/dev/null || rc=$? ;;
	lint)		"$REPO/harness/lint.sh" || rc=$? ;;
	logscan)	"$REPO/harness/logscan-selftest.sh" || rc=$? ;;
	kunit-um)	"$REPO/harness/kunit.sh" um || rc=$? ;;
	kunit-x86_64)	"$REPO/harness/kunit.sh" x86_64 || rc=$? ;;
	kunit-x86_64-rt) "$REPO/harness/kunit.sh" x86_64-rt || rc=$? ;;
	kunit-x86_64-kmsan) "$REPO/harness/deps.sh" kmsan &&
			"$REPO/harness/kunit.sh" x86_64-kmsan || rc=$? ;;
	compile-x86_64)	"$REPO/harness/compile.sh" x86_64 || rc=$? ;;
	compile-s390)	"$REPO/harness/compile.sh" s390 || rc=$? ;;
	compile-arm64)	"$REPO/harness/compile.sh" arm64 || rc=$? ;;
	docs)		"$REPO/harness/docs.sh" || rc=$? ;;
	bisect)		"$REPO/harness/bisect.sh" || rc=$? ;;
	series)		"$REPO/harness/series.sh" || rc=$? ;;
	mutation)	"$REPO/harness/mutate.sh" || rc=$? ;;
	guest)		"$REPO/harness/guest.sh" || rc=$? ;;
	# The patched kernel gates every change; the pristine base's column
	# cannot change with the series and runs in 'make test-more'.
	e2e)		"$REPO/harness/e2e.sh" patched || rc=$? ;;
	e2e-base)	"$REPO/harness/e2e.sh" base || rc=$? ;;
	# The release-map detector on the series before vfio's conversion,
	# with the option off and on.
	e2e-detector)	"$REPO/harness/e2e.sh" detector-off detector || rc=$? ;;
	# The converted users' own selftests on the series, and the same on
	# the unpatched base, whose verdicts cannot change with the series
	# and which runs in 'make test-more'.
	users)		"$REPO/harness/users.sh" patched || rc=$? ;;
	users-base)	"$REPO/harness/users.sh" base || rc=$? ;;
	# The same with each conversion undone: the watch checks must fail.
	users-mutant)	"$REPO/harness/users.sh" mutant || rc=$? ;;
	# The pair and hotplug checks on a broken lib/kref_async.c.
	lib-mutant)	"$REPO/harness/lib-mutant.sh" || rc=$? ;;
	stress)		"$REPO/harness/stress.sh" short || rc=$? ;;
	stress-long)	"$REPO/harness/stress.sh" long || rc=$? ;;
	stress-rt)	"$REPO/harness/stress.sh" rt || rc=$? ;;
	stress-kmsan)	"$REPO/harness/deps.sh" kmsan &&
			"$REPO/harness/stress.sh" kmsan || rc=$? ;;
	# The 6.12 LTS backport: the series with backport/6.12/ applied, on
	# Debian's 6.12 or KDIR_6_12 (KDIR names the 7.3 tree).  QUICK: does
	# it build; W=1 and sparse are judged on the 7.3 base.
	kunit-um-6.12)	leg612 "$REPO/harness/kunit.sh" um || rc=$? ;;
	compile-x86_64-6.12) QUICK=1 leg612 "$REPO/harness/compile.sh" x86_64 || rc=$? ;;
	compile-s390-6.12) QUICK=1 leg612 "$REPO/harness/compile.sh" s390 || rc=$? ;;
	*)		die "unknown step $step" ;;
	esac
	after=$( (wc -l < "$RESULTS/checks") 2>/dev/null || echo 0)
	if [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
		record FAIL "$step" "step failed (exit $rc) before recording a verdict"
	fi
	echo "=== $step: $(( $(date +%s) - t0 ))s"
	# Nothing else can run without the tools or the tree.
	if [ "$rc" -ne 0 ] && { [ "$step" = deps ] || [ "$step" = assemble ]; }; then
		break
	fi
done
echo "=== total: $(( $(date +%s) - start ))s"
exec "$REPO/harness/summary.sh"
