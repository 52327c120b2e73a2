// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for kref_put_async() and kref_async_defer(), and for the
 * release map of kref_put_mapped() that points lockdep at a put that
 * kref_put_async() would fix.
 *
 * KUnit cases run in kthreads, so every put here takes the worker path;
 * the task_work path is covered from user space by the kref_async test
 * module (tests/ in the development repository).
 */

#include <kunit/test.h>

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/debug_locks.h>
#include <linux/delay.h>
#include <linux/hardirq.h>
#include <linux/hrtimer.h>
#include <linux/interrupt.h>
#include <linux/kref_async.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/release_map.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/workqueue.h>

#include <trace/events/kref_async.h>

struct ka_obj {
	struct kref ref;
	struct kref_async_node node;
	atomic_t released;
	/* context the release saw */
	struct task_struct *release_task;
	bool release_in_interrupt;
	bool release_irqs_disabled;
	int seq;
	void *priv;
};

static atomic_t ka_order;

static void ka_obj_init(struct ka_obj *obj)
{
	memset(obj, 0, sizeof(*obj));
	kref_init(&obj->ref);
}

static void ka_note_release(struct ka_obj *obj)
{
	obj->release_task = current;
	obj->release_in_interrupt = in_interrupt();
	obj->release_irqs_disabled = irqs_disabled();
	obj->seq = atomic_inc_return(&ka_order);
	atomic_inc(&obj->released);
}

static void ka_release(struct kref *kref)
{
	ka_note_release(container_of(kref, struct ka_obj, ref));
}

static void ka_expect_released_once(struct kunit *test, struct ka_obj *obj)
{
	KUNIT_EXPECT_EQ(test, atomic_read(&obj->released), 1);
	KUNIT_EXPECT_FALSE(test, obj->release_in_interrupt);
	KUNIT_EXPECT_FALSE(test, obj->release_irqs_disabled);
}

/* A release that runs once, and only once the count reaches zero. */
static void kref_async_test_release_once(struct kunit *test)
{
	struct ka_obj obj;

	ka_obj_init(&obj);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	kref_async_flush();
	ka_expect_released_once(test, &obj);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&obj.released), 1);
}

static void kref_async_test_get_put_balance(struct kunit *test)
{
	struct ka_obj obj;
	int i;

	ka_obj_init(&obj);
	for (i = 0; i < 16; i++)
		kref_get(&obj.ref);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_FALSE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&obj.released), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&obj.ref), 1);

	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	kref_async_flush();
	ka_expect_released_once(test, &obj);
}

/* Between the final put and the release, lookups must not revive it. */
static void kref_async_test_get_unless_zero_dead(struct kunit *test)
{
	struct ka_obj obj;

	ka_obj_init(&obj);
	KUNIT_EXPECT_TRUE(test, kref_get_unless_zero(&obj.ref));
	KUNIT_EXPECT_FALSE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	KUNIT_EXPECT_FALSE(test, kref_get_unless_zero(&obj.ref));
	kref_async_flush();
	ka_expect_released_once(test, &obj);
	KUNIT_EXPECT_FALSE(test, kref_get_unless_zero(&obj.ref));
}

/*
 * A put on a count that is already zero is a use-after-free in the
 * caller.  refcount_t warns and saturates; nothing may be released.
 */
static void kref_async_test_dead_count(struct kunit *test)
{
	struct ka_obj obj;

	ka_obj_init(&obj);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	kref_async_flush();
	KUNIT_ASSERT_EQ(test, atomic_read(&obj.released), 1);

	kunit_info(test, "a refcount_t underflow warning is expected next\n");
	KUNIT_EXPECT_FALSE(test, kref_put_async(&obj.ref, ka_release, &obj.node));
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&obj.released), 1);
	KUNIT_EXPECT_EQ(test, kref_read(&obj.ref), (unsigned int)REFCOUNT_SATURATED);
}

/* The core API on a bare refcount_t, as KVM counts its VMs. */
struct ka_raw {
	refcount_t users;
	struct kref_async_node node;
	atomic_t released;
	bool in_worker;
};

static void ka_raw_release(struct kref_async_node *node)
{
	struct ka_raw *raw = container_of(node, struct ka_raw, node);

	raw->in_worker = current->flags & PF_WQ_WORKER;
	atomic_inc(&raw->released);
}

static void kref_async_test_refcount_core(struct kunit *test)
{
	struct ka_raw raw = { .users = REFCOUNT_INIT(2) };

	if (refcount_dec_and_test(&raw.users))
		kref_async_defer(&raw.node, ka_raw_release);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 0);
	if (refcount_dec_and_test(&raw.users))
		kref_async_defer(&raw.node, ka_raw_release);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 1);
}

/*
 * kref_async_defer_worker(): run once, by a workqueue worker, and waited
 * for by kref_async_flush().  (From this kthread kref_async_defer() takes
 * the worker too: the guest's users step shows the difference from a
 * user task.)
 */
