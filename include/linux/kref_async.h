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
#include <linux/types.h>

struct kref_async_node;

typedef void (*kref_async_release_t)(struct kref_async_node *node);

/**
 * struct kref_async_node - deferral state embedded in a released object
 * @twork: task_work entry, used when the release runs on return to user
 *	space; its @func field selects how the release is called
 * @lnode: entry on the fallback list drained by the release worker;
 *	overlays @twork.next only, so @twork.func stays valid on both paths
 * @release: the release function given to kref_async_defer()
 * @kref_release: the release function given to kref_put_async()
 * @kref: the count passed to @kref_release
 *
 * The node is scratch space: it is written only once the count has hit
 * zero, so it needs no initialisation and costs 32 bytes on 64-bit, no
 * more than a struct work_struct without lockdep.  Its fields are private
 * to lib/kref_async.c.
 */
struct kref_async_node {
	union {
		struct callback_head	twork;
		struct llist_node	lnode;
	};
	union {
		kref_async_release_t	release;
		void			(*kref_release)(struct kref *kref);
	};
	struct kref			*kref;
};

void kref_async_defer(struct kref_async_node *node,
		      kref_async_release_t release);
void kref_async_defer_kref(struct kref_async_node *node, struct kref *kref,
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
 * it just before that return, with no locks held and its own mm; any other
 * context (a kthread, an interrupt, a task that is past exit_task_work())
 * hands it to a worker, which kref_async_flush() waits for.
 *
 * Safe in any context, hard interrupts included; it never sleeps, never
 * allocates and cannot fail.  The module that holds @release is pinned
 * until @release returns.  The count is a plain &struct kref, so
 * kref_init(), kref_get() and kref_get_unless_zero() apply to it as usual.
 *
 * Return: 1 if this put dropped the last reference and the release was
 * deferred, 0 otherwise.  As with kref_put(), a return of 0 says nothing
 * about whether the object is still in memory.
 */
static inline int kref_put_async(struct kref *kref,
				 void (*release)(struct kref *kref),
				 struct kref_async_node *node)
{
	if (refcount_dec_and_test(&kref->refcount)) {
		kref_async_defer_kref(node, kref, release);
		return 1;
	}
	return 0;
}

#endif /* _LINUX_KREF_ASYNC_H */
