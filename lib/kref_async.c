// SPDX-License-Identifier: GPL-2.0-only
/*
 * Deferred release of reference-counted objects.
 *
 * The final put of a count may come from a caller that holds locks.  If
 * the release ran there, every lock the release takes would be ordered
 * after the caller's locks.  As fput() does for __fput(), the release is
 * instead run from a context that holds none:
 *
 *  - a user task that will return to user space queues it with
 *    task_work_add(TWA_RESUME): it runs before that return, in the same
 *    task, so current->mm is still the caller's (as with fput(), a task
 *    that is exiting runs it in exit_task_work(), after its mm is gone);
 *
 *  - everything else (kthreads, user workers that never return to user
 *    space, interrupts, a task past exit_task_work(), and a release whose
 *    module is still loading or already unloading) pushes it on a list of
 *    the current CPU, one for tasks and one for interrupts, which that
 *    list's drain work items take in batches, as call_rcu() keeps its
 *    callbacks per CPU: a put touches no line of a list that another
 *    CPU's puts write to, and a module pinned by one node of a batch
 *    covers the nodes pushed after it.  The drains run on the unbound
 *    system_dfl_wq, and each list has several: while one runs a long
 *    release, the next batch goes to another, so a slow release delays
 *    only the releases of its own batch.
 *
 * Neither path allocates or sleeps, so a final put is allowed wherever
 * kref_put() would be, hard interrupts included, but for the scheduler's
 * own locks, under which queue_work() cannot wake a worker; NMI is
 * refused with a warning (queue_work() and the drains' lock are not
 * NMI-safe, and a put must not run inside another put on the same CPU
 * and list).
 */

#include <linux/kref_async.h>
#include <linux/export.h>
#include <linux/hashtable.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/stddef.h>
#include <linux/task_work.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <asm/sections.h>

#define CREATE_TRACE_POINTS
#include <trace/events/kref_async.h>

EXPORT_TRACEPOINT_SYMBOL_GPL(kref_async_defer);
EXPORT_TRACEPOINT_SYMBOL_GPL(kref_async_release);
EXPORT_TRACEPOINT_SYMBOL_GPL(kref_async_drain);

/*
 * The list link overlays twork.next and nothing else, so twork.func, set
 * before either path is taken, still says how to call the release when
 * the worker pulls the node off the list.
 */
static_assert(offsetof(struct kref_async_node, lnode) ==
	      offsetof(struct kref_async_node, twork.next));
static_assert(sizeof(struct llist_node) <=
	      offsetof(struct callback_head, func));

/*
 * KREF_ASYNC_DRAINS drain work items per stack of each CPU.  A drain that
 * has taken a batch is busy until its releases have returned, and the
 * next batch goes to an idle sibling, so up to that many batches of one
 * stack run at once, each in its own worker of the unbound pool.
 */
struct kref_async_cpu;

struct kref_async_drain {
	struct work_struct	work;
	struct kref_async_cpu	*kc;
	unsigned int		idx;
};

/*
 * The worker's pending releases on one CPU: a stack that only this CPU's
 * puts push, never two at once (see kref_async_stack_get()), and that a
 * drain takes whole.  The put that finds it empty queues a drain that is
 * not @busy with a batch; if all are, it sets @orphan instead, and the
 * first drain to finish its batch takes the stack in the same execution.
 * @lock covers @busy and @orphan only; the stack itself is lock-free.
 *
 * A drain runs a stack from the top, so a node runs before every node
 * that was on the stack when it was pushed.  A node that pins the module
 * of its release (its own reference, dropped after its release returns)
 * therefore keeps that module for every node pushed after it onto the
 * same stack: [@pin_start, @pin_end) is the text of the live module that
 * the first node pinning one on the worker path pins (a node whose
 * module is tracked, or that was pinned for task_work and fell back to
 * the worker, sets no range), and a release that lies in it is pushed
 * with no reference of its own.  A burst of puts of one module's objects
 * then costs neither a module lookup nor an atomic on the module's shared
 * count per object; releases that are built in, or in a second module,
 * still look their module up per put.  The range is written by this
 * CPU's puts only, in the same section as their push, after it, and a
 * put trusts it only when it finds the stack not empty: a drain may leave
 * a stale range behind, but only on an empty stack, and the put that
 * finds the stack empty resets it (see kref_async_push_slow()).  It is
 * empty while no node of the stack has set one.
 *
 * With CONFIG_PROVE_LOCKING, @pushing marks the section of a push, so
 * that a push nested in another on the same CPU and stack warns; the
 * nested push still goes ahead.  (Not a lockdep map: taken with
 * interrupts on, a put under a spinlock that an interrupt handler or a
 * softirq also takes would read as an irq-safe to irq-unsafe lock order.)
 */