static void kref_async_test_worker_only(struct kunit *test)
{
	struct ka_raw raw = { .users = REFCOUNT_INIT(1) };

	if (refcount_dec_and_test(&raw.users))
		kref_async_defer_worker(&raw.node, ka_raw_release);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 1);
	KUNIT_EXPECT_TRUE(test, raw.in_worker);
}

/*
 * Nobody flushes: the worker must pick the release up by itself, and it
 * runs in a workqueue worker, not in the putting kthread.
 */
struct ka_done_obj {
	struct ka_obj obj;
	struct completion done;
};

static void ka_done_release(struct kref *kref)
{
	struct ka_done_obj *d = container_of(kref, struct ka_done_obj, obj.ref);

	ka_note_release(&d->obj);
	complete(&d->done);
}

static void kref_async_test_worker_drains(struct kunit *test)
{
	struct ka_done_obj d;

	ka_obj_init(&d.obj);
	init_completion(&d.done);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&d.obj.ref, ka_done_release, &d.obj.node));
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&d.done, 10 * HZ), 0UL);
	ka_expect_released_once(test, &d.obj);
	KUNIT_EXPECT_PTR_NE(test, d.obj.release_task, current);
	KUNIT_EXPECT_TRUE(test, d.obj.release_task->flags & PF_WQ_WORKER);
	kref_async_flush();
}

/*
 * The hazard, modelled: a "group lock" is held across the final put and
 * the release takes that same lock.  Run synchronously this would
 * self-deadlock; deferred, the put returns with the release not run, and
 * the release completes once the lock is dropped, with lockdep silent.
 */
struct ka_group {
	/* stands for vfio's group lock; taken by the release too */
	struct mutex group_lock;
	struct task_struct *putter;
	bool ran_in_putter;
	bool done;
	struct ka_obj obj;
};

static void ka_group_release(struct kref *kref)
{
	struct ka_group *g = container_of(kref, struct ka_group, obj.ref);

	ka_note_release(&g->obj);
	if (current == g->putter) {
		/* Synchronous release: locking here would deadlock. */
		g->ran_in_putter = true;
		g->done = true;
		return;
	}
	mutex_lock(&g->group_lock);
	g->done = true;
	mutex_unlock(&g->group_lock);
}

static void kref_async_test_group_lock_chain(struct kunit *test)
{
	struct ka_group *g = kunit_kzalloc(test, sizeof(*g), GFP_KERNEL);
	bool debug_locks_before = debug_locks;

	KUNIT_ASSERT_NOT_NULL(test, g);
	mutex_init(&g->group_lock);
	kref_init(&g->obj.ref);
	g->putter = current;

	mutex_lock(&g->group_lock);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&g->obj.ref, ka_group_release, &g->obj.node));
	/* The release needs group_lock, which we hold: it cannot be done. */
	KUNIT_EXPECT_FALSE(test, READ_ONCE(g->done));
	msleep(20);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(g->done));
	mutex_unlock(&g->group_lock);

	kref_async_flush();
	KUNIT_EXPECT_TRUE(test, g->done);
	KUNIT_EXPECT_FALSE(test, g->ran_in_putter);
	ka_expect_released_once(test, &g->obj);
	/* lockdep turns debug_locks off at its first report */
	KUNIT_EXPECT_EQ(test, debug_locks, debug_locks_before);
	mutex_destroy(&g->group_lock);
}

/* With a spinlock held and interrupts off the release still runs later. */
static void kref_async_test_spinlock_irqs_off(struct kunit *test)
{
	struct ka_obj obj;
	unsigned long flags;
	spinlock_t lock;	/* held across the final put */
	int ret;

	spin_lock_init(&lock);
	ka_obj_init(&obj);
	spin_lock_irqsave(&lock, flags);
	ret = kref_put_async(&obj.ref, ka_release, &obj.node);
	spin_unlock_irqrestore(&lock, flags);
	KUNIT_EXPECT_EQ(test, ret, 1);
	kref_async_flush();
	ka_expect_released_once(test, &obj);
	KUNIT_EXPECT_PTR_NE(test, obj.release_task, NULL);
}

/* Final put from hard interrupt context. */
struct ka_irq {
	struct hrtimer timer;
	struct timer_list tlist;
	struct completion fired;
	bool put_in_hardirq;
	bool put_in_softirq;
	int ret;
	struct ka_obj obj;
};

static enum hrtimer_restart ka_hrtimer_fn(struct hrtimer *timer)
{
	struct ka_irq *ki = container_of(timer, struct ka_irq, timer);

	ki->put_in_hardirq = in_hardirq();
	ki->ret = kref_put_async(&ki->obj.ref, ka_release, &ki->obj.node);
	complete(&ki->fired);
	return HRTIMER_NORESTART;
}

