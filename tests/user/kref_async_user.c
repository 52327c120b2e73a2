// SPDX-License-Identifier: GPL-2.0-only
/*
 * kref_async_user.c - /init of the guest that tests kref_put_async() from
 * user space, through the test module tests/kmod/kref_async_test.ko.
 *
 * Mounts what it needs, loads the module, runs the cases, prints one line
 * per check:
 *
 *	KTEST: PASS <name> [(<what was seen>)]
 *	KTEST: FAIL <name>: <what was seen>
 *
 * then "KTEST: DONE", and powers the guest off.  harness/guest.sh builds
 * it with gcc -static and records every line as a check.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include "../guest_init.h"
#include "kref_async_test.h"

#define MODULE_PATH	"/" KREF_ASYNC_TEST_NAME ".ko"
#define VICTIM_NAME	"kref_async_victim"
#define NR_PENDING	64
#define NR_REPEAT	100

#define LOCKED	KREF_ASYNC_TEST_KIND_LOCKED
#define HOLD	KREF_ASYNC_TEST_KIND_HOLD
#define PENDING	KREF_ASYNC_TEST_KIND_PENDING
#define VHOST	KREF_ASYNC_TEST_KIND_VHOST

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int open_dev(void)
{
	return open(KREF_ASYNC_TEST_DEV, O_RDWR | O_CLOEXEC);
}

static int get_state(int fd, struct kref_async_test_state *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(fd, KREF_ASYNC_TEST_GET_STATE, st);
}

static long delete_module(unsigned int flags)
{
	return syscall(SYS_delete_module, KREF_ASYNC_TEST_NAME, flags);
}

/* The module's refcount from /proc/modules, -1 if it is not loaded. */
static int module_refcount(void)
{
	char line[512], name[64];
	int refs = -1, r;
	FILE *f = fopen("/proc/modules", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %*u %d", name, &r) == 2 &&
		    !strcmp(name, KREF_ASYNC_TEST_NAME)) {
			refs = r;
			break;
		}
	}
	fclose(f);
	return refs;
}

static bool setup_guest(void)
{
	static const struct {
		const char *src, *dir, *type;
	} mounts[] = {
		{ "proc", "/proc", "proc" },
		{ "sysfs", "/sys", "sysfs" },
		{ "devtmpfs", "/dev", "devtmpfs" },
		{ "debugfs", "/sys/kernel/debug", "debugfs" },
	};
	char failed[256] = "";
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(mounts); i++) {
		mkdir(mounts[i].dir, 0755);
		if (mount(mounts[i].src, mounts[i].dir, mounts[i].type, 0, NULL) &&
		    errno != EBUSY && !*failed)
			snprintf(failed, sizeof(failed), "mount %s: %s",
				 mounts[i].dir, strerror(errno));
	}
	/* Without /dev/console in the initramfs, stdout goes nowhere. */
	if (fcntl(1, F_GETFD) < 0) {
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check(!*failed, "setup.mounts", "%s",
		     *failed ? failed : "proc, sysfs, devtmpfs, debugfs");
}