struct kref_async_cpu {
	struct llist_head	list;
	unsigned long		pin_start;
	unsigned long		pin_end;
	raw_spinlock_t		lock;
	unsigned long		busy;
	bool			orphan;
	struct kref_async_drain	drains[KREF_ASYNC_DRAINS];
#ifdef CONFIG_PROVE_LOCKING
	bool			pushing;
#endif
};

/*
 * Each CPU has two stacks: puts from task context push one, puts from
 * hard and soft interrupts the other.
 */
enum {
	KREF_ASYNC_TASK_STACK,
	KREF_ASYNC_IRQ_STACK,
	KREF_ASYNC_STACKS,
};

static DEFINE_PER_CPU(struct kref_async_cpu,
		      kref_async_cpus[KREF_ASYNC_STACKS]);

/*
 * This CPU's stack for a put from task context (@task, from in_task())
 * or from an interrupt, entered so that no other push onto it can run on
 * this CPU until kref_async_stack_put().  A task pushes with preemption
 * off.  What can still run on its CPU meanwhile is an interrupt, hard or
 * soft (in_task() is false in a softirq, on PREEMPT_RT too, where softirqs
 * run in tasks but in_serving_softirq() is per task; a threaded handler
 * is a task), and it pushes the other stack, with interrupts off; NMI
 * puts are refused.  A put from a task that rides on a batch, the common
 * case, thus needs no local_irq_save().  A drain, from any CPU, can still
 * take the whole stack.
 *
 * A put must therefore not come from code that runs inside a put on the
 * same CPU, such as a tracing callback on a function or tracepoint that
 * the section calls; with CONFIG_PROVE_LOCKING, that warns.
 */
static __always_inline struct kref_async_cpu *
kref_async_stack_get(bool task, unsigned long *flags)
{
	struct kref_async_cpu *kc;

	if (task) {
		preempt_disable();
		kc = this_cpu_ptr(&kref_async_cpus[KREF_ASYNC_TASK_STACK]);
	} else {
		local_irq_save(*flags);
		kc = this_cpu_ptr(&kref_async_cpus[KREF_ASYNC_IRQ_STACK]);
	}
#ifdef CONFIG_PROVE_LOCKING
	WARN_ON_ONCE(kc->pushing);
	kc->pushing = true;
#endif
	return kc;
}

static __always_inline void kref_async_stack_put(struct kref_async_cpu *kc,
						 bool task, unsigned long flags)
{
#ifdef CONFIG_PROVE_LOCKING
	kc->pushing = false;
#endif
	if (task)
		preempt_enable();
	else
		local_irq_restore(flags);
}

static bool kref_async_mod_live(struct module *mod)
{
#ifdef CONFIG_MODULES
	return READ_ONCE(mod->state) == MODULE_STATE_LIVE;
#else
	return true;
#endif
}

/*
 * The address of @fn's code.  Where a function pointer is a descriptor
 * (64-bit powerpc's ELFv1 ABI, 64-bit parisc), it points to data, and
 * only the address the descriptor holds is in the text of the module that
 * holds the function.
 */
static __always_inline unsigned long kref_async_text(void *fn)
{
	return (unsigned long)dereference_function_descriptor(fn);
}

/*
 * Who keeps the module of a release: a node below it in its batch (or
 * nobody, for a built-in release), a reference of the node's own, or
 * that reference plus a count in the module's record because the module
 * is not live.
 */
enum kref_async_pin {
	KREF_ASYNC_BATCH_PIN,
	KREF_ASYNC_OWN_PIN,
	KREF_ASYNC_TRACKED,
	/* Not a way to keep it: kref_async_pin() refused the release. */
	KREF_ASYNC_TOO_LATE,
};

#ifdef CONFIG_MODULES
/*
 * The releases pending for a module that is not live.  A record exists
 * from the module's COMING notification to the end of its GOING one.
 * @pending counts them, plus one that the GOING notification drops
 * before it waits for the count to reach zero: a failed init or an
 * unload waits for its own module's releases and for nobody else's.
 * Once zero, the count stays zero.
 */
struct kref_async_mod {
	struct hlist_node	hnode;
	struct module		*mod;
	atomic_t		pending;
	struct rcu_head		rcu;
};

static DEFINE_HASHTABLE(kref_async_mods, 6);
static DEFINE_SPINLOCK(kref_async_mods_lock);