static void kref_async_test_hardirq(struct kunit *test)
{
	struct ka_irq *ki = kunit_kzalloc(test, sizeof(*ki), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ki);
	kref_init(&ki->obj.ref);
	init_completion(&ki->fired);
	hrtimer_setup(&ki->timer, ka_hrtimer_fn, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_HARD);
	hrtimer_start(&ki->timer, ns_to_ktime(100 * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_HARD);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&ki->fired, 10 * HZ), 0UL);
	hrtimer_cancel(&ki->timer);

	KUNIT_EXPECT_TRUE(test, ki->put_in_hardirq);
	KUNIT_EXPECT_EQ(test, ki->ret, 1);
	kref_async_flush();
	ka_expect_released_once(test, &ki->obj);
}

static void ka_timer_fn(struct timer_list *t)
{
	struct ka_irq *ki = timer_container_of(ki, t, tlist);

	ki->put_in_softirq = in_serving_softirq();
	ki->ret = kref_put_async(&ki->obj.ref, ka_release, &ki->obj.node);
	complete(&ki->fired);
}

static void kref_async_test_softirq(struct kunit *test)
{
	struct ka_irq *ki = kunit_kzalloc(test, sizeof(*ki), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ki);
	kref_init(&ki->obj.ref);
	init_completion(&ki->fired);
	timer_setup(&ki->tlist, ka_timer_fn, 0);
	mod_timer(&ki->tlist, jiffies + 1);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&ki->fired, 10 * HZ), 0UL);
	timer_delete_sync(&ki->tlist);

	KUNIT_EXPECT_TRUE(test, ki->put_in_softirq);
	KUNIT_EXPECT_EQ(test, ki->ret, 1);
	kref_async_flush();
	ka_expect_released_once(test, &ki->obj);
}

/*
 * A final put under a lock that a hard interrupt (a raw spinlock, as a
 * hard hrtimer may take no other), or a softirq, also takes draws no
 * lockdep report: nothing that a put from a task does looks to lockdep
 * like a lock that is taken with interrupts on, which would make such a
 * caller's lock order read as irq-safe to irq-unsafe.
 */
static DEFINE_RAW_SPINLOCK(ka_hardirq_lock);
static DEFINE_SPINLOCK(ka_softirq_lock);

struct ka_irq_locks {
	struct hrtimer timer;
	struct timer_list tlist;
	struct completion hard, soft;
	struct ka_obj objs[3];
};

static enum hrtimer_restart ka_hardirq_lock_fn(struct hrtimer *timer)
{
	struct ka_irq_locks *il = container_of(timer, struct ka_irq_locks, timer);

	raw_spin_lock(&ka_hardirq_lock);
	raw_spin_unlock(&ka_hardirq_lock);
	complete(&il->hard);
	return HRTIMER_NORESTART;
}

static void ka_softirq_lock_fn(struct timer_list *t)
{
	struct ka_irq_locks *il = timer_container_of(il, t, tlist);

	spin_lock(&ka_softirq_lock);
	spin_unlock(&ka_softirq_lock);
	complete(&il->soft);
}

static void kref_async_test_irq_safe_locks(struct kunit *test)
{
	struct ka_irq_locks *il = kunit_kzalloc(test, sizeof(*il), GFP_KERNEL);
	unsigned long flags;
	int i;

	KUNIT_ASSERT_NOT_NULL(test, il);
	KUNIT_ASSERT_TRUE(test, debug_locks);
	for (i = 0; i < ARRAY_SIZE(il->objs); i++)
		ka_obj_init(&il->objs[i]);
	init_completion(&il->hard);
	init_completion(&il->soft);

	/* Lockdep learns that each lock is taken in interrupt context. */
	hrtimer_setup(&il->timer, ka_hardirq_lock_fn, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_HARD);
	hrtimer_start(&il->timer, ns_to_ktime(100 * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_HARD);
	timer_setup(&il->tlist, ka_softirq_lock_fn, 0);
	mod_timer(&il->tlist, jiffies + 1);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&il->hard, 10 * HZ), 0UL);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&il->soft, 10 * HZ), 0UL);
	hrtimer_cancel(&il->timer);
	timer_delete_sync(&il->tlist);

	/* A final put with interrupts on, then one under each lock. */
	KUNIT_EXPECT_TRUE(test, kref_put_async(&il->objs[0].ref, ka_release,
					       &il->objs[0].node));
	raw_spin_lock_irqsave(&ka_hardirq_lock, flags);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&il->objs[1].ref, ka_release,
					       &il->objs[1].node));
	raw_spin_unlock_irqrestore(&ka_hardirq_lock, flags);
	spin_lock_bh(&ka_softirq_lock);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&il->objs[2].ref, ka_release,
					       &il->objs[2].node));
	spin_unlock_bh(&ka_softirq_lock);
	kref_async_flush();

	for (i = 0; i < ARRAY_SIZE(il->objs); i++)
		ka_expect_released_once(test, &il->objs[i]);
	/* lockdep turns debug_locks off at its first report */
	KUNIT_EXPECT_TRUE(test, debug_locks);
}

