// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_init.c - /init of the benchmark guest (harness/bench.sh).
 *
 * Mounts what it needs, loads tests/bench/kref_async_bench.ko, prints the
 * deferral state sizes, then runs ROUNDS rounds; each runs every in-kernel
 * measurement once (the module prints "BENCH: <key> <round> <value>"),
 * then the final put's batch again with CPU 0 made the unbound
 * workqueues' only CPU (no release runs during the batch), and then
 * measures the task_work path from here: a final kref_put_async()
 * under a mutex in an ioctl, whose release must have run, in this task,
 * before the ioctl returned.  Ends with "BENCH: DONE" and powers off.
 *
 * Its own lines go to /dev/kmsg, not to the console: the module's
 * pr_info() records reach the serial port later, from the console's
 * printing thread, and a line written to the tty meanwhile would be cut
 * into one of them.  As printk records, all lines come out whole and in
 * the order they were made (the harness boots with printk.devkmsg=on so
 * that none is rate-limited away).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest_init.h"
#include "kref_async_bench.h"

#define MODULE_PATH	"/" KREF_ASYNC_BENCH_NAME ".ko"
#define DEFAULT_ROUNDS	9
#define TW_SAMPLES	200

static int kmsg_fd = -1;

/* One whole "BENCH: ..." line, as a printk record where possible. */
static void __attribute__((format(printf, 1, 2))) report(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	if (kmsg_fd < 0 || write(kmsg_fd, line, n) != n) {
		fputs(line, stdout);
		fflush(stdout);
	}
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a;
	unsigned long long y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static void finish(const char *error)
{
	if (error)
		report("BENCH: ERROR %s\n", error);
	else
		report("BENCH: DONE\n");
	sync();
	reboot(RB_POWER_OFF);
	reboot(RB_AUTOBOOT);
	exit(1);
}

/* One round of the task_work path from this task. */
static int tw_round(int fd, unsigned int round)
{
	static unsigned long long lat[TW_SAMPLES], sys[TW_SAMPLES];
	struct kref_async_bench_last last;
	int i, before = 0, same = 0, unlocked = 0;
	pid_t tid = syscall(SYS_gettid);

	for (i = 0; i < TW_SAMPLES; i++) {
		unsigned long long t0, t1;

		t0 = now_ns();
		if (ioctl(fd, KREF_ASYNC_BENCH_PUT_LOCKED))
			return -errno;
		t1 = now_ns();
		if (ioctl(fd, KREF_ASYNC_BENCH_GET_LAST, &last))
			return -errno;
		/* CLOCK_MONOTONIC and ktime_get_ns() are the same clock. */
		if (last.released && last.t_rel <= t1 && last.t_rel >= t0)
			before++;
		if (last.released && last.rel_tid == tid && last.put_tid == tid)
			same++;
		if (last.released && !last.locked)
			unlocked++;
		lat[i] = last.t_rel - last.t_put;
		sys[i] = t1 - t0;
	}
	qsort(lat, TW_SAMPLES, sizeof(lat[0]), cmp_u64);
	qsort(sys, TW_SAMPLES, sizeof(sys[0]), cmp_u64);
	report("BENCH: lat_tw_p50_ns.async %u %llu\n", round,
	       lat[TW_SAMPLES / 2]);
	report("BENCH: lat_tw_p99_ns.async %u %llu\n", round,
	       lat[TW_SAMPLES * 99 / 100]);
	report("BENCH: lat_tw_syscall_p50_ns.async %u %llu\n", round,
	       sys[TW_SAMPLES / 2]);
	report("BENCH: tw_before_return.async %u %d/%d\n", round, before,
	       TW_SAMPLES);
	report("BENCH: tw_same_task.async %u %d/%d\n", round, same, TW_SAMPLES);
	report("BENCH: tw_unlocked.async %u %d/%d\n", round, unlocked,
	       TW_SAMPLES);
	return 0;
}

/*
 * The cost of the task_work path per operation, from this task: a system
 * call whose final put defers its release with task_work, against the
 * same call releasing synchronously; and, for scale, close(2) of a file
 * whose last fput() defers __fput() the same way, against a close() that
 * is not the last.
 */
#define TW_COST_OPS	2000
#define TW_COST_FDS	500

/* Nanoseconds for TW_COST_OPS calls of ioctl @cmd, or 0 on error. */
static unsigned long long time_ioctls(int fd, unsigned long cmd)
{
	unsigned long long t0 = now_ns();
	int i;

	for (i = 0; i < TW_COST_OPS; i++)
		if (ioctl(fd, cmd))
			return 0;
	return now_ns() - t0;
}

/* Nanoseconds to close the @n descriptors of @fds. */
static unsigned long long time_closes(const int *fds, int n)
{
	unsigned long long t0 = now_ns();
	int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
	return now_ns() - t0;
}

static int tw_cost(int fd, unsigned int round)
{
	static int fds[TW_COST_FDS];
	unsigned long long t_async, t_sync, t_final = 0, t_nonfinal = 0;
	int i, j, null_fd;

	t_async = time_ioctls(fd, KREF_ASYNC_BENCH_PUT_LOCKED);
	if (!t_async)
		return -errno;
	t_sync = time_ioctls(fd, KREF_ASYNC_BENCH_PUT_SYNC);
	if (!t_sync)
		return -errno;

	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	for (j = 0; j < TW_COST_OPS / TW_COST_FDS; j++) {
		for (i = 0; i < TW_COST_FDS; i++) {
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fds[i] < 0)
				return -errno;
		}
		t_final += time_closes(fds, TW_COST_FDS);
		for (i = 0; i < TW_COST_FDS; i++) {
			fds[i] = dup(null_fd);
			if (fds[i] < 0)
				return -errno;
		}
		t_nonfinal += time_closes(fds, TW_COST_FDS);
	}
	close(null_fd);
	report("BENCH: tw_put_ns.async %u %llu\n", round, t_async / TW_COST_OPS);
	report("BENCH: tw_put_ns.sync %u %llu\n", round, t_sync / TW_COST_OPS);
	report("BENCH: close_ns.final %u %llu\n", round, t_final / TW_COST_OPS);
	report("BENCH: close_ns.nonfinal %u %llu\n", round,
	       t_nonfinal / TW_COST_OPS);
	return 0;
}