static struct kref_async_mod *kref_async_mod_find(struct module *mod)
{
	struct kref_async_mod *m;

	hash_for_each_possible_rcu(kref_async_mods, m, hnode, (unsigned long)mod,
				   lockdep_is_held(&kref_async_mods_lock))
		if (m->mod == mod)
			return m;
	return NULL;
}

/*
 * Count a release of @mod, which is not live, from an RCU read section:
 * false if it has no record, or its GOING notification has seen its
 * count reach zero.  A release that a counted release puts in turn finds
 * the count above zero, so chains are counted.
 */
static bool kref_async_track(struct module *mod)
{
	struct kref_async_mod *m = kref_async_mod_find(mod);

	return m && atomic_inc_not_zero(&m->pending);
}

/* The release counted by kref_async_track() has returned. */
static void kref_async_untrack(struct module *mod)
{
	struct kref_async_mod *m;

	/* The record cannot be freed before its count is zero, nor under us. */
	guard(rcu)();
	m = kref_async_mod_find(mod);
	if (!WARN_ON_ONCE(!m) && atomic_dec_and_test(&m->pending))
		wake_up_var(&m->pending);
}
#else
static bool kref_async_track(struct module *mod)
{
	return false;
}

static void kref_async_untrack(struct module *mod)
{
}
#endif

/*
 * Pin the module that holds @fn until the release has returned, as
 * __fput() keeps fops->owner until after ->release().  The module is
 * found by address, so a put from one module of an object released by
 * another pins the right one.  Returns how the release's module is kept,
 * with the module in *@modp: KREF_ASYNC_BATCH_PIN (and NULL) if @fn is
 * built in, KREF_ASYNC_OWN_PIN if the module is live.
 *
 * A module that is not live is still running its init function, or its
 * exit path is dropping its own objects.  A failed init frees the module
 * whatever its count, and an unloading module's count no longer holds
 * anything, so such a release is counted in the module's record instead
 * (KREF_ASYNC_TRACKED) and goes where the module's GOING notification
 * can wait for it: to the worker, never to task_work, whose owner task
 * (insmod's, rmmod's) may run it after the module is gone.  The
 * reference is taken all the same so that the module_put() after the
 * release is balanced, and so that a module whose init succeeds cannot be
 * unloaded before the release has run.
 *
 * KREF_ASYNC_TOO_LATE, with no reference held, if that notification has
 * already seen the module's count reach zero: the module is about to be
 * freed and nothing can keep it for the release.  The lookup, the
 * reference and the count are one RCU read section, so the module cannot
 * be freed under it (free_module() waits for readers before it frees the
 * text), and the count is either seen by that wait or refused.  Only
 * until free_module() marks the module unformed, though: from then on
 * the lookup finds no module, and the release is taken for a built-in
 * one.  A put that late is a use after free of the module's text, as a
 * plain kref_put() would be.
 */
static enum kref_async_pin kref_async_pin(void *fn, struct module **modp)
{
	struct module *mod;

	guard(rcu)();
	mod = __module_text_address(kref_async_text(fn));
	*modp = mod;
	if (!mod)
		return KREF_ASYNC_BATCH_PIN;
	/*
	 * try_module_get() fails once an unload has dropped the count, which
	 * it does before it marks the module GOING: not live either way.
	 */
	if (!try_module_get(mod))
		__module_get(mod);
	else if (kref_async_mod_live(mod))
		return KREF_ASYNC_OWN_PIN;
	if (kref_async_track(mod))
		return KREF_ASYNC_TRACKED;
	module_put(mod);
	return KREF_ASYNC_TOO_LATE;
}

/*
 * A final put of a release whose module's GOING notification has seen its
 * count reach zero: made by the module's own code after its exit function
 * (from an async_schedule() function, say), or by a caller that holds
 * none of its references.  The object is not released: the release would
 * run in text that is about to be freed.
 */
static noinline __cold void kref_async_too_late(void *fn)
{
	WARN_ONCE(1, "kref_async: %ps put after its module's releases were waited for: not released\n",
		  fn);
}

/* Drop the reference kref_async_pin() took for @fn; returns its module. */
static struct module *kref_async_unpin(void *fn)
{
	struct module *mod;

	/* Our own reference keeps @mod from being freed under us. */
	scoped_guard(rcu)
		mod = __module_text_address(kref_async_text(fn));
	module_put(mod);
	return mod;
}

/*
 * Is @addr in the text of the module that a node of @kc's stack pins?
 * Unsigned, so one compare; never true of an empty range.
 */