/*
 * Batching.  Releases hold every drain of this CPU; the puts made
 * meanwhile pile up on the list and must be taken in one go: the list is
 * a stack, so one batch runs them newest first, whereas one execution per
 * object (or no deferral at all) would run them in put order.  Where
 * tracepoints exist the executions are also counted directly.
 */
#define KA_BATCH 64

struct ka_batch {
	struct ka_done_obj gates[KREF_ASYNC_DRAINS];
	struct completion gate_open;
	struct task_struct *putter;
	int parked;
	struct ka_obj objs[KA_BATCH];
	atomic_t drains;
	atomic_t drained;
};

static void ka_gate_release(struct kref *kref)
{
	struct ka_done_obj *d = container_of(kref, struct ka_done_obj, obj.ref);
	struct ka_batch *b = d->obj.priv;

	complete(&d->done);
	/* run synchronously, waiting would hang the test */
	if (current != b->putter)
		wait_for_completion(&b->gate_open);
	ka_note_release(&d->obj);
}

/*
 * Park @n drains of this CPU, each in a gate's release, until
 * ka_unpark_worker().  The lists are per CPU: the caller stays on this
 * CPU meanwhile, so that its puts pile up behind the parked drains.
 */
static bool ka_park(struct ka_batch *b, int n)
{
	int i;

	init_completion(&b->gate_open);
	b->putter = current;
	migrate_disable();
	for (i = 0; i < n; i++) {
		struct ka_done_obj *g = &b->gates[i];

		kref_init(&g->obj.ref);
		g->obj.priv = b;
		init_completion(&g->done);
		kref_put_async(&g->obj.ref, ka_gate_release, &g->obj.node);
		if (!wait_for_completion_timeout(&g->done, 10 * HZ))
			break;
	}
	b->parked = i;
	if (i == n)
		return true;
	complete_all(&b->gate_open);
	migrate_enable();
	return false;
}

/* One drain: the releases put meanwhile go to the others. */
static bool ka_park_worker(struct ka_batch *b)
{
	return ka_park(b, 1);
}

/* Every drain: the releases put meanwhile wait. */
static bool ka_park_all(struct ka_batch *b)
{
	return ka_park(b, KREF_ASYNC_DRAINS);
}

static void ka_unpark_worker(struct ka_batch *b)
{
	complete_all(&b->gate_open);
	migrate_enable();
}

static int ka_gates_released(struct ka_batch *b)
{
	int i, n = 0;

	for (i = 0; i < b->parked; i++)
		n += atomic_read(&b->gates[i].obj.released);
	return n;
}

/*
 * Puts from interrupts have a list of their own on each CPU, with drains
 * of their own: a put from a hard interrupt is released while every
 * drain of the same CPU's list for puts from tasks is parked.  (A task
 * pushes its list with preemption off alone, which an interrupt's push
 * onto the same list could corrupt.)
 */
struct ka_irq_list {
	struct ka_batch b;
	struct hrtimer timer;
	struct ka_done_obj d;
	bool put_in_hardirq;
	int put_cpu;
};

static enum hrtimer_restart ka_irq_list_fn(struct hrtimer *timer)
{
	struct ka_irq_list *il = container_of(timer, struct ka_irq_list, timer);

	il->put_in_hardirq = in_hardirq();
	il->put_cpu = smp_processor_id();
	kref_put_async(&il->d.obj.ref, ka_done_release, &il->d.obj.node);
	return HRTIMER_NORESTART;
}

