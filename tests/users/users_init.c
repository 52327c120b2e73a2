// SPDX-License-Identifier: GPL-2.0-only
/*
 * users_init.c - /init of the guest that runs the converted users' own
 * selftests (harness/users.sh), on the series' kernel and on the
 * unpatched base alike.
 *
 * 1. If /kref_async_watch.ko is there (the series' kernel only), loads it
 *    with the names of the converted releases, to count from kref_async's
 *    tracepoints how each is deferred and run.
 * 2. Runs every program listed in /selftests.list ("<name> <ctty|->
 *    [argument...]"), a static build of an upstream selftest, with a 600 s
 *    limit; "ctty" gives it a pty as its controlling terminal.  Exit status 0 is a pass
 *    (a skip if every case skipped), 4 (KSFT_SKIP) a skip, anything else
 *    a failure.  With the module, prints what the selftests reached.
 * 3. With the module, checks that each conversion defers its release
 *    through kref_async, from the context it claims, and loses none.
 *
 * Prints "KTEST: PASS|FAIL|SKIP <name> ..." per check, then "KTEST: DONE",
 * and powers the guest off.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../guest_init.h"

#define WATCH_PATH	"/sys/kernel/debug/kref_async_watch"
#define TEST_TIMEOUT	600

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run /selftests/NAME, copying its output to the console and keeping the
 * kselftest totals line for the verdict.
 */
static void run_selftest(const char *name, bool ctty, char **args)
{
	char path[256], buf[4096], line[512] = "", totals[256] = "";
	int out[2], master = -1, slave = -1, status = 0;
	size_t linelen = 0;
	double start = now();
	bool timed_out = false;
	pid_t pid;

	snprintf(path, sizeof(path), "/selftests/%s", name);
	if (pipe2(out, O_CLOEXEC) ||
	    (ctty && openpty(&master, &slave, NULL, NULL, NULL))) {
		check(false, name, "pipe/openpty: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		setsid();
		if (ctty) {
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
		}
		dup2(out[1], 1);
		dup2(out[1], 2);
		args[0] = path;
		execv(path, args);
		_exit(127);
	}
	close(out[1]);
	if (slave >= 0)
		close(slave);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = master, .events = POLLIN },
		};
		ssize_t n;

		if (now() - start > TEST_TIMEOUT) {
			timed_out = true;
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(pfd, master >= 0 ? 2 : 1, 1000) <= 0)
			continue;
		/* What the test writes to its terminal is drained, not kept. */
		if (master >= 0 && (pfd[1].revents & POLLIN))
			n = read(master, buf, sizeof(buf));
		if (!(pfd[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(out[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, n, stdout);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (linelen < sizeof(line) - 1)
					line[linelen++] = buf[i];
				continue;
			}
			line[linelen] = '\0';
			linelen = 0;
			if (strstr(line, "Totals:") || strstr(line, "PASSED:"))
				snprintf(totals, sizeof(totals), "%s", line);
		}
	}
	close(out[0]);
	waitpid(pid, &status, 0);
	if (master >= 0)
		close(master);
	fflush(stdout);
	if (timed_out)
		check(false, name, "still running after %d s", TEST_TIMEOUT);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
		printf("KTEST: SKIP %s (exit 4, KSFT_SKIP: %s)\n", name, totals);
	else if (WIFEXITED(status) && !WEXITSTATUS(status) &&
		 strstr(totals, " pass:0 ") && !strstr(totals, " skip:0 "))
		printf("KTEST: SKIP %s (exit 0, but every case skipped: %s)\n",
		       name, totals);
	else
		check(WIFEXITED(status) && WEXITSTATUS(status) == 0, name,
		      "exit %d%s, %.0f s%s%s",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		      WIFSIGNALED(status) ? " (killed by a signal)" : "",
		      now() - start, *totals ? ", " : "", totals);
}

static void run_selftests(void)
{
	char line[512];
	FILE *f = fopen("/selftests.list", "r");

	if (!f) {
		check(false, "selftests", "no /selftests.list: %s", strerror(errno));
		return;
	}
	/* "<name> <ctty|-> [argument...]" */
	while (fgets(line, sizeof(line), f)) {
		char *args[32], *name, *opt, *save;
		int n = 1;

		name = strtok_r(line, " \t\n", &save);
		opt = strtok_r(NULL, " \t\n", &save);
		if (!name || !opt)
			continue;
		while (n < 31 && (args[n] = strtok_r(NULL, " \t\n", &save)))
			n++;
		args[n] = NULL;
		run_selftest(name, !strcmp(opt, "ctty"), args);
	}
	fclose(f);
}

struct counts {
	long task_work, worker, released;
};