static __always_inline bool kref_async_covered(struct kref_async_cpu *kc,
					       unsigned long addr)
{
	return addr - kc->pin_start < kc->pin_end - kc->pin_start;
}

/*
 * The text of @mod, which the caller keeps from being freed, as the range
 * that a node pinning @mod covers; an empty range if @mod is NULL.
 */
static void kref_async_mod_text(struct module *mod, unsigned long *start,
				unsigned long *end)
{
	*start = 0;
	*end = 0;
#ifdef CONFIG_MODULES
	if (mod) {
		*start = (unsigned long)mod->mem[MOD_TEXT].base;
		*end = *start + mod->mem[MOD_TEXT].size;
	}
#endif
}

/*
 * twork.func says how to call the release (with the node or with the
 * kref) and how its module is kept, to be let go once the release has
 * returned.  It is cleared just before the release runs; after that the
 * release owns, and may free, the node, and the node may be deferred
 * again once the count is revived.
 */
static __always_inline void kref_async_run(struct callback_head *twork,
					   bool kref, enum kref_async_pin pin)
{
	struct kref_async_node *node =
		container_of(twork, struct kref_async_node, twork);
	kref_async_release_t release = node->release;
	void (*kref_release)(struct kref *kref) = node->kref_release;
	void *fn = kref ? (void *)kref_release : (void *)release;
	struct module *mod;

	WRITE_ONCE(twork->func, NULL);
	trace_kref_async_release(node, fn);
	if (kref)
		kref_release(node->kref);
	else
		release(node);
	if (pin == KREF_ASYNC_BATCH_PIN)
		return;
	/* module_put() first: once untracked, the module may be freed. */
	mod = kref_async_unpin(fn);
	if (pin == KREF_ASYNC_TRACKED)
		kref_async_untrack(mod);
}

static void kref_async_call_node(struct callback_head *twork)
{
	kref_async_run(twork, false, KREF_ASYNC_BATCH_PIN);
}

static void kref_async_call_node_pinned(struct callback_head *twork)
{
	kref_async_run(twork, false, KREF_ASYNC_OWN_PIN);
}

static void kref_async_call_node_tracked(struct callback_head *twork)
{
	kref_async_run(twork, false, KREF_ASYNC_TRACKED);
}

static void kref_async_call_kref(struct callback_head *twork)
{
	kref_async_run(twork, true, KREF_ASYNC_BATCH_PIN);
}

static void kref_async_call_kref_pinned(struct callback_head *twork)
{
	kref_async_run(twork, true, KREF_ASYNC_OWN_PIN);
}

static void kref_async_call_kref_tracked(struct callback_head *twork)
{
	kref_async_run(twork, true, KREF_ASYNC_TRACKED);
}

static task_work_func_t kref_async_call(bool kref, enum kref_async_pin pin)
{
	static const task_work_func_t calls[2][KREF_ASYNC_TOO_LATE] = {
		{ kref_async_call_node, kref_async_call_node_pinned,
		  kref_async_call_node_tracked },
		{ kref_async_call_kref, kref_async_call_kref_pinned,
		  kref_async_call_kref_tracked },
	};

	return calls[kref][pin];
}

/*
 * Deferring a node that is still pending is caught: linking it twice
 * would corrupt the list and run the release twice.  The node must be
 * zeroed before its first use (kref_async_node_init()), so that
 * twork.func is NULL whenever the node is not pending.
 */
static bool kref_async_pending(struct kref_async_node *node)
{
	task_work_func_t func = READ_ONCE(node->twork.func);

	return func == kref_async_call_node ||
	       func == kref_async_call_node_pinned ||
	       func == kref_async_call_node_tracked ||
	       func == kref_async_call_kref ||
	       func == kref_async_call_kref_pinned ||
	       func == kref_async_call_kref_tracked;
}

static_assert(KREF_ASYNC_DRAINS <= BITS_PER_LONG);

/*
 * The drain to kick for a new batch of @kc: an idle one, or none
 * (KREF_ASYNC_DRAINS) if all are busy, and then the first to finish
 * takes the batch.  A busy drain is not kicked: its batch may be blocked
 * in a release for as long as that release takes.
 */
static unsigned int kref_async_pick_drain(struct kref_async_cpu *kc)
{
	unsigned int idx = find_first_zero_bit(&kc->busy, KREF_ASYNC_DRAINS);

	if (idx >= KREF_ASYNC_DRAINS)
		kc->orphan = true;
	return idx;
}