static void kref_async_test_irq_list(struct kunit *test)
{
	struct ka_irq_list *il = kunit_kzalloc(test, sizeof(*il), GFP_KERNEL);
	bool released;
	int cpu;

	KUNIT_ASSERT_NOT_NULL(test, il);
	ka_obj_init(&il->d.obj);
	init_completion(&il->d.done);
	KUNIT_ASSERT_TRUE(test, ka_park_all(&il->b));

	/* ka_park_all() keeps this task on its CPU until unparked. */
	cpu = smp_processor_id();
	hrtimer_setup(&il->timer, ka_irq_list_fn, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_PINNED_HARD);
	hrtimer_start(&il->timer, ns_to_ktime(100 * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_PINNED_HARD);
	released = wait_for_completion_timeout(&il->d.done, 10 * HZ);
	hrtimer_cancel(&il->timer);
	ka_unpark_worker(&il->b);
	kref_async_flush();

	KUNIT_EXPECT_TRUE(test, il->put_in_hardirq);
	KUNIT_EXPECT_EQ(test, il->put_cpu, cpu);
	KUNIT_EXPECT_TRUE(test, released);
	ka_expect_released_once(test, &il->d.obj);
	KUNIT_EXPECT_EQ(test, ka_gates_released(&il->b), KREF_ASYNC_DRAINS);
}

#ifdef CONFIG_TRACEPOINTS
static void ka_probe_drain(void *data, unsigned int count)
{
	struct ka_batch *b = data;

	atomic_inc(&b->drains);
	atomic_add(count, &b->drained);
}
#endif

static void kref_async_test_batching(struct kunit *test)
{
	struct ka_batch *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, b);
#ifdef CONFIG_TRACEPOINTS
	KUNIT_ASSERT_EQ(test, register_trace_kref_async_drain(ka_probe_drain, b), 0);
#endif
	for (i = 0; i < KA_BATCH; i++)
		kref_init(&b->objs[i].ref);
	KUNIT_ASSERT_TRUE(test, ka_park_all(b));

	/* Every drain is parked in ka_gate_release(): nothing else runs. */
	for (i = 0; i < KA_BATCH; i++)
		KUNIT_EXPECT_TRUE(test, kref_put_async(&b->objs[i].ref, ka_release,
						       &b->objs[i].node));
	for (i = 0; i < KA_BATCH; i++)
		KUNIT_EXPECT_EQ(test, atomic_read(&b->objs[i].released), 0);

	ka_unpark_worker(b);
	kref_async_flush();

	KUNIT_EXPECT_EQ(test, ka_gates_released(b), KREF_ASYNC_DRAINS);
	for (i = 0; i < KA_BATCH; i++)
		ka_expect_released_once(test, &b->objs[i]);
	for (i = 1; i < KA_BATCH; i++)
		KUNIT_EXPECT_LT(test, b->objs[i].seq, b->objs[i - 1].seq);
#ifdef CONFIG_TRACEPOINTS
	unregister_trace_kref_async_drain(ka_probe_drain, b);
	tracepoint_synchronize_unregister();
	/* the gates' batches and the pile-up's, nothing per object */
	KUNIT_EXPECT_EQ(test, atomic_read(&b->drained),
			KA_BATCH + KREF_ASYNC_DRAINS);
	KUNIT_EXPECT_LE(test, atomic_read(&b->drains), KREF_ASYNC_DRAINS + 1);
#endif
}

/*
 * A release that drops the last reference to another object: that
 * release is deferred too, not run nested inside the first.  It may run
 * while the first is still running, in another drain.
 */
struct ka_chain {
	struct ka_obj a;
	struct ka_obj b;
	struct task_struct *in_a;	/* the task running a's release */
	bool b_nested;
};

static void ka_chain_b_release(struct kref *kref)
{
	struct ka_chain *c = container_of(kref, struct ka_chain, b.ref);

	c->b_nested = READ_ONCE(c->in_a) == current;
	ka_note_release(&c->b);
}

static void ka_chain_a_release(struct kref *kref)
{
	struct ka_chain *c = container_of(kref, struct ka_chain, a.ref);

	/* Noted first: b's release may run at once, in another drain. */
	ka_note_release(&c->a);
	WRITE_ONCE(c->in_a, current);
	kref_put_async(&c->b.ref, ka_chain_b_release, &c->b.node);
	WRITE_ONCE(c->in_a, NULL);
}

static void kref_async_test_chain(struct kunit *test)
{
	struct ka_chain *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, c);
	kref_init(&c->a.ref);
	kref_init(&c->b.ref);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&c->a.ref, ka_chain_a_release, &c->a.node));
	/* b is queued while a's release runs: the second flush covers it */
	kref_async_flush();
	kref_async_flush();
	ka_expect_released_once(test, &c->a);
	ka_expect_released_once(test, &c->b);
	KUNIT_EXPECT_FALSE(test, c->b_nested);
	KUNIT_EXPECT_GT(test, c->b.seq, c->a.seq);
}

/* A release may sleep, and the flush waits for it. */
static void ka_sleepy_release(struct kref *kref)
{
	msleep(30);
	ka_release(kref);
}

static void kref_async_test_release_sleeps(struct kunit *test)
{
	struct ka_obj obj;

	ka_obj_init(&obj);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj.ref, ka_sleepy_release, &obj.node));
	kref_async_flush();
	ka_expect_released_once(test, &obj);
}

/* A flush in progress does not return before a running release does. */
struct ka_flusher {
	struct completion started;
	struct completion finished;
};

static int ka_flush_thread(void *data)
{
	struct ka_flusher *f = data;

	complete(&f->started);
	kref_async_flush();
	complete(&f->finished);
	return 0;
}

