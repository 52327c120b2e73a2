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
 *    task, so current->mm is still the caller's;
 *
 *  - everything else (kthreads, interrupts, a task past exit_task_work())
 *    pushes it on the current CPU's list, which one work item per CPU
 *    drains in batches on that CPU, as call_rcu() keeps its callbacks per
 *    CPU: a put touches no cache line that another CPU's puts or drains
 *    write to, and the module of the release is pinned once per batch.
 *
 * Neither path allocates or sleeps, so a final put is allowed wherever
 * kref_put() would be, hard interrupts included (but not NMI, where
 * queue_work() is not allowed).
 */

#include <linux/kref_async.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/stddef.h>
#include <linux/task_work.h>
#include <linux/workqueue.h>

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
 * The worker's pending releases on one CPU: a stack, taken whole by the
 * work item that the put finding it empty queues on system_percpu_wq,
 * bound to this CPU.  @mod is pinned once for the whole batch, by its first put
 * whose release lives in a module: the other releases of the batch that
 * live there take no reference of their own, so a burst of puts costs
 * neither a module lookup nor an atomic on the module's shared count per
 * object.  @lock is taken with interrupts off by the puts on this CPU and
 * by the work item, so that the list and its pin are taken together; it
 * is contended only if the work runs on another CPU, which happens once
 * this CPU has gone offline.
 */
struct kref_async_cpu {
	raw_spinlock_t		lock;
	struct llist_head	list;
	struct module		*mod;
	struct work_struct	work;
};

static DEFINE_PER_CPU(struct kref_async_cpu, kref_async_cpus);

/*
 * Pin the module that holds @fn until the release has returned, as
 * __fput() keeps fops->owner until after ->release().  The module is
 * found by address, so a put from one module of an object released by
 * another pins the right one.  Returns the module pinned, NULL if @fn is
 * built in.
 *
 * *@live is cleared if that module is already going away: its exit path
 * is dropping its own objects.  The release must then stay where the
 * MODULE_STATE_GOING notifier's flush can reach it, i.e. off task_work,
 * whose owner task may outlive the module.  The reference is taken all
 * the same so that the module_put() after the release is balanced.
 *
 * The RCU read section keeps @mod from being freed between the lookup
 * and the reference.
 */
static struct module *kref_async_pin(void *fn, bool *live)
{
	struct module *mod;

	guard(rcu)();
	mod = __module_text_address((unsigned long)fn);

	if (mod && !try_module_get(mod)) {
		__module_get(mod);
		*live = false;
	}
	return mod;
}

static void kref_async_unpin(void *fn)
{
	struct module *mod;

	/* Our own reference keeps @mod from being freed under us. */
	scoped_guard(rcu)
		mod = __module_text_address((unsigned long)fn);
	module_put(mod);
}

/* Does the batch's pin on @mod cover the release @fn? */
static bool kref_async_batch_covers(struct module *mod, void *fn)
{
#ifdef CONFIG_MODULES
	return mod && within_module_mem_type((unsigned long)fn, mod, MOD_TEXT);
#else
	return false;
#endif
}

/*
 * twork.func says how to call the release (with the node or with the
 * kref) and whether the node holds a module reference of its own, to be
 * dropped once the release has returned.  It is cleared just before the
 * release runs; after that the release owns, and may free, the node.
 */
static __always_inline void kref_async_run(struct callback_head *twork,
					   bool kref, bool own_pin)
{
	struct kref_async_node *node =
		container_of(twork, struct kref_async_node, twork);
	kref_async_release_t release = node->release;
	void (*kref_release)(struct kref *kref) = node->kref_release;
	void *fn = kref ? (void *)kref_release : (void *)release;

	WRITE_ONCE(twork->func, NULL);
	trace_kref_async_release(node, fn);
	if (kref)
		kref_release(node->kref);
	else
		release(node);
	if (own_pin)
		kref_async_unpin(fn);
}

static void kref_async_call_node(struct callback_head *twork)
{
	kref_async_run(twork, false, false);
}

static void kref_async_call_node_pinned(struct callback_head *twork)
{
	kref_async_run(twork, false, true);
}

static void kref_async_call_kref(struct callback_head *twork)
{
	kref_async_run(twork, true, false);
}

static void kref_async_call_kref_pinned(struct callback_head *twork)
{
	kref_async_run(twork, true, true);
}

static task_work_func_t kref_async_call(bool kref, bool own_pin)
{
	if (kref)
		return own_pin ? kref_async_call_kref_pinned :
				 kref_async_call_kref;
	return own_pin ? kref_async_call_node_pinned : kref_async_call_node;
}

/*
 * Deferring a node that is still pending is caught: linking it twice
 * would corrupt the list and run the release twice.
 */
static bool kref_async_pending(struct kref_async_node *node)
{
	task_work_func_t func = READ_ONCE(node->twork.func);

	return func == kref_async_call_node ||
	       func == kref_async_call_node_pinned ||
	       func == kref_async_call_kref ||
	       func == kref_async_call_kref_pinned;
}

/*
 * Hand @node to this CPU's worker.  @mod is the module already pinned for
 * this node alone, if any; otherwise the batch's pin is used, taken here
 * if the batch has none yet.
 */