/*
 * The common case of a push, kept apart so that it stays short: @node
 * rides on a stack that is not empty and whose pinned text holds @fn, so
 * it needs no reference of its own and kicks no drain.  False if it was
 * not pushed.
 *
 * Between kref_async_stack_get() and kref_async_stack_put(), nothing but a
 * drain changes the stack between reading its top and the cmpxchg that
 * pushes onto it, and a drain only empties it.  So if the cmpxchg onto a
 * stack that was not empty succeeds, the node lands on the stack whose
 * pinned text was read, above the node that pins it, before that node can
 * have run.  The range read is that stack's: a put writes the range after
 * its own push, so a drain may leave a stale one, but only on an empty
 * stack, which no put takes this path on, and whose next put rewrites it.
 */
static __always_inline bool
kref_async_push_covered(struct kref_async_node *node, bool kref, void *fn,
			bool task)
{
	struct kref_async_cpu *kc;
	struct llist_node *top;
	unsigned long flags = 0;
	bool pushed = false;

	kc = kref_async_stack_get(task, &flags);
	top = READ_ONCE(kc->list.first);
	if (top && kref_async_covered(kc, kref_async_text(fn))) {
		init_task_work(&node->twork,
			       kref_async_call(kref, KREF_ASYNC_BATCH_PIN));
		node->lnode.next = top;
		/* Fails only if a drain took the stack since. */
		pushed = try_cmpxchg(&kc->list.first, &top, &node->lnode);
	}
	kref_async_stack_put(kc, task, flags);
	return pushed;
}

/*
 * Hand @node to this CPU's worker, from task context if @task.  @pin says
 * how the caller already keeps the module of @fn for this node alone;
 * KREF_ASYNC_BATCH_PIN if it does not, and then a node below it on the
 * stack must pin that module, or the node pins it itself.  Called when
 * kref_async_push_covered() cannot take @node, or does not apply: the
 * stack is empty, or does not cover @fn, or the caller pinned the module
 * already.  The stack may have changed since that attempt (a drain took
 * it, or the caller was preempted or moved to another CPU in between): the
 * top is read again here, and the range is only written, never trusted.
 * No other push onto the stack runs from that read to the range's write,
 * so that, as kref_async_push_covered() relies on, a range is stale only
 * on an empty stack.
 */
static noinline void kref_async_push_slow(struct kref_async_node *node,
					  bool kref, void *fn,
					  enum kref_async_pin pin, bool task)
{
	unsigned long flags = 0, lflags, start, end;
	struct module *mod = NULL;
	struct kref_async_cpu *kc;
	struct llist_node *top;
	unsigned int idx;

	kc = kref_async_stack_get(task, &flags);
	top = READ_ONCE(kc->list.first);
	if (pin == KREF_ASYNC_BATCH_PIN) {
		pin = kref_async_pin(fn, &mod);
		if (unlikely(pin == KREF_ASYNC_TOO_LATE)) {
			kref_async_stack_put(kc, task, flags);
			kref_async_too_late(fn);
			return;
		}
	}
	/*
	 * Only a live module pinned by this node covers later nodes.  Its
	 * text is read before the push: once the node is on the stack, a
	 * drain may run it and drop the pin.
	 */
	kref_async_mod_text(pin == KREF_ASYNC_OWN_PIN ? mod : NULL,
			    &start, &end);
	init_task_work(&node->twork, kref_async_call(kref, pin));
	do {
		node->lnode.next = top;
	} while (!try_cmpxchg(&kc->list.first, &top, &node->lnode));

	/*
	 * The first node of a stack sets its range, and so does the first
	 * that pins a module on a stack that has none: the node that set a
	 * range stays below every later node until the stack is taken.
	 */
	if (!top || (start != end && kc->pin_start == kc->pin_end)) {
		kc->pin_start = start;
		kc->pin_end = end;
	}
	if (top) {
		kref_async_stack_put(kc, task, flags);
		return;
	}
	/*
	 * Only the put that finds the stack empty kicks a drain; the others
	 * ride along in the same batch.  The work is unbound: it runs on any
	 * CPU, taking this CPU's stack.  Every stack's lock is of one
	 * lockdep class, which the interrupts' stack takes in hard
	 * interrupts: interrupts are off around it on either stack.
	 */
	raw_spin_lock_irqsave(&kc->lock, lflags);
	idx = kref_async_pick_drain(kc);
	raw_spin_unlock_irqrestore(&kc->lock, lflags);
	if (idx < KREF_ASYNC_DRAINS)
		queue_work(system_dfl_wq, &kc->drains[idx].work);
	kref_async_stack_put(kc, task, flags);
}