static void kref_async_test_flush_waits(struct kunit *test)
{
	struct ka_batch *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct ka_flusher f;
	struct task_struct *t;

	KUNIT_ASSERT_NOT_NULL(test, b);
	init_completion(&f.started);
	init_completion(&f.finished);
	KUNIT_ASSERT_TRUE(test, ka_park_worker(b));

	t = kthread_run(ka_flush_thread, &f, "ka_flush");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	wait_for_completion(&f.started);
	/* the release is parked: the flush must still be waiting */
	KUNIT_EXPECT_EQ(test, wait_for_completion_timeout(&f.finished, HZ / 10), 0UL);
	KUNIT_EXPECT_EQ(test, ka_gates_released(b), 0);

	ka_unpark_worker(b);
	KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&f.finished, 10 * HZ), 0UL);
	KUNIT_EXPECT_EQ(test, ka_gates_released(b), 1);
}

/*
 * Producers on every CPU, each flushing as it goes, while another thread
 * flushes too: every object is released exactly once.
 */
#define KA_STRESS_OBJS 2048

struct ka_stress {
	struct ka_obj *objs;
	int first, count;
	struct completion done;
};

static int ka_stress_thread(void *data)
{
	struct ka_stress *s = data;
	int i;

	for (i = s->first; i < s->first + s->count; i++) {
		kref_get(&s->objs[i].ref);
		kref_put_async(&s->objs[i].ref, ka_release, &s->objs[i].node);
		kref_put_async(&s->objs[i].ref, ka_release, &s->objs[i].node);
		if (i % 256 == 0)
			kref_async_flush();
	}
	complete(&s->done);
	return 0;
}

static void kref_async_test_concurrent(struct kunit *test)
{
	struct ka_obj *objs;
	struct ka_stress s[3];
	int i, cpu, n = ARRAY_SIZE(s);

	objs = kunit_kcalloc(test, KA_STRESS_OBJS, sizeof(*objs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, objs);
	for (i = 0; i < KA_STRESS_OBJS; i++)
		kref_init(&objs[i].ref);

	for (i = 0; i < n; i++) {
		struct task_struct *t;

		s[i].objs = objs;
		s[i].count = KA_STRESS_OBJS / n;
		s[i].first = i * s[i].count;
		init_completion(&s[i].done);
		t = kthread_create(ka_stress_thread, &s[i], "ka_stress/%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		cpu = cpumask_nth(i % num_online_cpus(), cpu_online_mask);
		kthread_bind(t, cpu);
		wake_up_process(t);
	}
	for (i = 0; i < n; i++) {
		KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&s[i].done, 60 * HZ), 0UL);
		kref_async_flush();
	}
	kref_async_flush();
	for (i = 0; i < n * s[0].count; i++)
		ka_expect_released_once(test, &objs[i]);
}

/* Two flushes at once, neither returning before the releases are done. */
static void kref_async_test_concurrent_flushes(struct kunit *test)
{
	struct ka_flusher f[2];
	struct ka_obj *objs;
	int i;

	objs = kunit_kcalloc(test, 256, sizeof(*objs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, objs);
	for (i = 0; i < 256; i++) {
		kref_init(&objs[i].ref);
		kref_put_async(&objs[i].ref, ka_release,
			       &objs[i].node);
	}
	for (i = 0; i < 2; i++) {
		struct task_struct *t;

		init_completion(&f[i].started);
		init_completion(&f[i].finished);
		t = kthread_run(ka_flush_thread, &f[i], "ka_flush/%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	}
	for (i = 0; i < 2; i++)
		KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&f[i].finished, 10 * HZ), 0UL);
	/* both returned: everything queued before they started is done */
	for (i = 0; i < 256; i++)
		ka_expect_released_once(test, &objs[i]);
}

/* A NULL release is refused with a warning rather than crashing later. */
static void kref_async_test_null_release(struct kunit *test)
{
	struct ka_raw raw = { .users = REFCOUNT_INIT(1) };

	kunit_info(test, "a WARNING for the NULL release is expected next\n");
	if (refcount_dec_and_test(&raw.users))
		kref_async_defer(&raw.node, NULL);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 0);
}

/*
 * Deferring a node that is still pending is refused with a warning:
 * linking it twice would loop the list and release the object twice.
 * The worker is parked so that the first deferral stays pending.
 */
static void kref_async_test_double_defer(struct kunit *test)
{
	struct ka_batch *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct ka_raw raw = { .users = REFCOUNT_INIT(1) };

	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_TRUE(test, ka_park_all(b));

	KUNIT_ASSERT_TRUE(test, refcount_dec_and_test(&raw.users));
	kref_async_defer(&raw.node, ka_raw_release);
	kunit_info(test, "a WARNING for the pending node is expected next\n");
	kref_async_defer(&raw.node, ka_raw_release);

	ka_unpark_worker(b);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 1);
	KUNIT_EXPECT_EQ(test, ka_gates_released(b), KREF_ASYNC_DRAINS);
}

