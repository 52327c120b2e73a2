# SPDX-License-Identifier: GPL-2.0-only
# kref_async: build and test the series on Linux 7.3 (6.12 LTS: checked backport).
#
#   make            the main job: assemble, UML KUnit, summary
#   make test       every test (what CI runs)
#   make help       all targets
#
# KDIR=/path/to/linux uses that tree as the base instead of Debian's
# linux-source-7.3 (add BASE=6.12 for a 6.12 tree); CACHE=dir moves the
# cache (default ~/.cache/kref-async).

H := harness

.PHONY: all kunit test deps assemble tree export series series-check lint logscan docs mutation bisect guest e2e kunit-um kunit-x86_64 \
	compile compile-x86_64 compile-s390 compile-arm64 bench stress stress-short help clean-cache backport-6.12 users users-base users-mutant \
	test-more e2e-base e2e-detector lib-mutant

all kunit:
	@$(H)/run.sh deps assemble kunit-um

test:
	@$(H)/run.sh deps assemble lint logscan docs kunit-um mutation kunit-x86_64 guest stress e2e users compile-x86_64 compile-s390 series

# What need not gate every change, run before a session ends and shown in
# the README: the e2e scenario and the converted users' selftests on the
# unpatched base (their verdicts there cannot change with the series; the
# base kernel is about 16 minutes of a cold build), the e2e scenario on
# the series before vfio's conversion with the release-map detector off
# and on, the converted users' guest with each conversion undone
# (users-mutant: its checks must fail), the guest's two-module check and
# the hotplug stress run on a broken lib/kref_async.c (lib-mutant: they
# must fail), the arm64 compile test (patch 2's ptdump.c hunks only), the
# build of every series commit (bisect) and the 6.12 LTS backport leg
# (another kernel flavour: UML KUnit and the compile tests on 6.12);
# then the series again, whose cover letter gets the e2e table with both
# columns.  Its results go to results-more, so that those of 'test' stay.
test-more:
	@RESULTS_SET=results-more $(H)/run.sh deps assemble e2e-base users-base e2e-detector users-mutant lib-mutant compile-arm64 bisect \
		kunit-um-6.12 compile-x86_64-6.12 compile-s390-6.12 series

# The 6.12 LTS backport leg of 'test-more' alone.
backport-6.12:
	@BASE=6.12 $(H)/run.sh deps kunit-um-6.12 compile-x86_64-6.12 compile-s390-6.12

deps:
	@$(H)/deps.sh all

assemble:
	@$(H)/assemble.sh

tree:
	@$(H)/tree.sh

series:
	@CHECK=0 $(H)/series.sh $(OUT)

series-check:
	@$(H)/run.sh series

export:
	@$(H)/export.sh

lint logscan docs mutation bisect guest e2e e2e-base e2e-detector users users-base users-mutant lib-mutant kunit-um kunit-x86_64 compile-x86_64 compile-s390 compile-arm64:
	@$(H)/run.sh $@

compile:
	@$(H)/run.sh compile-x86_64 compile-s390 compile-arm64

# The long stress run (10^7 objects and 10^6 with CPU hotplug, then the
# KCSAN kernel), then the KUnit suite and the short runs on the
# PREEMPT_RT flavour of the test kernel (with hotplug) and on the KMSAN
# one (without); 'test' has the short
# runs (10^6, and 4 x 10^5 with hotplug), which 'make stress-short' runs
# alone.
stress:
	@$(H)/run.sh stress-long kunit-x86_64-rt stress-rt kunit-x86_64-kmsan stress-kmsan

stress-short:
	@$(H)/run.sh stress

# Not part of 'test': timings on a shared TCG machine are read, not checked.
bench:
	@$(H)/bench.sh

clean-cache:
	c=$${CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/kref-async}; rm -rf "$$c/tree" "$$c/git" "$$c/build" "$$c/out" "$$c/results"

help:
	@sed -n 's/^#   //p' Makefile
	@echo "  make tree       git repo of the assembled tree, one commit per patch"
	@echo "  make export     bring commits made in that tree back to the repo"
	@echo "  make series [OUT=dir] [AUTHOR='Name <mail>'] [SIGNOFF=1]   the mail-ready series"
	@echo "  make series-check   checkpatch + git am of the generated series"
	@echo "  make lint|docs|kunit-um|mutation|kunit-x86_64|guest|e2e|e2e-base|e2e-detector|compile-x86_64|compile-s390|compile-arm64|bisect"
	@echo "  make stress     long stress runs: 10^7 objects (and 10^6 with CPU hotplug) under lockdep + KASAN, then KCSAN;"
	@echo "                  KUnit and the short run(s) on PREEMPT_RT and KMSAN kernels (\$$CACHE/out/stress)"
	@echo "  make stress-short   the short stress runs of 'make test' (10^6 objects, 4 x 10^5 with CPU hotplug)"
	@echo "  make bench      kref_put_async() benchmark in a QEMU guest (\$$CACHE/out/bench/bench.json)"
	@echo "  make test-more  e2e and the users' selftests on the unpatched base, the detector kernels, the mutants, compile-arm64, bisect, 6.12: what 'test' leaves out"
	@echo "  make backport-6.12   the 6.12 LTS leg alone: UML KUnit and x86_64/s390 builds on linux-source-6.12"
	@echo "  make clean-cache   drop work trees and builds (keeps the base)"