/*
 * Tasks that return to user space run task_work there, with no locks
 * held.  Kthreads never do, and interrupts have no task to return.  Nor
 * do user workers: vhost's run task work only when they exit, and
 * io_uring's SQPOLL thread runs it with its sqd->lock held.
 */
static __always_inline bool kref_async_task_work_ok(struct task_struct *task,
						    bool task_ctx)
{
	return task_ctx && !(task->flags & (PF_KTHREAD | PF_USER_WORKER));
}

/*
 * A put from a user task: task_work, unless the release's module is not
 * live or the task is past exit_task_work(), and then the worker.
 */
static noinline void kref_async_queue_task(struct kref_async_node *node,
					   bool kref, void *fn,
					   struct task_struct *task)
{
	enum kref_async_pin pin;
	struct module *mod;

	pin = kref_async_pin(fn, &mod);
	if (unlikely(pin == KREF_ASYNC_TOO_LATE)) {
		kref_async_too_late(fn);
		return;
	}
	if (likely(pin != KREF_ASYNC_TRACKED)) {
		init_task_work(&node->twork, kref_async_call(kref, pin));
		if (!task_work_add(task, &node->twork, TWA_RESUME)) {
			trace_kref_async_defer(node, fn, true);
			return;
		}
		/*
		 * The task has run exit_task_work() and will never run task
		 * work again: fall back to the worker rather than leak.
		 */
	}
	/*
	 * The node pins its module itself, or its release is built in and
	 * no pinned text covers it: kref_async_push_covered() cannot take it.
	 */
	trace_kref_async_defer(node, fn, false);
	kref_async_push_slow(node, kref, fn, pin, true);
}

static __always_inline void kref_async_queue(struct kref_async_node *node,
					     bool kref, void *fn,
					     bool worker_only)
{
	struct task_struct *task = current;
	bool task_ctx = in_task();

	if (!worker_only && kref_async_task_work_ok(task, task_ctx)) {
		kref_async_queue_task(node, kref, fn, task);
		return;
	}
	trace_kref_async_defer(node, fn, false);
	if (!kref_async_push_covered(node, kref, fn, task_ctx))
		kref_async_push_slow(node, kref, fn, KREF_ASYNC_BATCH_PIN,
				     task_ctx);
}

/*
 * Refuse what would corrupt the list: no release, a node still pending,
 * or NMI context, from which neither the drains' lock nor queue_work() may
 * be taken.  The object is then not released at all.
 */
static noinline __cold bool
kref_async_refuse_warn(struct kref_async_node *node, void *release)
{
	return WARN_ON_ONCE(!release) || WARN_ON_ONCE(in_nmi()) ||
	       WARN_ON_ONCE(kref_async_pending(node));
}

/*
 * The common case, a put with a release, outside NMI, of a node whose
 * twork.func is NULL (so not pending), is told apart inline;
 * kref_async_refuse_warn() sorts out the rest.
 */
static __always_inline bool kref_async_refuse(struct kref_async_node *node,
					      void *release)
{
	if (likely(release && !in_nmi() && !READ_ONCE(node->twork.func)))
		return false;
	return kref_async_refuse_warn(node, release);
}

static void __kref_async_defer(struct kref_async_node *node,
			       kref_async_release_t release, bool worker_only)
{
	if (kref_async_refuse(node, release))
		return;
	node->release = release;
	kref_async_queue(node, false, release, worker_only);
}

/**
 * kref_async_defer - release an object whose count has just hit zero
 * @node: deferral state embedded in the object, zeroed before first use
 * @release: called with @node, later, from a context that holds no locks
 *
 * The core of kref_put_async(), for counts that are not a &struct kref
 * (for instance a bare &refcount_t).  The caller must own the last
 * reference: call this once the count has hit zero and never again on
 * the same @node until @release has run: that is refused with a warning,
 * and so is a call from NMI context, or one made after the module that
 * holds @release has waited for its releases on its way out (from an
 * async function of the module that outlives its exit function, say),
 * until the loader starts to free it; the object is then not released.
 *
 * @release runs exactly once: before the caller returns to user space if
 * it is a user task that still can (a vCPU thread inside KVM_RUN may run
 * it before it next enters the guest, under the vCPU's mutex), otherwise
 * from a worker.  The module that holds @release cannot be unloaded until
 * @release has returned; if it is loading or unloading, its load failure
 * or unload waits for @release instead.  A forced unload (``rmmod -f``)
 * is not waited for.  @release must not be in __init text.
 *
 * Context: Any context but NMI or the scheduler's run-queue and pi_lock.
 * Does not sleep, allocate or fail.
 */