/*
 * A release that blocks holds back nobody else's: with one release parked
 * in a drain, the releases put after it on the same CPU all run while it
 * is still parked.  With a single drain per CPU they would wait for it.
 */
#define KA_SHORT 256

static void kref_async_test_slow_release(struct kunit *test)
{
	struct ka_batch *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct ka_obj *objs = kunit_kcalloc(test, KA_SHORT, sizeof(*objs),
					    GFP_KERNEL);
	unsigned long timeout = jiffies + 10 * HZ;
	int i, done;

	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_NOT_NULL(test, objs);
	KUNIT_ASSERT_TRUE(test, ka_park_worker(b));
	for (i = 0; i < KA_SHORT; i++) {
		ka_obj_init(&objs[i]);
		KUNIT_EXPECT_TRUE(test, kref_put_async(&objs[i].ref, ka_release,
						       &objs[i].node));
	}
	do {
		for (done = 0, i = 0; i < KA_SHORT; i++)
			done += atomic_read(&objs[i].released);
		if (done == KA_SHORT)
			break;
		usleep_range(1000, 2000);
	} while (time_before(jiffies, timeout));
	KUNIT_EXPECT_EQ(test, done, KA_SHORT);
	KUNIT_EXPECT_EQ(test, ka_gates_released(b), 0);

	ka_unpark_worker(b);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, ka_gates_released(b), 1);
	for (i = 0; i < KA_SHORT; i++)
		ka_expect_released_once(test, &objs[i]);
}

/*
 * A put from NMI context is refused with a warning: the drains' lock and
 * queue_work() are not NMI-safe.  The object is not released.  An NMI is
 * entered by hand, with interrupts off, as the NMI entry code does.
 */
static void kref_async_test_nmi_refused(struct kunit *test)
{
	struct ka_raw raw = { .users = REFCOUNT_INIT(1) };
	unsigned long flags;

	kunit_info(test, "a WARNING for the put in NMI context is expected next\n");
	local_irq_save(flags);
	__nmi_enter();
	if (refcount_dec_and_test(&raw.users))
		kref_async_defer(&raw.node, ka_raw_release);
	__nmi_exit();
	local_irq_restore(flags);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 0);
}

/*
 * kref_async_node_init() makes any memory a node that is not pending: here
 * the memory holds a copy of a node that is, which a deferral would
 * refuse.  Revived after its release, the object can be released again.
 */
static void kref_async_test_node_init(struct kunit *test)
{
	struct ka_batch *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct ka_obj *obj = kunit_kmalloc(test, sizeof(*obj), GFP_KERNEL);
	struct ka_raw raw = { .users = REFCOUNT_INIT(1) };

	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	KUNIT_ASSERT_TRUE(test, ka_park_all(b));
	KUNIT_ASSERT_TRUE(test, refcount_dec_and_test(&raw.users));
	kref_async_defer(&raw.node, ka_raw_release);

	memset(obj, 0, sizeof(*obj));
	kref_init(&obj->ref);
	memcpy(&obj->node, &raw.node, sizeof(obj->node));
	kref_async_node_init(&obj->node);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj->ref, ka_release, &obj->node));

	ka_unpark_worker(b);
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&raw.released), 1);
	ka_expect_released_once(test, obj);

	kref_init(&obj->ref);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&obj->ref, ka_release, &obj->node));
	kref_async_flush();
	KUNIT_EXPECT_EQ(test, atomic_read(&obj->released), 2);
}

static void kref_async_test_node_size(struct kunit *test)
{
	/* no bigger than a work_struct without lockdep */
	KUNIT_EXPECT_LE(test, sizeof(struct kref_async_node),
			4 * sizeof(void *));
}

static struct kunit_case kref_async_test_cases[] = {
	KUNIT_CASE(kref_async_test_release_once),
	KUNIT_CASE(kref_async_test_get_put_balance),
	KUNIT_CASE(kref_async_test_get_unless_zero_dead),
	KUNIT_CASE(kref_async_test_dead_count),
	KUNIT_CASE(kref_async_test_refcount_core),
	KUNIT_CASE(kref_async_test_worker_only),
	KUNIT_CASE(kref_async_test_worker_drains),
	KUNIT_CASE(kref_async_test_group_lock_chain),
	KUNIT_CASE(kref_async_test_spinlock_irqs_off),
	KUNIT_CASE(kref_async_test_hardirq),
	KUNIT_CASE(kref_async_test_softirq),
	KUNIT_CASE(kref_async_test_irq_list),
	KUNIT_CASE(kref_async_test_irq_safe_locks),
	KUNIT_CASE(kref_async_test_batching),
	KUNIT_CASE(kref_async_test_chain),
	KUNIT_CASE(kref_async_test_release_sleeps),
	KUNIT_CASE(kref_async_test_flush_waits),
	KUNIT_CASE(kref_async_test_concurrent),
	KUNIT_CASE(kref_async_test_concurrent_flushes),
	KUNIT_CASE(kref_async_test_null_release),
	KUNIT_CASE(kref_async_test_double_defer),
	KUNIT_CASE(kref_async_test_slow_release),
	KUNIT_CASE(kref_async_test_nmi_refused),
	KUNIT_CASE(kref_async_test_node_init),
	KUNIT_CASE(kref_async_test_node_size),
	{}
};