static bool read_counts(const char *fn, struct counts *c)
{
	char name[128];
	struct counts cur;
	FILE *f = fopen(WATCH_PATH, "r");
	bool found = false;

	if (!f)
		return false;
	while (fscanf(f, "%127s %ld %ld %ld", name, &cur.task_work,
		      &cur.worker, &cur.released) == 4) {
		if (!strcmp(name, fn)) {
			*c = cur;
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Wait up to 10 s for every deferred release of FN to have run. */
static bool all_released(const char *fn, struct counts *c)
{
	for (int i = 0; i < 100; i++) {
		if (!read_counts(fn, c))
			return false;
		if (c->released == c->task_work + c->worker)
			return true;
		usleep(100000);
	}
	return false;
}

static bool load_watch(void)
{
	static const char params[] =
		"watch=release_one_tty,mmput_async_fn,free_user_ns";
	int fd = open("/kref_async_watch.ko", O_RDONLY | O_CLOEXEC);
	struct counts c;

	if (fd < 0 || syscall(SYS_finit_module, fd, params, 0))
		return check(false, "watch.load", "kref_async_watch.ko: %s",
			     strerror(errno));
	close(fd);
	return check(read_counts("free_user_ns", &c), "watch.load", "%s", params);
}

/*
 * tty: the last close(2) of a pty pair drops the ttys' last references
 * in release_tty(), from the closing task: each release must go to the
 * worker (kref_async_defer_worker()), never to that task's task_work,
 * and run.
 */
static void watch_tty(void)
{
	struct counts a, b;

	read_counts("release_one_tty", &a);
	for (int i = 0; i < 50; i++) {
		int m, s;

		if (openpty(&m, &s, NULL, NULL, NULL)) {
			check(false, "watch.tty-close", "openpty: %s", strerror(errno));
			return;
		}
		close(s);
		close(m);
	}
	read_counts("release_one_tty", &b);
	check(b.worker - a.worker >= 50 && b.task_work == a.task_work,
	      "watch.tty-close",
	      "50 pty pairs closed: %ld release_one_tty() deferred to the worker, %ld to task_work",
	      b.worker - a.worker, b.task_work - a.task_work);
	check(all_released("release_one_tty", &b), "watch.tty-none-lost",
	      "release_one_tty(): %ld + %ld deferred since load, %ld run",
	      b.task_work, b.worker, b.released);
}

/*
 * mm: a process that creates threads on a machine with more than four
 * CPUs has its private futex hash grown, and each replaced hash holds an
 * mm_users reference until futex_ref_rcu(), an RCU callback, drops it
 * with mmput_async().  A process that exits at once leaves that callback
 * the last reference: its mmput_async() must go to the worker, and run.
 */
static void *watch_mm_thread(void *arg)
{
	pause();
	return NULL;
}

static void watch_mm(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct counts a, b;
	int i;

	if (cpus <= 4) {
		printf("KTEST: SKIP watch.mm-rcu-callback (%ld CPUs online: the futex hash grows only with more than 4)\n",
		       cpus);
		return;
	}
	read_counts("mmput_async_fn", &a);
	for (i = 0; i < 100; i++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			pthread_t t;

			for (int j = 0; j < 16; j++)
				pthread_create(&t, NULL, watch_mm_thread, NULL);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		usleep(50000);
		read_counts("mmput_async_fn", &b);
		if (b.worker > a.worker)
			break;
	}
	check(b.worker > a.worker && b.task_work == a.task_work,
	      "watch.mm-rcu-callback",
	      "%d processes that grew their futex hash and exited: %ld mmput_async_fn() deferred to the worker, %ld to task_work",
	      i < 100 ? i + 1 : 100, b.worker - a.worker,
	      b.task_work - a.task_work);
	check(all_released("mmput_async_fn", &b), "watch.mm-none-lost",
	      "mmput_async_fn(): %ld + %ld deferred since load, %ld run",
	      b.task_work, b.worker, b.released);
}

/*
 * userns: once its only task is gone, the last reference to a user
 * namespace can be an nsfs file of it; closing that file must free the
 * namespace through task_work before close(2) returns.  The task's
 * credentials are put in an RCU callback, so a try whose close(2) comes
 * first is repeated.
 */
static void watch_userns(void)
{
	struct counts a, b;
	long early = 0, closes = 0;
	int i;

	for (i = 0; i < 20 && !closes; i++) {
		int pfd[2], ns;
		char path[64], c;
		pid_t pid;

		if (pipe(pfd))
			break;
		pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			if (unshare(CLONE_NEWUSER))
				_exit(1);
			write(pfd[1], "x", 1);
			pause();
			_exit(0);
		}
		close(pfd[1]);
		if (read(pfd[0], &c, 1) != 1) {
			close(pfd[0]);
			waitpid(pid, NULL, 0);
			check(false, "watch.userns-close", "unshare(CLONE_NEWUSER) failed in the child");
			return;
		}
		close(pfd[0]);
		snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* the credentials' RCU callbacks; each try waits longer */
		usleep(200000 * (i + 1));
		/* no release of an earlier try may land between a and b */
		all_released("free_user_ns", &a);
		close(ns);
		read_counts("free_user_ns", &b);
		if (b.task_work > a.task_work) {
			closes++;
			if (b.released - a.released < b.task_work - a.task_work)
				early++;
		}
	}
	check(closes && !early, "watch.userns-close",
	      "%d tries: %ld close(2) of the last nsfs file freed the namespace through task_work, %ld had not when close(2) returned",
	      i, closes, early);
	check(all_released("free_user_ns", &b), "watch.userns-none-lost",
	      "free_user_ns(): %ld + %ld deferred since load, %ld run",
	      b.task_work, b.worker, b.released);
}

/* What the selftests reached: a line for the harness, not a check. */
static void report_reached(void)
{
	static const char * const names[] = {
		"release_one_tty", "mmput_async_fn", "free_user_ns",
	};
	struct counts c;

	printf("USERS: reached by the selftests:");
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!all_released(names[i], &c) && !read_counts(names[i], &c))
			continue;
		printf(" %s %ld task_work + %ld worker, %ld run;", names[i],
		       c.task_work, c.worker, c.released);
	}
	printf("\n");
}

int main(void)
{
	bool watching;

	guest_init_console();
	mkdir("/dev/pts", 0755);
	mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666");
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	mkdir("/tmp", 01777);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);

	/* Loaded first, so that the selftests' own releases are counted. */
	watching = access("/kref_async_watch.ko", F_OK) == 0 && load_watch();
	run_selftests();
	if (watching) {
		report_reached();
		watch_tty();
		watch_mm();
		watch_userns();
	}
	printf("KTEST: DONE\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
