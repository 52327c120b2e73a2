/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kref_async.h - run the release of a reference-counted object later,
 * from a context that holds no locks
 *
 * The final put of a reference count runs the release in the caller's
 * context, under whatever locks the caller holds.  These helpers defer
 * that release the way fput() defers __fput(): to the calling task's
 * return to user space when there is one, otherwise to a workqueue.
 * Only the final put differs from kref_put(); a non-final put is the
 * same single atomic.
 */

#ifndef _LINUX_KREF_ASYNC_H
#define _LINUX_KREF_ASYNC_H

#include <linux/compiler.h>
#include <linux/kref.h>
#include <linux/llist.h>
#include <linux/string.h>
#include <linux/types.h>

struct kref_async_node;

/*
 * How many batches of one CPU's deferred releases may run at once, for
 * each of its two lists (puts from tasks, puts from interrupts): a release
 * that blocks holds back the rest of its own batch, and nobody else's
 * while fewer than this many block on that list.
 */
#define KREF_ASYNC_DRAINS	4

typedef void (*kref_async_release_t)(struct kref_async_node *node);

/**
 * struct kref_async_node - deferral state embedded in a released object
 *
 * Costs 32 bytes on 64-bit, no more than a struct work_struct without
 * lockdep.  It must be zeroed before its first use, as it is in any
 * object from kzalloc(), or set up with kref_async_node_init(): a node
 * that is deferred while still pending is refused, and a zeroed node is
 * how a node that is not pending looks.  It is written only once the
 * count has hit zero; the field that marks it pending is cleared just
 * before the release runs, so an object whose count is revived can be
 * released again.
 */
struct kref_async_node {
	/* private: for lib/kref_async.c only */
	union {
		/* task_work entry; @twork.func says how to call the release */
		struct callback_head	twork;
		/* the worker's list; overlays @twork.next only */
		struct llist_node	lnode;
	};
	union {
		kref_async_release_t	release;
		void			(*kref_release)(struct kref *kref);
	};
	struct kref			*kref;
};

/**
 * kref_async_node_init - set up a node that was not zero-allocated
 * @node: the node
 */
static inline void kref_async_node_init(struct kref_async_node *node)
{
	memset(node, 0, sizeof(*node));
}

void kref_async_defer(struct kref_async_node *node,
		      kref_async_release_t release);
void kref_async_defer_worker(struct kref_async_node *node,
			     kref_async_release_t release);
void __kref_async_defer_kref(struct kref_async_node *node, struct kref *kref,
			     void (*release)(struct kref *kref));
void kref_async_flush(void);

/**
 * kref_put_async - drop a reference, deferring the release if it was the last
 * @kref: the count
 * @release: called with @kref once the count has hit zero
 * @node: deferral state embedded in the object that @kref counts
 *
 * Like kref_put(), but when the count hits zero @release does not run in
 * the caller's context.  A user task that will return to user space runs
 * it with task_work, as fput() runs __fput(): before that return, with no
 * locks held and its own mm (but see the documentation for vCPU threads
 * and exiting tasks); any other context (a kthread, a user worker such as
 * vhost's or io_uring's, an interrupt, a task past exit_task_work())
 * hands it to a worker, which kref_async_flush() waits for.
 *
 * Safe in any context but NMI, hard interrupts included, except under the
 * scheduler's own locks (see Documentation/core-api/kref_async.rst); it
 * never sleeps, never allocates and cannot fail.  The module that holds
 * @release is pinned until @release returns.  The count is a plain &struct
 * kref, so kref_init(), kref_get() and kref_get_unless_zero() apply to it
 * as usual.
 *
 * Return: true if this put dropped the last reference, false otherwise.
 * As with kref_put(), false says nothing about whether the object is
 * still in memory; true with a warning means the release was refused
 * (see kref_async_defer()) and will not run.
 */
static inline bool kref_put_async(struct kref *kref,
				  void (*release)(struct kref *kref),
				  struct kref_async_node *node)
{
	if (refcount_dec_and_test(&kref->refcount)) {
		__kref_async_defer_kref(node, kref, release);
		return true;
	}
	return false;
}

#endif /* _LINUX_KREF_ASYNC_H */
