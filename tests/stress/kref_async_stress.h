/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kref_async_stress.h - ioctl ABI of /dev/kref_async_stress
 *
 * Shared by the stress module tests/stress/kref_async_stress.c and the
 * stress guest's /init, tests/stress/stress_init.c.  Not a kernel ABI:
 * both sides are always built together.
 */

#ifndef _KREF_ASYNC_STRESS_H
#define _KREF_ASYNC_STRESS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KREF_ASYNC_STRESS_NAME		"kref_async_stress"
#define KREF_ASYNC_STRESS_DEV		"/dev/kref_async_stress"
/* Counters are kept for this many CPUs; higher ones count in the last. */
#define KREF_ASYNC_STRESS_MAX_CPUS	8
/* At most this many objects held by one file (HOLD). */
#define KREF_ASYNC_STRESS_MAX_HOLD	256

/* The context a final put was made from. */
enum kref_async_stress_ctx {
	KREF_ASYNC_STRESS_USER,		/* a user task in a system call */
	KREF_ASYNC_STRESS_EXIT,		/* a task on its exit path */
	KREF_ASYNC_STRESS_KTHREAD,	/* a kthread bound to a CPU */
	KREF_ASYNC_STRESS_SOFTIRQ,	/* a timer_list callback */
	KREF_ASYNC_STRESS_HARDIRQ,	/* an hrtimer callback */
	KREF_ASYNC_STRESS_NR_CTX,
};

/**
 * struct kref_async_stress_config - parameters of a run (START)
 * @objects: objects to create in all; ids run from 0 to @objects - 1
 * @slots: shared slots, each holding one reference (a power of 2)
 * @refs: references of a new object (2 or 3): one for its creator, the
 *	others stored in slots, whose next writer drops them
 * @hrtimer_us: period of the hard-irq producers
 * @irq_steps: slots each timer or hrtimer callback empties or fills
 * @max_inflight: final puts whose release has not run yet above which
 *	producers hold off (sleeping ones flush, atomic ones only drop)
 * @hotplug_puts: final puts that a CPU going offline makes on its way,
 *	from its hotplug thread, of objects whose releases wait for the
 *	next HOTPLUG_CHECK: they are still pending once the CPU is offline
 *	(0: no hotplug callback)
 */
struct kref_async_stress_config {
	__u64	objects;
	__u32	slots;
	__u32	refs;
	__u32	hrtimer_us;
	__u32	irq_steps;
	__u32	max_inflight;
	__u32	hotplug_puts;
};

/**
 * struct kref_async_stress_result - what the module counted (STATUS, RESULT)
 * @created: objects created, ids 0 to @created - 1
 * @puts: kref_put_async() calls
 * @finals: those of them that dropped the last reference
 * @released: releases that found their object's state LIVE and set it
 *	RELEASED
 * @double_released: releases that found it in any other state
 * @in_put: releases that ran inside a put (on the putter's CPU while a
 *	non-preemptible put was in progress, or with the put's lockdep map
 *	held)
 * @unreleased: ids below @created whose state is not RELEASED (RESULT
 *	only, after a kref_async_flush())
 * @flushes: kref_async_flush() calls made during the run
 * @flush_checked: kthread final puts checked after the kthread's flush
 * @flush_missed: of those, objects not yet released
 * @user_checked: final puts of a STEP checked at the file's next STEP
 * @user_missed: of those, objects not yet released: their release
 *	should have run before the STEP that put them returned
 * @alloc_failed: allocations that failed (atomic producers)
 * @throttled: times a producer held off for @max_inflight
 * @running: producers are running
 * @cpus: online CPUs
 * @finals_by: final puts, per context (&enum kref_async_stress_ctx) and CPU
 * @hp_offlines: CPUs that went offline while the hotplug callback was set
 * @hp_puts: final puts made by those CPUs on their way offline
 * @hp_checked: of those, puts checked by HOTPLUG_CHECK
 * @hp_missed: of those, objects that HOTPLUG_CHECK found not released
 *	after its kref_async_flush()
 * @hp_pending: of those, objects that HOTPLUG_CHECK found not released
 *	before it let their releases go and flushed
 * @hp_gate_timeouts: such releases that stopped waiting for HOTPLUG_CHECK
 */
struct kref_async_stress_result {
	__u64	created;
	__u64	puts;
	__u64	finals;
	__u64	released;
	__u64	double_released;
	__u64	in_put;
	__u64	unreleased;
	__u64	flushes;
	__u64	flush_checked;
	__u64	flush_missed;
	__u64	user_checked;
	__u64	user_missed;
	__u64	alloc_failed;
	__u64	throttled;
	__u32	running;
	__u32	cpus;
	__u64	finals_by[KREF_ASYNC_STRESS_NR_CTX][KREF_ASYNC_STRESS_MAX_CPUS];
	__u64	hp_offlines;
	__u64	hp_puts;
	__u64	hp_checked;
	__u64	hp_missed;
	__u64	hp_pending;
	__u64	hp_gate_timeouts;
};

/* 0xB0 is set aside for devices in development (ioctl-number.rst). */
#define KREF_ASYNC_STRESS_IOC		0xB0

/* Start the in-kernel producers and flushers; once per module load. */
#define KREF_ASYNC_STRESS_START		_IOW(KREF_ASYNC_STRESS_IOC, 0x20, \
					     struct kref_async_stress_config)
/*
 * Fill n slots with new objects from this task, dropping the references
 * they held.  Returns 1 once the run is stopped, 0 before.
 */
#define KREF_ASYNC_STRESS_STEP		_IOW(KREF_ASYNC_STRESS_IOC, 0x21, __u32)
/*
 * The file takes a reference to each of n new objects, dropped when the
 * file is released: from the exit path if its task dies with it open.
 */
#define KREF_ASYNC_STRESS_HOLD		_IOW(KREF_ASYNC_STRESS_IOC, 0x22, __u32)
#define KREF_ASYNC_STRESS_FLUSH		_IO(KREF_ASYNC_STRESS_IOC, 0x23)
#define KREF_ASYNC_STRESS_STATUS	_IOR(KREF_ASYNC_STRESS_IOC, 0x24, \
					     struct kref_async_stress_result)
/* Stop the in-kernel producers and flushers, and wait for them. */
#define KREF_ASYNC_STRESS_STOP		_IO(KREF_ASYNC_STRESS_IOC, 0x25)
/* Stop, then drop the references left in the slots from this task. */
#define KREF_ASYNC_STRESS_FINISH	_IO(KREF_ASYNC_STRESS_IOC, 0x26)
/* kref_async_flush(), then check every object's state. */
#define KREF_ASYNC_STRESS_RESULT	_IOR(KREF_ASYNC_STRESS_IOC, 0x27, \
					     struct kref_async_stress_result)

/*
 * After a CPU went offline: count the objects it put on its way that are
 * still pending, let their releases go, kref_async_flush(), then check
 * that they are released.  Returns 1 once the run is stopped, 0 before.
 */
#define KREF_ASYNC_STRESS_HOTPLUG_CHECK	_IO(KREF_ASYNC_STRESS_IOC, 0x28)

#endif /* _KREF_ASYNC_STRESS_H */