void kref_async_defer(struct kref_async_node *node,
		      kref_async_release_t release)
{
	__kref_async_defer(node, release, false);
}
EXPORT_SYMBOL_GPL(kref_async_defer);

/**
 * kref_async_defer_worker - release an object from a worker, never the caller
 * @node: deferral state embedded in the object, zeroed before first use
 * @release: called with @node, later, from a worker
 *
 * kref_async_defer(), except that @release runs in a worker even when the
 * caller is a user task: for a release that the task dropping the last
 * reference must not be left to run, because that task may go on to wait
 * in the kernel for something that only the release lets happen.
 * mmput_async() is one: binder drops a remote process's mm with it, as
 * the dropping task may then sleep until that process, whose shutdown
 * needs the mm released, wakes it.  The module that holds @release is
 * kept as by kref_async_defer(), and kref_async_flush() waits for @release.
 *
 * Context: Any context but NMI or the scheduler's run-queue and pi_lock.
 * Does not sleep, allocate or fail.
 */
void kref_async_defer_worker(struct kref_async_node *node,
			     kref_async_release_t release)
{
	__kref_async_defer(node, release, true);
}
EXPORT_SYMBOL_GPL(kref_async_defer_worker);

/**
 * __kref_async_defer_kref - the out-of-line half of kref_put_async()
 * @node: deferral state embedded in the object that @kref counts
 * @kref: the count, which has just hit zero
 * @release: called with @kref, later
 *
 * Internal: callers use kref_put_async(), which calls this once its
 * refcount_dec_and_test() has dropped the last reference.  The release
 * is refused, and runs, as kref_async_defer() says.
 *
 * Context: As kref_async_defer().
 */
void __kref_async_defer_kref(struct kref_async_node *node, struct kref *kref,
			     void (*release)(struct kref *kref))
{
	if (kref_async_refuse(node, release))
		return;
	node->kref_release = release;
	node->kref = kref;
	kref_async_queue(node, true, release, false);
}
EXPORT_SYMBOL_GPL(__kref_async_defer_kref);

static void kref_async_work_fn(struct work_struct *work)
{
	struct kref_async_drain *d =
		container_of(work, struct kref_async_drain, work);
	struct kref_async_cpu *kc = d->kc;
	struct kref_async_node *node, *next;
	struct llist_node *batch;
	unsigned int count;
	unsigned long flags;

	raw_spin_lock_irqsave(&kc->lock, flags);
	do {
		kc->orphan = false;
		/*
		 * Busy before it takes the stack: the next batch, started by a
		 * put that finds the stack empty, kicks another drain.
		 */
		__set_bit(d->idx, &kc->busy);
		raw_spin_unlock_irqrestore(&kc->lock, flags);

		/*
		 * Newest first: a node that pins a module runs after the
		 * nodes that rely on its pin.  Each release frees its node:
		 * fetch the link first.
		 */
		batch = llist_del_all(&kc->list);
		count = 0;
		llist_for_each_entry_safe(node, next, batch, lnode) {
			node->twork.func(&node->twork);
			count++;
			cond_resched();
		}
		if (count)
			trace_kref_async_drain(count);

		raw_spin_lock_irqsave(&kc->lock, flags);
		__clear_bit(d->idx, &kc->busy);
		/*
		 * A batch that found every drain busy waits for the first to
		 * finish: take it now, so that kref_async_flush(), which waits
		 * for this execution, waits for it too.
		 */
	} while (kc->orphan);
	raw_spin_unlock_irqrestore(&kc->lock, flags);
}

/**
 * kref_async_flush - wait for the worker's pending releases
 *
 * Every release that was handed to the worker before this call has
 * returned when it returns, including those whose module was pinned; it
 * is the counterpart of flush_delayed_fput() for tests and for teardown
 * paths that must see their objects gone.  Releases queued with
 * task_work run when their task returns to user space and are not waited
 * for.  Releases queued while this runs may or may not be waited for.
 *
 * The releases run in the workers, never in the caller, but the caller
 * waits for them: it must hold no lock that a release may take.
 *
 * Context: Process context; sleeps.  Not from a release function.
 */
