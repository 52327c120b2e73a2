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
 *	another task, or of a kthread's or vhost task's put that ran in that
 *	same task
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

#ifdef __KERNEL__
/* For kref_async_victim.ko: counts one of its releases as run. */
void kref_async_test_note_victim(void);
#endif

#endif /* _KREF_ASYNC_TEST_H */