static struct kunit_suite kref_async_test_suite = {
	.name = "kref_async",
	.test_cases = kref_async_test_cases,
};

#if IS_ENABLED(CONFIG_RELEASE_MAP_KUNIT_TEST)
/*
 * The release map of kref_put_mapped(), with CONFIG_PROVE_RELEASE_MAPS:
 * lockdep must report a lock order that only a final put would show,
 * from a put that is not the final one.  Its own suite, run after the
 * one above and only when asked for (CONFIG_RELEASE_MAP_KUNIT_TEST): the
 * case ends with lockdep's report, after which lockdep is off for the
 * rest of the boot, as after any report.
 */
static struct release_map ka_release_map = RELEASE_MAP_INIT(ka_release_map);
/* Taken by the release, and held across the puts under test. */
static DEFINE_MUTEX(ka_map_lock);

struct ka_mobj {
	struct kref		ref;
	struct kref_async_node	node;
	bool			released;
};

static void ka_map_release(struct kref *ref)
{
	struct ka_mobj *o = container_of(ref, struct ka_mobj, ref);

	mutex_lock(&ka_map_lock);
	o->released = true;
	mutex_unlock(&ka_map_lock);
}

static void release_map_test_nonfinal_put(struct kunit *test)
{
	struct ka_mobj *a = kunit_kzalloc(test, sizeof(*a), GFP_KERNEL);
	struct ka_mobj *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct ka_mobj *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	bool reported;

	KUNIT_ASSERT_TRUE(test, a && b && c);
	if (!debug_locks)
		kunit_skip(test, "lockdep is already off: it can report nothing");

	/* A final put with no lock held: the release takes ka_map_lock. */
	kref_init(&a->ref);
	KUNIT_EXPECT_EQ(test, kref_put_mapped(&a->ref, ka_map_release,
					      &ka_release_map), 1);
	KUNIT_EXPECT_TRUE(test, a->released);
	KUNIT_EXPECT_TRUE(test, debug_locks);

	/*
	 * kref_put_async() under ka_map_lock, not the last put: it never
	 * runs the release in the caller's context, so it tells lockdep
	 * nothing and there is nothing to report.  (A final one under the
	 * lock is the kref_async suite's group_lock_chain case.)
	 */
	kref_init(&b->ref);
	kref_get(&b->ref);
	mutex_lock(&ka_map_lock);
	KUNIT_EXPECT_FALSE(test, kref_put_async(&b->ref, ka_map_release,
						&b->node));
	mutex_unlock(&ka_map_lock);
	KUNIT_EXPECT_TRUE(test, kref_put_async(&b->ref, ka_map_release,
					       &b->node));
	kref_async_flush();
	KUNIT_EXPECT_TRUE(test, b->released);
	KUNIT_EXPECT_TRUE_MSG(test, debug_locks,
			      "lockdep reported kref_put_async() under the release's lock");

	/*
	 * A put under ka_map_lock that is not the last: the release does not
	 * run, yet lockdep must see ka_map_lock -> release map ->
	 * ka_map_lock and report it.  The report is silenced; its mark is
	 * debug_locks going to 0.
	 */
	kref_init(&c->ref);
	kref_get(&c->ref);
	debug_locks_silent = 1;
	mutex_lock(&ka_map_lock);
	KUNIT_EXPECT_EQ(test, kref_put_mapped(&c->ref, ka_map_release,
					      &ka_release_map), 0);
	mutex_unlock(&ka_map_lock);
	reported = !debug_locks;
	debug_locks_silent = 0;
	KUNIT_EXPECT_FALSE(test, c->released);
	KUNIT_EXPECT_TRUE_MSG(test, reported,
			      "no lockdep report for a put under a lock its release takes");

	KUNIT_EXPECT_EQ(test, kref_put_mapped(&c->ref, ka_map_release,
					      &ka_release_map), 1);
	KUNIT_EXPECT_TRUE(test, c->released);
}

static struct kunit_case release_map_test_cases[] = {
	KUNIT_CASE(release_map_test_nonfinal_put),
	{}
};

static struct kunit_suite release_map_test_suite = {
	.name = "release_map",
	.test_cases = release_map_test_cases,
};

kunit_test_suites(&kref_async_test_suite, &release_map_test_suite);
#else
kunit_test_suites(&kref_async_test_suite);
#endif

MODULE_DESCRIPTION("KUnit tests for deferred kref release");
MODULE_LICENSE("GPL");
