// SPDX-License-Identifier: GPL-2.0-only
/*
 * stress_init.c - /init of the stress guest (harness/stress.sh).
 *
 * Loads tests/stress/kref_async_stress.ko and starts its in-kernel
 * producers (kthreads, timers, hrtimers) and flushers, then adds the user
 * side, each pinned to one CPU:
 *
 *	one worker per CPU		STEP in a loop: final puts from a
 *					user task, released on its return
 *	one exit driver per CPU		forks children that take references
 *					in a file (HOLD) and die with it
 *					open: _exit(), SIGKILL while asleep,
 *					SIGKILL while putting; or that
 *					_exit() right after a STEP
 *	one flusher			FLUSH in a loop
 *	with stress_hotplug=N, a	CPU 1 offline, HOTPLUG_CHECK, CPU 1
 *	hotplugger			online, in a loop (the CPU makes N
 *					final puts on its way offline)
 *
 * until stress_objs objects exist (or stress_secs pass), then stops
 * everything, drops what the slots still hold, flushes and prints what
 * the module counted:
 *
 *	STRESS: final <context> cpu0=N cpu1=N
 *	STRESS: result created=N puts=N finals=N released=N lost=N ...
 *	STRESS: unload ok|FAILED ...
 *	STRESS: DONE	(or STRESS: ERROR <what>)
 *
 * and powers off.  harness/stress.sh judges the numbers.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_init.h"
#include "kref_async_stress.h"

#define MODULE_PATH	"/" KREF_ASYNC_STRESS_NAME ".ko"
#define MAX_CHILDREN	8
#define USER_STEPS	32
#define HOLD_OBJS	16

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char * const ctx_names[KREF_ASYNC_STRESS_NR_CTX] = {
	"user", "exit", "kthread", "softirq", "hardirq",
};

static void finish(const char *error)
{
	if (error)
		printf("STRESS: ERROR %s\n", error);
	else
		printf("STRESS: DONE\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	reboot(RB_AUTOBOOT);
	exit(1);
}

static void fail(const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	finish(msg);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && strtoul(s, NULL, 0) ? strtoul(s, NULL, 0) : def;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int open_dev(void)
{
	return open(KREF_ASYNC_STRESS_DEV, O_RDWR | O_CLOEXEC);
}

/* Children report trouble on stderr and in their exit status. */
static void child_fail(const char *what)
{
	fprintf(stderr, "STRESS: child %d: %s: %s\n", getpid(), what,
		strerror(errno));
	_exit(1);
}

/* STEP until the run stops. */
static void user_worker(int cpu)
{
	__u32 n = USER_STEPS;
	int fd, r;

	pin(cpu);
	fd = open_dev();
	if (fd < 0)
		child_fail("open");
	while (!(r = ioctl(fd, KREF_ASYNC_STRESS_STEP, &n)))
		;
	if (r < 0)
		child_fail("STEP");
	_exit(0);
}

static void flusher(void)
{
	int fd = open_dev(), r;

	if (fd < 0)
		child_fail("open");
	while (!(r = ioctl(fd, KREF_ASYNC_STRESS_FLUSH)))
		usleep(1000);
	if (r < 0)
		child_fail("FLUSH");
	_exit(0);
}

/* One child of an exit driver; tells it on @ready when set up. */
static void exit_child(int how, int ready)
{
	__u32 n = HOLD_OBJS;
	int fd = open_dev();

	if (fd < 0)
		child_fail("open");
	if (ioctl(fd, how == 3 ? KREF_ASYNC_STRESS_STEP :
		  KREF_ASYNC_STRESS_HOLD, &n) < 0)
		child_fail(how == 3 ? "STEP" : "HOLD");
	if (write(ready, "x", 1) != 1)
		child_fail("write");
	switch (how) {
	case 1:		/* SIGKILLed asleep */
		for (;;)
			pause();
	case 2:		/* SIGKILLed while putting */
		n = 4;
		while (!ioctl(fd, KREF_ASYNC_STRESS_STEP, &n))
			;
		for (;;)
			pause();
	}
	/* 0: exit with the file holding references; 3: right after STEP */
	_exit(0);
}