#define WQ_CPUMASK	"/sys/devices/virtual/workqueue/cpumask"

/* Write @mask to the unbound workqueues' cpumask; 0 or -errno. */
static int set_wq_cpumask(const char *mask)
{
	int fd = open(WQ_CPUMASK, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, mask, strlen(mask)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The unbound workqueues' cpumask into @buf, a string; 0 or -errno. */
static int get_wq_cpumask(char *buf, size_t size)
{
	int fd = open(WQ_CPUMASK, O_RDONLY | O_CLOEXEC), ret;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (!ret && (n == 0 || (size_t)n == size - 1))
		ret = -EOVERFLOW;	/* empty, or cut short */
	if (!ret)
		buf[n] = '\0';
	return ret;
}

/*
 * The final put's batch with no release running beside it: the local
 * CPU made the unbound workqueues' only CPU, so that a drain kicked by
 * the batch's first put waits for the batch on that CPU, as
 * queue_work()'s work items do; then the cpumask @saved is put back.
 */
static int local_round(int fd, unsigned int r, const char *saved)
{
	__u32 round = r;
	char mask[16];
	int ret, ret2;

	snprintf(mask, sizeof(mask), "%x", 1u << KREF_ASYNC_BENCH_LOCAL_CPU);
	ret = set_wq_cpumask(mask);
	if (ret)
		return ret;
	ret = ioctl(fd, KREF_ASYNC_BENCH_FINAL_LOCAL, &round) ? -errno : 0;
	ret2 = set_wq_cpumask(saved);
	return ret ? ret : ret2;
}

int main(int argc, char **argv)
{
	char saved_mask[256] = "";
	unsigned int rounds = DEFAULT_ROUNDS, r;
	bool nonfinal_only;
	char msg[128];
	int fd, ret;
	char *s;

	guest_init_console();
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	/* bench_rounds=N on the kernel command line reaches us as env. */
	s = getenv("bench_rounds");
	if (s && atoi(s) > 0)
		rounds = atoi(s);
	/* bench_only=nonfinal: only the non-final put figures (lockdep pass) */
	s = getenv("bench_only");
	nonfinal_only = s && !strcmp(s, "nonfinal");

	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0)) {
		snprintf(msg, sizeof(msg), "loading %s: %s", MODULE_PATH,
			 strerror(errno));
		finish(msg);
	}
	close(fd);
	ret = nonfinal_only ? 0 :
	      get_wq_cpumask(saved_mask, sizeof(saved_mask));
	if (ret) {
		snprintf(msg, sizeof(msg), "reading %s: %s", WQ_CPUMASK,
			 strerror(-ret));
		finish(msg);
	}
	fd = open(KREF_ASYNC_BENCH_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "open %s: %s", KREF_ASYNC_BENCH_DEV,
			 strerror(errno));
		finish(msg);
	}
	report("BENCH: rounds 0 %u\n", rounds);
	report("BENCH: cpus 0 %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	ioctl(fd, KREF_ASYNC_BENCH_SIZES);

	for (r = 1; r <= rounds; r++) {
		__u32 round = r;

		if (nonfinal_only) {
			if (ioctl(fd, KREF_ASYNC_BENCH_NONFINAL, &round)) {
				snprintf(msg, sizeof(msg), "round %u: %s", r,
					 strerror(errno));
				finish(msg);
			}
			continue;
		}
		if (ioctl(fd, KREF_ASYNC_BENCH_ROUND, &round)) {
			snprintf(msg, sizeof(msg), "round %u: %s", r,
				 strerror(errno));
			finish(msg);
		}
		ret = local_round(fd, r, saved_mask);
		if (ret) {
			snprintf(msg, sizeof(msg), "local round %u: %s", r,
				 strerror(-ret));
			finish(msg);
		}
		ret = tw_round(fd, r);
		if (!ret)
			ret = tw_cost(fd, r);
		if (ret) {
			snprintf(msg, sizeof(msg), "task_work round %u: %s", r,
				 strerror(-ret));
			finish(msg);
		}
	}
	finish(NULL);
}