static void kref_async_push(struct kref_async_node *node, bool kref,
			    void *fn, struct module *mod)
{
	struct kref_async_cpu *kc;
	bool own_pin = mod, first;
	unsigned long flags;
	bool live = true;
	int cpu;

	local_irq_save(flags);
	cpu = smp_processor_id();
	kc = per_cpu_ptr(&kref_async_cpus, cpu);
	raw_spin_lock(&kc->lock);
	if (!own_pin && !kref_async_batch_covers(kc->mod, fn)) {
		mod = kref_async_pin(fn, &live);
		if (mod && live && !kc->mod)
			kc->mod = mod;
		else
			own_pin = mod;
	}
	init_task_work(&node->twork, kref_async_call(kref, own_pin));
	first = __llist_add(&node->lnode, &kc->list);
	raw_spin_unlock(&kc->lock);
	/*
	 * Only the put that finds the list empty kicks the worker; the others
	 * ride along in the same batch.  Interrupts are still off, so the
	 * work is queued on the CPU whose list it drains.
	 */
	if (first)
		queue_work_on(cpu, system_percpu_wq, &kc->work);
	local_irq_restore(flags);
}

static void kref_async_queue(struct kref_async_node *node, bool kref,
			     void *fn)
{
	struct task_struct *task = current;
	struct module *mod = NULL;
	bool live = true;

	if (in_interrupt() || (task->flags & PF_KTHREAD))
		goto worker;

	mod = kref_async_pin(fn, &live);
	if (likely(live)) {
		init_task_work(&node->twork, kref_async_call(kref, mod));
		if (!task_work_add(task, &node->twork, TWA_RESUME)) {
			trace_kref_async_defer(node, fn, true);
			return;
		}
		/*
		 * The task has run exit_task_work() and will never run task
		 * work again: fall back to the worker rather than leak.
		 */
	}
worker:
	trace_kref_async_defer(node, fn, false);
	kref_async_push(node, kref, fn, mod);
}

/**
 * kref_async_defer - release an object whose count has just hit zero
 * @node: deferral state embedded in the object
 * @release: called with @node, later, from a context that holds no locks
 *
 * The core of kref_put_async(), for counts that are not a &struct kref
 * (for instance a bare &refcount_t).  The caller must own the last
 * reference: call this once the count has hit zero and never again on
 * the same @node until @release has run: that is refused with a warning.
 * @node needs no initialisation.
 *
 * @release runs exactly once: before the caller returns to user space if
 * it is a user task that still can, otherwise from a worker.  The module
 * that holds @release cannot be unloaded until @release has returned.
 *
 * Context: Any context but NMI.  Does not sleep, allocate or fail.
 */
void kref_async_defer(struct kref_async_node *node,
		      kref_async_release_t release)
{
	if (WARN_ON_ONCE(!release) || WARN_ON_ONCE(kref_async_pending(node)))
		return;
	node->release = release;
	kref_async_queue(node, false, release);
}
EXPORT_SYMBOL_GPL(kref_async_defer);

/**
 * kref_async_defer_kref - release a &struct kref whose count hit zero
 * @node: deferral state embedded in the object that @kref counts
 * @kref: the count, passed to @release
 * @release: called with @kref, later, from a context that holds no locks
 *
 * The out-of-line half of kref_put_async(); call that instead.
 *
 * Context: Any context but NMI.  Does not sleep, allocate or fail.
 */
void kref_async_defer_kref(struct kref_async_node *node, struct kref *kref,
			   void (*release)(struct kref *kref))
{
	if (WARN_ON_ONCE(!release) || WARN_ON_ONCE(kref_async_pending(node)))
		return;
	node->kref_release = release;
	node->kref = kref;
	kref_async_queue(node, true, release);
}
EXPORT_SYMBOL_GPL(kref_async_defer_kref);

static void kref_async_work_fn(struct work_struct *work)
{
	struct kref_async_cpu *kc =
		container_of(work, struct kref_async_cpu, work);
	struct kref_async_node *node, *next;
	struct llist_node *batch;
	unsigned int count = 0;
	unsigned long flags;
	struct module *mod;

	raw_spin_lock_irqsave(&kc->lock, flags);
	batch = __llist_del_all(&kc->list);
	mod = kc->mod;
	kc->mod = NULL;
	raw_spin_unlock_irqrestore(&kc->lock, flags);
	if (!batch)
		return;

	/*
	 * Each release frees its node: fetch the link first.  Releases put
	 * in the meantime start a new batch and requeue the work.
	 */
	llist_for_each_entry_safe(node, next, batch, lnode) {
		node->twork.func(&node->twork);
		count++;
		cond_resched();
	}
	/* The batch's releases have all returned. */
	module_put(mod);
	trace_kref_async_drain(count);
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
	int cpu;

	might_sleep();
	/*
	 * A put that has returned either found its CPU's list empty and
	 * queued the work, or found it holding nodes that a queued and not
	 * yet started execution of the work will take: waiting for each
	 * CPU's work covers it.  Nothing but the work takes a list, so no
	 * release can be running anywhere else.
	 */
	for_each_possible_cpu(cpu)
		flush_work(&per_cpu_ptr(&kref_async_cpus, cpu)->work);
}
EXPORT_SYMBOL_GPL(kref_async_flush);

static int __init kref_async_init_cpus(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct kref_async_cpu *kc = per_cpu_ptr(&kref_async_cpus, cpu);

		raw_spin_lock_init(&kc->lock);
		init_llist_head(&kc->list);
		INIT_WORK(&kc->work, kref_async_work_fn);
	}
	return 0;
}
early_initcall(kref_async_init_cpus);

#ifdef CONFIG_MODULES
/*
 * A module's exit function may drop the last references to its own
 * objects.  Those releases went to the worker without keeping the module
 * alive (it was already going), so wait for them before its text goes.
 */
static int kref_async_module_notify(struct notifier_block *nb,
				    unsigned long action, void *data)
{
	if (action == MODULE_STATE_GOING)
		kref_async_flush();
	return NOTIFY_OK;
}

static struct notifier_block kref_async_module_nb = {
	.notifier_call = kref_async_module_notify,
};

static int __init kref_async_init(void)
{
	return register_module_notifier(&kref_async_module_nb);
}
core_initcall(kref_async_init);
#endif