static void exit_driver(int cpu)
{
	struct kref_async_stress_result st;
	unsigned long i;
	int fd, p[2], status;
	pid_t pid;
	char c;

	pin(cpu);
	fd = open_dev();
	if (fd < 0)
		child_fail("open");
	for (i = 0; ; i++) {
		if (ioctl(fd, KREF_ASYNC_STRESS_STATUS, &st))
			child_fail("STATUS");
		if (!st.running)
			break;
		if (pipe(p))
			child_fail("pipe");
		pid = fork();
		if (pid < 0)
			child_fail("fork");
		if (!pid) {
			close(p[0]);
			exit_child(i % 4, p[1]);
		}
		close(p[1]);
		if (read(p[0], &c, 1) == 1 && (i % 4 == 1 || i % 4 == 2)) {
			if (i % 4 == 2)
				usleep(200);
			kill(pid, SIGKILL);
		}
		close(p[0]);
		if (waitpid(pid, &status, 0) != pid)
			child_fail("waitpid");
		if (WIFEXITED(status) && WEXITSTATUS(status))
			_exit(1);
	}
	printf("STRESS: exit driver on cpu%d: %lu children\n", cpu, i);
	_exit(0);
}

static pid_t spawn(void (*fn)(int), int arg)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork");
	if (!pid)
		fn(arg);
	return pid;
}

static void flusher_fn(int unused)
{
	flusher();
}