void kref_async_flush(void)
{
	int cpu, s, i;

	might_sleep();
	/*
	 * A put that has returned left its node on a stack of its CPU, to be
	 * taken by a drain that was queued, or running and not yet past
	 * llist_del_all(), when the put returned; or, if it found every
	 * drain busy, by whichever of them finishes its batch first, in the
	 * same execution, which takes the orphaned stack before it returns.
	 * Either way that drain was pending or running before this call, so
	 * waiting for each drain of each stack of each CPU covers it.
	 * Nothing but the drains takes a stack, so no release can be running
	 * anywhere else.
	 */
	for_each_possible_cpu(cpu) {
		for (s = 0; s < KREF_ASYNC_STACKS; s++) {
			struct kref_async_cpu *kc =
				per_cpu_ptr(&kref_async_cpus[s], cpu);

			for (i = 0; i < KREF_ASYNC_DRAINS; i++)
				flush_work(&kc->drains[i].work);
		}
	}
}
EXPORT_SYMBOL_GPL(kref_async_flush);

static int __init kref_async_init_cpus(void)
{
	int cpu, s, i;

	for_each_possible_cpu(cpu) {
		for (s = 0; s < KREF_ASYNC_STACKS; s++) {
			struct kref_async_cpu *kc =
				per_cpu_ptr(&kref_async_cpus[s], cpu);

			raw_spin_lock_init(&kc->lock);
			init_llist_head(&kc->list);
			for (i = 0; i < KREF_ASYNC_DRAINS; i++) {
				INIT_WORK(&kc->drains[i].work,
					  kref_async_work_fn);
				kc->drains[i].kc = kc;
				kc->drains[i].idx = i;
			}
		}
	}
	return 0;
}
early_initcall(kref_async_init_cpus);

#ifdef CONFIG_MODULES
/*
 * Each module gets a record when it starts loading.  When it goes (after
 * its exit function, or after a failed init) the record is dropped once
 * the releases counted there have returned: those put while it was not
 * live, which no module reference could keep.  A release that such a
 * release puts in turn is counted before its parent's count drops, so
 * chains are waited for too.  Only this module's count is waited for.
 */
static void kref_async_mod_add(struct module *mod)
{
	/* Small, and a module that lacked it could not be waited for. */
	struct kref_async_mod *m = kzalloc(sizeof(*m), GFP_KERNEL | __GFP_NOFAIL);

	m->mod = mod;
	atomic_set(&m->pending, 1);
	spin_lock(&kref_async_mods_lock);
	hash_add_rcu(kref_async_mods, &m->hnode, (unsigned long)mod);
	spin_unlock(&kref_async_mods_lock);
}

static void kref_async_mod_drop(struct module *mod)
{
	struct kref_async_mod *m;

	spin_lock(&kref_async_mods_lock);
	m = kref_async_mod_find(mod);
	spin_unlock(&kref_async_mods_lock);
	if (!m)
		return;
	if (!atomic_dec_and_test(&m->pending))
		wait_var_event(&m->pending, !atomic_read(&m->pending));
	spin_lock(&kref_async_mods_lock);
	hash_del_rcu(&m->hnode);
	spin_unlock(&kref_async_mods_lock);
	kfree_rcu(m, rcu);
}

/*
 * Runs first: the record must exist before anything can run code of the
 * module while it is COMING and put its objects: another COMING notifier,
 * or, after the chain, the setters of its parameters and its init
 * function.  It sees GOING first too, and acts on it only when that undoes
 * a COMING that another notifier failed: the module is then still COMING,
 * and the last notifier below is not called.
 */
static int kref_async_module_first(struct notifier_block *nb,
				   unsigned long action, void *data)
{
	struct module *mod = data;

	if (action == MODULE_STATE_COMING)
		kref_async_mod_add(mod);
	else if (action == MODULE_STATE_GOING &&
		 READ_ONCE(mod->state) == MODULE_STATE_COMING)
		kref_async_mod_drop(mod);
	return NOTIFY_OK;
}

/* Runs last: every other GOING notifier may still run the module's code. */
static int kref_async_module_last(struct notifier_block *nb,
				  unsigned long action, void *data)
{
	if (action == MODULE_STATE_GOING)
		kref_async_mod_drop(data);
	return NOTIFY_OK;
}

static struct notifier_block kref_async_module_first_nb = {
	.notifier_call = kref_async_module_first,
	.priority = INT_MAX,
};

static struct notifier_block kref_async_module_last_nb = {
	.notifier_call = kref_async_module_last,
	.priority = INT_MIN,
};

static int __init kref_async_init(void)
{
	int ret = register_module_notifier(&kref_async_module_first_nb);

	return ret ?: register_module_notifier(&kref_async_module_last_nb);
}
core_initcall(kref_async_init);
#endif
