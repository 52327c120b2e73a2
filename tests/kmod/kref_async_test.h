/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kref_async_test.h - ioctl ABI of /dev/kref_async_test
 *
 * Shared by the test-only module tests/kmod/kref_async_test.c and the
 * guest's /init, tests/user/kref_async_user.c.  Not a kernel ABI: both
 * sides are always built together.
 */

#ifndef _KREF_ASYNC_TEST_H
#define _KREF_ASYNC_TEST_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KREF_ASYNC_TEST_NAME		"kref_async_test"
#define KREF_ASYNC_TEST_DEV		"/dev/kref_async_test"
#define KREF_ASYNC_TEST_MAX_PENDING	4096

/* Objects by the way their last reference is dropped. */
enum kref_async_test_kind {
	KREF_ASYNC_TEST_KIND_LOCKED,	/* PUT_UNDER_LOCK */
	KREF_ASYNC_TEST_KIND_HOLD,	/* HOLD: dropped when the file goes */
	KREF_ASYNC_TEST_KIND_PENDING,	/* QUEUE_PENDING: put by a kthread */
	KREF_ASYNC_TEST_KIND_VHOST,	/* PUT_FROM_VHOST: put by a vhost task */
	KREF_ASYNC_TEST_NR_KINDS,
};

/*
 * What the last release of a kind saw, in kref_async_test_kind_state.flags
 * (no BIT(): user space includes this file too).
 */
#define KREF_ASYNC_TEST_IN_TASK		0x1 /* in_task() */
#define KREF_ASYNC_TEST_SAME_MM		0x2 /* mm of the final put */
#define KREF_ASYNC_TEST_PUT_LOCKED	0x4 /* put lock was held */
#define KREF_ASYNC_TEST_KTHREAD		0x8 /* ran in a kthread */

/**
 * struct kref_async_test_kind_state - counters and facts of one kind
 * @created: objects created
 * @released: release functions that have finished
 * @released_in_put: final puts after which the release had already run,
 *	seen by the putter before it returned (or dropped the put lock)
 * @released_in_wrong_task: releases of a user task's put that ran in
 *	another task, or of a kthread's or user worker's (vhost, io_uring)
 *	put that ran in that same task
 * @put_tid: task that made the final put of the last released object
 * @release_tid: task the release of that object ran in
 * @flags: KREF_ASYNC_TEST_* seen by that release
 * @lockdep_depth: locks that release held when called, -1 if the kernel
 *	has no lockdep
 */
struct kref_async_test_kind_state {
	__u32 created;
	__u32 released;
	__u32 released_in_put;
	__u32 released_in_wrong_task;
	__s32 put_tid;
	__s32 release_tid;
	__u32 flags;
	__s32 lockdep_depth;
};

/**
 * struct kref_async_test_state - all that the module recorded
 * @created: objects created, all kinds
 * @released: releases finished, all kinds
 * @released_in_wrong_task: sum of the kinds' counters
 * @errors: gate timeouts and failed allocations
 * @gate_timeouts: pending releases that gave up waiting for OPEN_GATE
 * @victim_released: releases of kref_async_victim.ko that have run
 * @kind: per kind, indexed by enum kref_async_test_kind
 * @victim_in_worker: those of them that ran in a workqueue worker
 * @pad: zero
 */
struct kref_async_test_state {
	__u32 created;
	__u32 released;
	__u32 released_in_wrong_task;
	__u32 errors;
	__u32 gate_timeouts;
	__u32 victim_released;
	struct kref_async_test_kind_state kind[KREF_ASYNC_TEST_NR_KINDS];
	__u32 victim_in_worker;
	__u32 pad;
};

/* 0xB0 is set aside for devices in development (ioctl-number.rst). */
#define KREF_ASYNC_TEST_IOC		0xB0

/* Drop the last reference of a new object under the module's put lock. */
#define KREF_ASYNC_TEST_PUT_UNDER_LOCK	_IO(KREF_ASYNC_TEST_IOC, 1)
#define KREF_ASYNC_TEST_GET_STATE	_IOR(KREF_ASYNC_TEST_IOC, 2, \
					     struct kref_async_test_state)
/* Let the file hold the last reference of a new object, once per file. */
#define KREF_ASYNC_TEST_HOLD		_IO(KREF_ASYNC_TEST_IOC, 3)
/*
 * Drop the last references of n new objects from a kthread; their
 * releases wait for OPEN_GATE.  Returns once all n puts are done.
 */