/* Write @val to CPU 1's online file; retried while the kernel is busy. */
static int cpu1_online(const char *val)
{
	int fd, i, err = 0;

	for (i = 0; i < 50; i++) {
		fd = open("/sys/devices/system/cpu/cpu1/online", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return errno;
		err = write(fd, val, 1) == 1 ? 0 : errno;
		close(fd);
		if (err != EBUSY && err != EAGAIN)
			break;
		usleep(20000);
	}
	return err;
}

/*
 * Take CPU 1 offline and back, until the run stops, after the other
 * producers have had HOTPLUG_START_S seconds with both CPUs.  After each
 * offlining, HOTPLUG_CHECK lets the releases queued on CPU 1's way out go
 * (they wait for it), flushes and checks that they have run.  Ends with
 * CPU 1 online.
 */
#define HOTPLUG_START_S		3

static void hotplugger(int unused)
{
	int fd = open_dev(), r = 0;

	if (fd < 0)
		child_fail("open");
	sleep(HOTPLUG_START_S);
	while (!r) {
		errno = cpu1_online("0");
		if (errno)
			child_fail("cpu1 offline");
		r = ioctl(fd, KREF_ASYNC_STRESS_HOTPLUG_CHECK);
		if (r < 0)
			child_fail("HOTPLUG_CHECK");
		usleep(20000);
		errno = cpu1_online("1");
		if (errno)
			child_fail("cpu1 online");
		usleep(100000);
	}
	_exit(0);
}

static void print_result(const struct kref_async_stress_result *r,
			 double run_s)
{
	const struct {
		const char *key;
		long long val;
	} fig[] = {
		{ "created", r->created },
		{ "puts", r->puts },
		{ "finals", r->finals },
		{ "released", r->released },
		{ "lost", (long long)(r->finals - r->released) },
		{ "double", r->double_released },
		{ "in_put", r->in_put },
		{ "unreleased", r->unreleased },
		{ "flushes", r->flushes },
		{ "flush_checked", r->flush_checked },
		{ "flush_missed", r->flush_missed },
		{ "user_checked", r->user_checked },
		{ "user_missed", r->user_missed },
		{ "throttled", r->throttled },
		{ "alloc_failed", r->alloc_failed },
		{ "hp_offlines", r->hp_offlines },
		{ "hp_puts", r->hp_puts },
		{ "hp_checked", r->hp_checked },
		{ "hp_pending", r->hp_pending },
		{ "hp_missed", r->hp_missed },
		{ "hp_gate_timeouts", r->hp_gate_timeouts },
		{ "run_ms", (long long)(run_s * 1000) },
	};
	unsigned int ctx, cpu, i, cpus = r->cpus;
	char line[768];
	int len;

	if (cpus > KREF_ASYNC_STRESS_MAX_CPUS)
		cpus = KREF_ASYNC_STRESS_MAX_CPUS;
	for (ctx = 0; ctx < KREF_ASYNC_STRESS_NR_CTX; ctx++) {
		len = snprintf(line, sizeof(line), "STRESS: final %s",
			       ctx_names[ctx]);
		for (cpu = 0; cpu < cpus; cpu++)
			len += snprintf(line + len, sizeof(line) - len,
					" cpu%u=%llu", cpu,
					(unsigned long long)r->finals_by[ctx][cpu]);
		printf("%s\n", line);
	}
	/* One write, so that a kernel message cannot split the line. */
	len = snprintf(line, sizeof(line), "STRESS: result");
	for (i = 0; i < ARRAY_SIZE(fig); i++)
		len += snprintf(line + len, sizeof(line) - len, " %s=%lld",
				fig[i].key, fig[i].val);
	printf("%s\n", line);
}

/* The number after the colon on the line of @path that starts with @key */
static long stat_value(const char *path, const char *key)
{
	char line[256], *p;
	long val = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = line + strspn(line, " ");
		if (!strncmp(p, key, strlen(key)) && strchr(p, ':')) {
			val = strtol(strchr(p, ':') + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * Lockdep turns itself off at its first report, and debugobjects counts
 * its warnings: show that both were still on at the end, and that
 * debugobjects did track objects.
 */
static void print_checkers(void)
{
	const char *odebug = "/sys/kernel/debug/debug_objects/stats";

	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	printf("STRESS: checkers debug_locks=%ld classes=%ld odebug_warnings=%ld odebug_used=%ld\n",
	       stat_value("/proc/lockdep_stats", "debug_locks:"),
	       stat_value("/proc/lockdep_stats", "lock-classes:"),
	       stat_value(odebug, "warnings"),
	       stat_value(odebug, "pool_max_used"));
}

/* The module must go once its file is closed: no release is pending. */
static void remove_module(void)
{
	double t0 = now();
	int tries = 0;

	while (syscall(SYS_delete_module, KREF_ASYNC_STRESS_NAME, O_NONBLOCK)) {
		if ((errno != EWOULDBLOCK && errno != EAGAIN) ||
		    now() - t0 > 30) {
			printf("STRESS: unload FAILED after %d tries: %s\n",
			       tries, strerror(errno));
			return;
		}
		tries++;
		usleep(10000);
	}
	printf("STRESS: unload ok (%d busy tries)\n", tries);
}

int main(void)
{
	struct kref_async_stress_config cfg = {
		.slots = 1024,
		.refs = 3,
		.hrtimer_us = 500,
		.irq_steps = 4,
		.max_inflight = 16384,
	};
	struct kref_async_stress_result st;
	pid_t pids[MAX_CHILDREN];
	int fd, i, n = 0, status, bad = 0;
	double t0, t, last = 0, secs;
	long cpus;

	guest_init_console();

	/* stress_objs=N stress_secs=N stress_hotplug=N on the command line */
	cfg.objects = env_ulong("stress_objs", 1000000);
	secs = env_ulong("stress_secs", 600);
	cfg.hotplug_puts = env_ulong("stress_hotplug", 0);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2)
		finish("fewer than 2 CPUs online");

	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
		fail("loading " MODULE_PATH);
	close(fd);
	fd = open_dev();
	if (fd < 0)
		fail("open " KREF_ASYNC_STRESS_DEV);

	printf("STRESS: start objects=%llu refs=%u slots=%u cpus=%ld cap=%.0fs hotplug_puts=%u\n",
	       (unsigned long long)cfg.objects, cfg.refs, cfg.slots, cpus,
	       secs, cfg.hotplug_puts);
	t0 = now();
	if (ioctl(fd, KREF_ASYNC_STRESS_START, &cfg))
		fail("START");
	for (i = 0; i < 2; i++) {
		pids[n++] = spawn(user_worker, i);
		pids[n++] = spawn(exit_driver, i);
	}
	pids[n++] = spawn(flusher_fn, 0);
	if (cfg.hotplug_puts)
		pids[n++] = spawn(hotplugger, 0);

	for (;;) {
		sleep(1);
		if (ioctl(fd, KREF_ASYNC_STRESS_STATUS, &st))
			fail("STATUS");
		t = now() - t0;
		if (st.created >= cfg.objects)
			break;
		if (t > secs) {
			printf("STRESS: time cap of %.0fs reached\n", secs);
			break;
		}
		if (t - last >= 15) {
			last = t;
			printf("STRESS: progress %.0fs created=%llu finals=%llu released=%llu\n",
			       t, (unsigned long long)st.created,
			       (unsigned long long)st.finals,
			       (unsigned long long)st.released);
		}
	}
	if (ioctl(fd, KREF_ASYNC_STRESS_STOP))
		fail("STOP");
	t = now() - t0;
	for (i = 0; i < n; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i])
			fail("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	if (bad)
		finish("a user-space producer failed");
	/* Puts from here: released before the ioctl returns. */
	if (ioctl(fd, KREF_ASYNC_STRESS_FINISH))
		fail("FINISH");
	if (ioctl(fd, KREF_ASYNC_STRESS_RESULT, &st))
		fail("RESULT");
	print_result(&st, t);
	print_checkers();
	close(fd);
	remove_module();
	finish(NULL);
}