static bool load_module(void)
{
	int fd, i;

	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return check(false, "setup.load-module", "open %s: %s",
			     MODULE_PATH, strerror(errno));
	if (syscall(SYS_finit_module, fd, "", 0)) {
		check(false, "setup.load-module", "finit_module: %s",
		      strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	for (i = 0; i < 50 && access(KREF_ASYNC_TEST_DEV, F_OK); i++)
		usleep(100000);
	return check(!access(KREF_ASYNC_TEST_DEV, F_OK), "setup.load-module",
		     "%s, refcount %d", KREF_ASYNC_TEST_DEV,
		     module_refcount());
}

/*
 * (1) A final put made by this task inside a system call, under the
 * module's mutex, must be released before the call returns to user space,
 * in this task, with its mm, and with no lock held.
 */
static void test_task_work(void)
{
	struct kref_async_test_state before, after;
	struct kref_async_test_kind_state *b, *a;
	pid_t tid = gettid();
	unsigned int created, released;
	int fd, i;

	fd = open_dev();
	if (fd < 0) {
		check(false, "task_work", "open %s: %s", KREF_ASYNC_TEST_DEV,
		      strerror(errno));
		return;
	}
	if (get_state(fd, &before) ||
	    ioctl(fd, KREF_ASYNC_TEST_PUT_UNDER_LOCK) ||
	    get_state(fd, &after)) {
		check(false, "task_work", "ioctl: %s", strerror(errno));
		close(fd);
		return;
	}
	b = &before.kind[LOCKED];
	a = &after.kind[LOCKED];
	created = a->created - b->created;
	released = a->released - b->released;

	check(created == 1 && released == 1, "task_work.released-once",
	      "%u created, %u released when the ioctl returned",
	      created, released);
	check(a->released_in_put == b->released_in_put,
	      "task_work.not-in-ioctl", "%s",
	      a->released_in_put == b->released_in_put ?
	      "not yet released when the put returned" :
	      "released inside the ioctl, before the put returned");
	if (!released) {
		check(false, "task_work.context", "the release never ran");
	} else {
		check(a->put_tid == tid && a->release_tid == tid,
		      "task_work.same-task",
		      "put in tid %d, released in tid %d, caller tid %d",
		      a->put_tid, a->release_tid, tid);
		check(a->flags & KREF_ASYNC_TEST_SAME_MM, "task_work.same-mm",
		      "release ran %s the caller's mm",
		      a->flags & KREF_ASYNC_TEST_SAME_MM ? "with" : "without");
		check(!(a->flags & KREF_ASYNC_TEST_PUT_LOCKED),
		      "task_work.mutex-unlocked", "module mutex %s",
		      a->flags & KREF_ASYNC_TEST_PUT_LOCKED ?
		      "locked during the release" : "unlocked");
		if (a->lockdep_depth < 0)
			check(false, "task_work.no-locks-held",
			      "kernel without CONFIG_LOCKDEP, cannot tell");
		else
			check(a->lockdep_depth == 0, "task_work.no-locks-held",
			      "lockdep_depth %d in the release",
			      a->lockdep_depth);
		check((a->flags & KREF_ASYNC_TEST_IN_TASK) &&
		      !(a->flags & KREF_ASYNC_TEST_KTHREAD),
		      "task_work.in-task", "in_task() %d, kthread %d",
		      !!(a->flags & KREF_ASYNC_TEST_IN_TASK),
		      !!(a->flags & KREF_ASYNC_TEST_KTHREAD));
	}

	/* The same, many times: each release must be done by each return. */
	before = after;
	for (i = 0; i < NR_REPEAT; i++) {
		if (ioctl(fd, KREF_ASYNC_TEST_PUT_UNDER_LOCK) ||
		    get_state(fd, &after) ||
		    after.kind[LOCKED].released - b->released != (unsigned int)i + 1)
			break;
	}
	get_state(fd, &after);
	check(i == NR_REPEAT &&
	      after.kind[LOCKED].released_in_put == b->released_in_put &&
	      after.kind[LOCKED].released_in_wrong_task ==
	      b->released_in_wrong_task,
	      "task_work.repeat",
	      "%d of %d puts released by their return, %u inside the put, %u in another task",
	      i, NR_REPEAT,
	      after.kind[LOCKED].released_in_put - b->released_in_put,
	      after.kind[LOCKED].released_in_wrong_task -
	      b->released_in_wrong_task);
	close(fd);
}

/*
 * A vhost task (PF_USER_WORKER) is a thread of this process that never
 * returns to user space: it runs task work only when it exits, so its
 * final put must go to the worker, and be released while the vhost task
 * still runs.
 */
static void test_vhost(void)
{
	struct kref_async_test_state before, after;
	struct kref_async_test_kind_state *b, *a;
	long ret;
	int fd;

	fd = open_dev();
	if (fd < 0) {
		check(false, "vhost", "open %s: %s", KREF_ASYNC_TEST_DEV,
		      strerror(errno));
		return;
	}
	if (get_state(fd, &before)) {
		check(false, "vhost", "GET_STATE: %s", strerror(errno));
		close(fd);
		return;
	}
	ret = ioctl(fd, KREF_ASYNC_TEST_PUT_FROM_VHOST);
	check(!ret, "vhost.released-while-running", "%s",
	      !ret ? "released by the worker while the vhost task ran" :
	      errno == ETIME ? "not released while the vhost task ran" :
	      strerror(errno));
	if (get_state(fd, &after)) {
		check(false, "vhost.context", "GET_STATE: %s", strerror(errno));
		close(fd);
		return;
	}
	b = &before.kind[VHOST];
	a = &after.kind[VHOST];
	check(a->created - b->created == 1 && a->released - b->released == 1 &&
	      a->released_in_put == b->released_in_put &&
	      a->released_in_wrong_task == b->released_in_wrong_task &&
	      (a->flags & KREF_ASYNC_TEST_KTHREAD),
	      "vhost.context",
	      "%u created, %u released, %u inside the put, %u in the vhost task; last put in tid %d, released in tid %d%s",
	      a->created - b->created, a->released - b->released,
	      a->released_in_put - b->released_in_put,
	      a->released_in_wrong_task - b->released_in_wrong_task,
	      a->put_tid, a->release_tid,
	      a->flags & KREF_ASYNC_TEST_KTHREAD ? " (a kthread)" : "");
	close(fd);
}

/*
 * io_uring's SQPOLL thread (a user worker, PF_USER_WORKER | PF_IO_WORKER)
 * closes a file that holds the last reference (IORING_OP_CLOSE).  It
 * runs the file's __fput() as task work with its sqd->lock held, so the
 * final put in the test module's ->release() must go to the worker, not
 * to the SQPOLL thread's own task work, which would run it under that
 * lock.
 */
struct sqpoll_ring {
	int fd;
	void *sq, *cq;
	struct io_uring_sqe *sqes;
	size_t sq_len, cq_len, sqes_len;
	struct io_uring_params p;
};

static void sqpoll_close_ring(struct sqpoll_ring *r)
{
	if (r->sqes && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->cq && r->cq != MAP_FAILED)
		munmap(r->cq, r->cq_len);
	if (r->sq && r->sq != MAP_FAILED)
		munmap(r->sq, r->sq_len);
	close(r->fd);
}

/* Set up a ring with an SQPOLL thread; NULL or the error. */
static const char *sqpoll_open_ring(struct sqpoll_ring *r)
{
	memset(r, 0, sizeof(*r));
	r->p.flags = IORING_SETUP_SQPOLL;
	r->p.sq_thread_idle = 1000;
	r->fd = syscall(__NR_io_uring_setup, 4, &r->p);
	if (r->fd < 0)
		return "io_uring_setup";
	r->sq_len = r->p.sq_off.array + r->p.sq_entries * sizeof(__u32);
	r->cq_len = r->p.cq_off.cqes +
		    r->p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = r->p.sq_entries * sizeof(struct io_uring_sqe);
	r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	r->cq = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return "mmap";
	return NULL;
}

/*
 * Close @fd from the SQPOLL thread and wait for the completion: NULL with
 * its result in *@res, or what failed.
 */
static const char *sqpoll_close_fd(struct sqpoll_ring *r, int fd, int *res)
{
	unsigned int *sq_tail = r->sq + r->p.sq_off.tail;
	unsigned int *sq_mask = r->sq + r->p.sq_off.ring_mask;
	unsigned int *sq_flags = r->sq + r->p.sq_off.flags;
	unsigned int *sq_array = r->sq + r->p.sq_off.array;
	unsigned int *cq_head = r->cq + r->p.cq_off.head;
	unsigned int *cq_tail = r->cq + r->p.cq_off.tail;
	unsigned int *cq_mask = r->cq + r->p.cq_off.ring_mask;
	struct io_uring_cqe *cqes = r->cq + r->p.cq_off.cqes;
	unsigned int tail = *sq_tail, head, flags = IORING_ENTER_GETEVENTS;
	struct io_uring_sqe *sqe = &r->sqes[tail & *sq_mask];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_CLOSE;
	sqe->fd = fd;
	sqe->user_data = 1;
	sq_array[tail & *sq_mask] = tail & *sq_mask;
	__atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
	/* Ordered after the tail's store, as liburing does. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(sq_flags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP)
		flags |= IORING_ENTER_SQ_WAKEUP;
	if (syscall(__NR_io_uring_enter, r->fd, 0, 1, flags, NULL, 0) < 0)
		return "io_uring_enter";
	head = *cq_head;
	if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
		return "no completion";
	*res = cqes[head & *cq_mask].res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_sqpoll(void)
{
	struct kref_async_test_state before, after;
	struct kref_async_test_kind_state *b, *a;
	const char *why = NULL;
	struct sqpoll_ring r;
	int fd, sfd, res = 0, i;

	sfd = open_dev();
	fd = open_dev();
	if (sfd < 0 || fd < 0 || get_state(sfd, &before) ||
	    ioctl(fd, KREF_ASYNC_TEST_HOLD)) {
		check(false, "sqpoll", "open, GET_STATE or HOLD: %s",
		      strerror(errno));
		goto out;
	}
	why = sqpoll_open_ring(&r);
	if (!why)
		why = sqpoll_close_fd(&r, fd, &res);
	if (why) {
		check(false, "sqpoll", "%s: %s", why, strerror(errno));
		sqpoll_close_ring(&r);
		goto out;
	}
	if (!res)
		fd = -1;
	/* The __fput() runs after the completion: wait for the release. */
	for (i = 0; i < 1000; i++) {
		if (get_state(sfd, &after))
			break;
		if (after.kind[HOLD].released != before.kind[HOLD].released)
			break;
		usleep(10000);
	}
	sqpoll_close_ring(&r);
	b = &before.kind[HOLD];
	a = &after.kind[HOLD];
	check(!res && a->released - b->released == 1 &&
	      a->released_in_wrong_task == b->released_in_wrong_task &&
	      (a->flags & KREF_ASYNC_TEST_KTHREAD),
	      "sqpoll.worker",
	      "IORING_OP_CLOSE: %d; %u released, %u in the SQPOLL thread; last put in tid %d, released in tid %d%s",
	      res, a->released - b->released,
	      a->released_in_wrong_task - b->released_in_wrong_task,
	      a->put_tid, a->release_tid,
	      a->flags & KREF_ASYNC_TEST_KTHREAD ? " (a kthread)" : "");
out:
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
}

/*
 * (2) A child holds the last reference through its open file and dies
 * (SIGKILL, or a plain exit) without closing it: the put comes from its
 * exit path, and the release must be done by the time waitpid() returns.
 */
static void test_exit(bool kill_child)
{
	const char *what = kill_child ? "exit-kill" : "exit-normal";
	struct kref_async_test_state before, after;
	struct kref_async_test_kind_state *b, *a;
	unsigned int created, released;
	char name[64], c;
	int fd, p[2], status = 0;
	ssize_t got;
	pid_t pid;

	fd = open_dev();
	if (fd < 0 || get_state(fd, &before) || pipe2(p, O_CLOEXEC)) {
		check(false, what, "setup: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int cfd = open_dev();

		if (cfd < 0 || ioctl(cfd, KREF_ASYNC_TEST_HOLD))
			_exit(2);
		if (write(p[1], "h", 1) != 1)
			_exit(3);
		while (kill_child)
			pause();
		_exit(0);	/* cfd is still open */
	}
	close(p[1]);
	got = pid > 0 ? read(p[0], &c, 1) : -1;
	if (got == 1 && kill_child)
		kill(pid, SIGKILL);
	if (pid > 0)
		waitpid(pid, &status, 0);
	close(p[0]);
	if (got != 1) {
		check(false, what, "the child could not HOLD (status 0x%x)",
		      status);
		close(fd);
		return;
	}
	get_state(fd, &after);
	close(fd);
	b = &before.kind[HOLD];
	a = &after.kind[HOLD];
	created = a->created - b->created;
	released = a->released - b->released;

	snprintf(name, sizeof(name), "%s.released-once", what);
	check(created == 1 && released == 1, name,
	      "%u created, %u released when waitpid returned, child %s %d",
	      created, released,
	      WIFSIGNALED(status) ? "killed by signal" : "exited with",
	      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (!released)
		return;
	snprintf(name, sizeof(name), "%s.same-task", what);
	check(a->release_tid == pid && a->put_tid == pid, name,
	      "put in tid %d, released in tid %d, child was %d",
	      a->put_tid, a->release_tid, pid);
	snprintf(name, sizeof(name), "%s.no-locks-held", what);
	check(a->lockdep_depth == 0 &&
	      !(a->flags & KREF_ASYNC_TEST_PUT_LOCKED) &&
	      (a->flags & KREF_ASYNC_TEST_IN_TASK), name,
	      "lockdep_depth %d, module mutex %s, in_task() %d",
	      a->lockdep_depth,
	      a->flags & KREF_ASYNC_TEST_PUT_LOCKED ? "locked" : "unlocked",
	      !!(a->flags & KREF_ASYNC_TEST_IN_TASK));
}

/*
 * (3) Releases queued from a kthread wait in the worker: while they do,
 * the module that holds their release function must not unload, even
 * with no file open; once they have run, it must.
 */
static void test_unload(void)
{
	struct kref_async_test_state before, st;
	struct kref_async_test_kind_state *b, *k;
	unsigned int n = NR_PENDING, created, released;
	int fd, refs, err, i;
	long r;

	fd = open_dev();
	if (fd < 0 || get_state(fd, &before)) {
		check(false, "unload", "setup: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	b = &before.kind[PENDING];
	k = &st.kind[PENDING];
	r = ioctl(fd, KREF_ASYNC_TEST_QUEUE_PENDING, &n);
	err = errno;
	get_state(fd, &st);
	created = k->created - b->created;
	released = k->released - b->released;
	check(!r && created == NR_PENDING && !released &&
	      k->released_in_put == b->released_in_put,
	      "unload.queue-pending",
	      "QUEUE_PENDING(%d): %s; %u created, %u released with the gate closed, %u inside the put",
	      NR_PENDING, r ? strerror(err) : "ok", created, released,
	      k->released_in_put - b->released_in_put);
	close(fd);

	/* Only the pending releases keep the module now. */
	refs = module_refcount();
	r = delete_module(O_NONBLOCK);
	err = errno;
	if (!check(r && (err == EWOULDBLOCK || err == EBUSY),
		   "unload.blocked-while-pending",
		   "delete_module with %u releases pending and no file open: %s (refcount was %d)",
		   created - released, r ? strerror(err) : "unloaded", refs)) {
		check(false, "unload.released-after-flush",
		      "the module was unloaded under its pending releases");
		return;
	}

	fd = open_dev();
	if (fd < 0) {
		check(false, "unload.released-after-flush", "reopen: %s",
		      strerror(errno));
		return;
	}
	if (ioctl(fd, KREF_ASYNC_TEST_OPEN_GATE) ||
	    ioctl(fd, KREF_ASYNC_TEST_FLUSH) || get_state(fd, &st)) {
		check(false, "unload.released-after-flush", "ioctl: %s",
		      strerror(errno));
	} else {
		created = k->created - b->created;
		released = k->released - b->released;
		check(created == NR_PENDING && released == created &&
		      !st.gate_timeouts && st.errors == before.errors &&
		      k->released_in_wrong_task == b->released_in_wrong_task,
		      "unload.released-after-flush",
		      "%u created, %u released after OPEN_GATE + FLUSH, %u gate timeouts, %u errors, %u in the putting kthread",
		      created, released, st.gate_timeouts,
		      st.errors - before.errors,
		      k->released_in_wrong_task - b->released_in_wrong_task);
	}
	close(fd);

	for (i = 1; i <= 20; i++) {
		r = delete_module(O_NONBLOCK);
		err = errno;
		if (!r || (err != EWOULDBLOCK && err != EBUSY))
			break;
		usleep(100000);
	}
	check(!r && module_refcount() < 0, "unload.after-release",
	      "delete_module: %s after %d tries", r ? strerror(err) : "ok",
	      i > 20 ? 20 : i);
}

/* Load /@name.ko with @params: 0 or the errno. */
static int load_ko(const char *name, const char *params)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/%s.ko", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (syscall(SYS_finit_module, fd, params, 0))
		err = errno;
	close(fd);
	return err;
}

/* Unload @name without waiting: 0 or the errno (EWOULDBLOCK: in use). */
static int unload_ko(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? errno : 0;
}

static int load_victim(const char *params)
{
	return load_ko(VICTIM_NAME, params);
}

static int unload_victim(void)
{
	return unload_ko(VICTIM_NAME);
}

/*
 * Read the next record of /dev/kmsg on @fd into @rec: its message text
 * in *@msg, 1; 0 at the end, -1 on an error.
 */
static int kmsg_next(int fd, char *rec, size_t size, char **msg)
{
	ssize_t len;
	char *nl;

	do
		len = read(fd, rec, size - 1);
	while (len < 0 && errno == EPIPE);	/* records overwritten meanwhile */
	if (len < 0)
		return errno == EAGAIN ? 0 : -1;
	if (!len)
		return 0;
	rec[len] = '\0';
	*msg = strchr(rec, ';');
	*msg = *msg ? *msg + 1 : rec;
	nl = strchr(*msg, '\n');
	if (nl)
		*nl = '\0';
	return 1;
}

/* Has the kernel log a message that contains @text? */
static bool kmsg_has(const char *text)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	bool found = false;
	char rec[8192], *msg;

	if (fd < 0)
		return false;
	while (!found && kmsg_next(fd, rec, sizeof(rec), &msg) > 0)
		found = strstr(msg, text);
	close(fd);
	return found;
}

/*
 * Releases of kref_async_victim.ko that have run, -1 on error; with
 * @in_worker, only those that ran in a workqueue worker.
 */
static long victim_released(bool in_worker)
{
	struct kref_async_test_state st;
	int fd = open_dev();
	long n = -1;

	if (fd >= 0 && !get_state(fd, &st))
		n = in_worker ? st.victim_in_worker : st.victim_released;
	if (fd >= 0)
		close(fd);
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Module lifetimes.  A module whose init makes a final put of its own
 * object and then fails: the loader frees it whatever its refcount, so
 * the release must have run by then, not on this task's way back to user
 * space.  A module whose exit puts X, whose release puts Y: both must
 * have run before the module is freed.  Either release run later executes
 * freed text, and the guest panics.
 */
static void test_module_lifetimes(void)
{
	long before = victim_released(false), after;
	long wbefore = victim_released(true), wafter;
	int err;

	/*
	 * Run by this task's task_work, the release would run after the
	 * module is freed, on the way back from finit_module(): it must have
	 * run in a worker before that.
	 */
	err = load_victim("mode=1");
	after = victim_released(false);
	wafter = victim_released(true);
	check(err == ENOEXEC && before >= 0 && after == before + 1 &&
	      wafter == wbefore + 1,
	      "module.init-fails",
	      "finit_module: %s; %ld release(s) of the failed module ran before it returned, %ld in a worker",
	      strerror(err), after - before, wafter - wbefore);

	before = victim_released(false);
	err = load_victim("mode=2");
	if (!check(!err, "module.exit-chain.load", "finit_module: %s",
		   strerror(err)))
		return;
	err = unload_victim();
	after = victim_released(false);
	check(!err && after == before + 1, "module.exit-chain",
	      "delete_module: %s; %ld of 1 chained release(s) ran before it returned",
	      strerror(err), after - before);
}

/*
 * A final put that the module's own async function makes after the
 * module's GOING notification has waited for its releases (mode=3):
 * delete_module() waits for async functions only after the notifiers,
 * and frees the module next.  The put must be refused with a warning: a
 * release queued then would run in freed text (it sleeps first, so that
 * it faults rather than slips through before the module is freed).
 */
#define LATE_PUT_WARNING	"put after its module's releases were waited for"

static void test_module_late_put(void)
{
	long before = victim_released(false), after;
	int err, fd;

	err = load_victim("mode=3");
	if (!check(!err, "module.late-put.load", "finit_module: %s",
		   strerror(err)))
		return;
	err = unload_victim();
	/* What the worker was given has run once the flush returns. */
	fd = open_dev();
	if (fd >= 0) {
		ioctl(fd, KREF_ASYNC_TEST_FLUSH);
		close(fd);
	}
	usleep(300 * 1000);
	after = victim_released(false);
	check(!err && before >= 0 && after == before &&
	      kmsg_has(LATE_PUT_WARNING),
	      "module.late-put",
	      "delete_module: %s; %ld release(s) of the unloaded module ran; the warning %s",
	      strerror(err), after - before,
	      kmsg_has(LATE_PUT_WARNING) ? "was printed" : "is missing");
}

/*
 * Unloading a module waits for its own pending releases only: with a
 * release of kref_async_test.ko blocked in a worker, kref_async_victim.ko
 * (which has none) must unload at once.  A child opens the gate after
 * GATE_DELAY seconds, so that a loader that waits for every module's
 * releases shows as a slow unload rather than a hang.
 */
#define GATE_DELAY	4

static void test_module_unrelated_unload(void)
{
	unsigned int n = 1;
	double t0, elapsed;
	int fd, err, status;
	pid_t child;

	fd = open_dev();
	if (fd < 0 || ioctl(fd, KREF_ASYNC_TEST_QUEUE_PENDING, &n)) {
		check(false, "module.unrelated-unload", "QUEUE_PENDING: %s",
		      strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	err = load_victim("mode=0");
	if (err) {
		check(false, "module.unrelated-unload", "finit_module: %s",
		      strerror(err));
		ioctl(fd, KREF_ASYNC_TEST_OPEN_GATE);
		close(fd);
		return;
	}
	child = fork();
	if (!child) {
		sleep(GATE_DELAY);
		ioctl(fd, KREF_ASYNC_TEST_OPEN_GATE);
		_exit(0);
	}
	t0 = now_s();
	err = unload_victim();
	elapsed = now_s() - t0;
	check(!err && elapsed < 1.0, "module.unrelated-unload",
	      "delete_module of a module with no releases: %s after %.2f s, with one of another module blocked for %d s",
	      strerror(err), elapsed, GATE_DELAY);
	if (child > 0)
		waitpid(child, &status, 0);
	else
		ioctl(fd, KREF_ASYNC_TEST_OPEN_GATE);
	ioctl(fd, KREF_ASYNC_TEST_FLUSH);
	close(fd);
}

/*
 * Two modules' releases in one batch of the worker: each module's unload
 * is refused while its own releases are pending and goes through once
 * they have returned, whatever the other's are doing.  PAIR_QUEUE puts
 * NR_PAIR objects of each pair module on CPU 1, those of @first first;
 * the batch runs newest first, so the other module's releases run first.
 * The batch is pinned through @first, the module of its oldest release,
 * which is also the last to run; the other's releases keep their module
 * each, and it must unload while @first's releases are still blocked.
 * Run for @first = b (unload a, then b) and @first = a (b, then a).
 */
#define NR_PAIR		4

static const char *const pair_names[KREF_ASYNC_TEST_PAIRS] = {
	"kref_async_pair_a", "kref_async_pair_b",
};

/* One ioctl on a file of its own: 0 or the errno. */
static int pair_ioctl(unsigned long cmd, void *arg)
{
	int fd = open_dev(), err = 0;

	if (fd < 0 || ioctl(fd, cmd, arg))
		err = errno;
	if (fd >= 0)
		close(fd);
	return err;
}

static int pair_state(struct kref_async_test_pair_state *st)
{
	return pair_ioctl(KREF_ASYNC_TEST_PAIR_STATE, st);
}

/* Wait up to 20 s until @pair's releases number @want. */
static bool pair_wait_released(unsigned int pair, unsigned int want)
{
	struct kref_async_test_pair_state st;
	int i;

	for (i = 0; i < 1000; i++) {
		if (pair_state(&st))
			return false;
		if (st.released[pair] >= want)
			return true;
		usleep(20000);
	}
	return false;
}

/* Unload @name, retrying for up to 2 s while it is in use. */
static int pair_unload(const char *name)
{
	int i, err = 0;

	for (i = 0; i < 100; i++) {
		err = unload_ko(name);
		if (err != EWOULDBLOCK && err != EBUSY)
			break;
		usleep(20000);
	}
	return err;
}

static void test_module_pair(unsigned int first)
{
	struct kref_async_test_pair_queue q = {
		.cpu = 1, .first = first, .n = NR_PAIR,
	};
	unsigned int other = !first, p, i;
	const char *fname = pair_names[first], *oname = pair_names[other];
	struct kref_async_test_pair_state st = { 0 };
	char name[48], expect[2 * NR_PAIR + 1];
	unsigned int base[KREF_ASYNC_TEST_PAIRS];
	int err, err_f, err_o;
	bool ran;

#define PAIR_CHECK(ok, what, ...) \
	(snprintf(name, sizeof(name), "module.pair-%c-first.%s", \
		  'a' + first, what), check(ok, name, __VA_ARGS__))

	for (p = 0; p < KREF_ASYNC_TEST_PAIRS; p++) {
		err = load_ko(pair_names[p], "");
		if (err) {
			PAIR_CHECK(false, "load", "finit_module %s: %s",
				   pair_names[p], strerror(err));
			if (p)
				unload_ko(pair_names[0]);
			return;
		}
	}
	err = pair_state(&st);
	for (p = 0; p < KREF_ASYNC_TEST_PAIRS; p++)
		base[p] = st.released[p];
	if (!err)
		err = pair_ioctl(KREF_ASYNC_TEST_PAIR_QUEUE, &q);
	if (err) {
		PAIR_CHECK(false, "queue", "PAIR_QUEUE: %s", strerror(err));
		unload_ko(fname);
		unload_ko(oname);
		return;
	}

	/* Both are pinned by their own pending releases. */
	err_f = unload_ko(fname);
	err_o = unload_ko(oname);
	PAIR_CHECK(err_f == EWOULDBLOCK && err_o == EWOULDBLOCK, "refused",
		   "with all %u releases of each pending: delete_module %s: %s, %s: %s",
		   NR_PAIR, fname, strerror(err_f), oname, strerror(err_o));

	/*
	 * The other module's releases run, then the batch blocks in
	 * @first's: the other unloads, @first may not.
	 */
	pair_ioctl(KREF_ASYNC_TEST_PAIR_OPEN, &other);
	ran = pair_wait_released(other, base[other] + NR_PAIR);
	err_o = ran ? pair_unload(oname) : ETIME;
	err_f = unload_ko(fname);
	pair_state(&st);
	PAIR_CHECK(!err_o && err_f == EWOULDBLOCK &&
		   st.released[first] == base[first],
		   "other-unloads",
		   "%s's releases %s; delete_module %s: %s, then %s, with its %u releases blocked: %s",
		   oname, ran ? "ran" : "did not run", oname, strerror(err_o),
		   fname, st.created[first] - st.released[first],
		   strerror(err_f));

	pair_ioctl(KREF_ASYNC_TEST_PAIR_OPEN, &first);
	ran = pair_wait_released(first, base[first] + NR_PAIR);
	err_f = ran ? pair_unload(fname) : ETIME;
	PAIR_CHECK(!err_f, "first-unloads",
		   "%s's releases %s; delete_module %s: %s",
		   fname, ran ? "ran" : "did not run", fname, strerror(err_f));
	/* Not to leave a module behind for the next run. */
	if (err_o)
		pair_unload(oname);

	pair_state(&st);
	for (i = 0; i < 2 * NR_PAIR; i++)
		expect[i] = 'a' + (i < NR_PAIR ? other : first);
	expect[i] = 0;
	PAIR_CHECK(!strcmp(st.order, expect) && st.tasks == 1 &&
		   !st.gate_timeouts, "one-batch",
		   "releases ran in the order %s (one batch, newest first: %s) in %u task(s); %u gate timeouts",
		   st.order, expect, st.tasks, st.gate_timeouts);
#undef PAIR_CHECK
}

/*
 * (4) The same, NR_CYCLES times over: load, queue releases from a kthread,
 * see the unload refused, let the releases run, unload.  Every cycle must
 * release all it created and leave the module gone (its exit warns
 * otherwise, which check_kmsg() would report).
 */
#define NR_CYCLES		100
#define NR_CYCLE_PENDING	8

static const char *unload_cycle(void)
{
	static char why[160];
	struct kref_async_test_state st;
	unsigned int n = NR_CYCLE_PENDING;
	int fd, i;
	long r;

	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
		return "load failed";
	close(fd);
	for (i = 0; i < 50 && access(KREF_ASYNC_TEST_DEV, F_OK); i++)
		usleep(20000);
	fd = open_dev();
	if (fd < 0 || ioctl(fd, KREF_ASYNC_TEST_QUEUE_PENDING, &n))
		return "QUEUE_PENDING failed";
	close(fd);
	if (!delete_module(O_NONBLOCK))
		return "unloaded with releases pending";
	if (errno != EWOULDBLOCK && errno != EBUSY)
		return "delete_module failed oddly while pending";
	fd = open_dev();
	if (fd < 0 || ioctl(fd, KREF_ASYNC_TEST_OPEN_GATE) ||
	    ioctl(fd, KREF_ASYNC_TEST_FLUSH) || get_state(fd, &st))
		return "OPEN_GATE/FLUSH/GET_STATE failed";
	close(fd);
	if (st.created != NR_CYCLE_PENDING || st.released != st.created ||
	    st.gate_timeouts || st.errors) {
		snprintf(why, sizeof(why),
			 "%u created, %u released, %u gate timeouts, %u errors",
			 st.created, st.released, st.gate_timeouts, st.errors);
		return why;
	}
	for (i = 0; i < 50; i++) {
		r = delete_module(O_NONBLOCK);
		if (!r)
			return NULL;
		if (errno != EWOULDBLOCK && errno != EBUSY)
			break;
		usleep(20000);
	}
	return "no unload after the releases ran";
}

static void test_unload_cycles(void)
{
	const char *why = NULL;
	int c;

	for (c = 0; c < NR_CYCLES && !why; c++)
		why = unload_cycle();
	check(!why, "unload.cycles",
	      "%d load/unload cycles with %d releases pending each%s%s",
	      why ? c - 1 : c, NR_CYCLE_PENDING, why ? ", then: " : "",
	      why ? why : "");
}

/*
 * Lockdep, DEBUG_ATOMIC_SLEEP and WARN_ON() all report through printk.
 * A test that provokes one prints "... is expected next" before it, which
 * excuses one report, as harness/logscan.py does.
 */
static void check_kmsg(void)
{
	static const char *const reports[] = {
		"WARNING:", "BUG:", "Oops", "possible circular locking",
		"possible recursive locking", "inconsistent lock state",
		"Kernel panic",
	};
	char rec[8192], first[256] = "", *msg;
	unsigned int records = 0, hits = 0, excused = 0, expected = 0;
	size_t i;
	int fd, ret;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		check(false, "kmsg", "open /dev/kmsg: %s", strerror(errno));
		return;
	}
	while ((ret = kmsg_next(fd, rec, sizeof(rec), &msg)) > 0) {
		records++;
		if (strstr(msg, "is expected next")) {
			expected++;
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(reports); i++) {
			if (!strstr(msg, reports[i]))
				continue;
			if (expected) {
				expected--;
				excused++;
			} else if (!hits++) {
				snprintf(first, sizeof(first), "%.200s", msg);
			}
			break;
		}
	}
	if (ret < 0)
		check(false, "kmsg", "read /dev/kmsg: %s", strerror(errno));
	else
		check(!hits && records, "kmsg",
		      "%u records, %u reports (%u expected)%s%s", records,
		      hits, excused, hits ? ", first: " : "", first);
	close(fd);
}

int main(void)
{
	if (setup_guest() && load_module()) {
		test_task_work();
		test_vhost();
		test_sqpoll();
		test_exit(true);
		test_exit(false);
		test_module_lifetimes();
		test_module_late_put();
		test_module_unrelated_unload();
		test_module_pair(1);
		test_module_pair(0);
		test_unload();
		test_unload_cycles();
	}
	check_kmsg();
	printf("KTEST: DONE\n");
	fflush(stdout);
	sync();

	reboot(RB_POWER_OFF);
	/* Only if powering off failed; QEMU runs with -no-reboot. */
	printf("kref_async_user: power off: %s\n", strerror(errno));
	fflush(stdout);
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