#define KREF_ASYNC_TEST_QUEUE_PENDING	_IOW(KREF_ASYNC_TEST_IOC, 4, __u32)
#define KREF_ASYNC_TEST_OPEN_GATE	_IO(KREF_ASYNC_TEST_IOC, 5)
/* kref_async_flush() */
#define KREF_ASYNC_TEST_FLUSH		_IO(KREF_ASYNC_TEST_IOC, 6)
/*
 * Start a vhost task (a user worker of the caller's process, as vhost's
 * VHOST_SET_OWNER does) that drops the last reference of a new object,
 * then wait, with the vhost task still running, for the release.  0 if
 * the release ran within the time given; ETIME if it did not, and then
 * the vhost task is stopped and the call waits for the release, wherever
 * it runs.  EBUSY while QUEUE_PENDING's releases are outstanding.
 */
#define KREF_ASYNC_TEST_PUT_FROM_VHOST	_IO(KREF_ASYNC_TEST_IOC, 7)

/*
 * The pair modules, kref_async_pair_a.ko (0) and kref_async_pair_b.ko (1):
 * each registers a release function with this module, and PAIR_QUEUE puts
 * n objects of each, those of @first first, from a kthread bound to @cpu,
 * once every drain of that CPU's list for tasks is busy: all 2n wait in one list and run
 * as one batch, newest first.  Each pair module's releases wait for its
 * own PAIR_OPEN.  EBUSY while releases of an earlier call are pending.
 */
#define KREF_ASYNC_TEST_PAIRS		2
#define KREF_ASYNC_TEST_PAIR_MAX	8

/**
 * struct kref_async_test_pair_queue - argument of PAIR_QUEUE
 * @cpu: the CPU whose list the batch is put on
 * @first: the pair module whose objects are put first
 * @n: objects of each pair module, 1 to KREF_ASYNC_TEST_PAIR_MAX
 */
struct kref_async_test_pair_queue {
	__u32 cpu;
	__u32 first;
	__u32 n;
};

/**
 * struct kref_async_test_pair_state - the pair modules' releases
 * @created: objects put by PAIR_QUEUE, per pair module
 * @released: releases that have run, per pair module
 * @tasks: tasks the releases of the last PAIR_QUEUE ran in, counted as
 *	the task changes from one release to the next (1: one task ran them
 *	all, one after another)
 * @gate_timeouts: releases that gave up waiting for PAIR_OPEN
 * @order: 'a' or 'b' per release of the last PAIR_QUEUE, in the order
 *	they ran; NUL-terminated
 */
struct kref_async_test_pair_state {
	__u32 created[KREF_ASYNC_TEST_PAIRS];
	__u32 released[KREF_ASYNC_TEST_PAIRS];
	__u32 tasks;
	__u32 gate_timeouts;
	char order[KREF_ASYNC_TEST_PAIRS * KREF_ASYNC_TEST_PAIR_MAX + 1];
	__u8 pad[7];
};

#define KREF_ASYNC_TEST_PAIR_QUEUE	_IOW(KREF_ASYNC_TEST_IOC, 8, \
					     struct kref_async_test_pair_queue)
/* Let the releases of the pair module given (0 or 1) run. */
#define KREF_ASYNC_TEST_PAIR_OPEN	_IOW(KREF_ASYNC_TEST_IOC, 9, __u32)
#define KREF_ASYNC_TEST_PAIR_STATE	_IOR(KREF_ASYNC_TEST_IOC, 10, \
					     struct kref_async_test_pair_state)

#ifdef __KERNEL__
#include <linux/kref.h>
#include <linux/kref_async.h>

/* For kref_async_victim.ko: counts one of its releases as run. */
void kref_async_test_note_victim(void);

/* An object of a pair module, made and put by this module. */
struct kref_async_test_pair_obj {
	struct kref		kref;
	struct kref_async_node	node;
	unsigned int		pair;
};

/* For the pair modules: their release functions come and go. */
int kref_async_test_pair_add(unsigned int pair,
			     void (*release)(struct kref *kref));
void kref_async_test_pair_del(unsigned int pair);
/* Called by a pair module's release: wait for PAIR_OPEN, then count. */
void kref_async_test_pair_wait(struct kref *kref);
void kref_async_test_pair_done(struct kref *kref);
#endif

#endif /* _KREF_ASYNC_TEST_H */
