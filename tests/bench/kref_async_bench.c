// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark of kref_put_async() against the ways a release is deferred
 * today, driven by the benchmark guest's /init (tests/bench/bench_init.c)
 * through /dev/kref_async_bench.  Each ROUND ioctl runs one round of every
 * in-kernel measurement, variant after variant, in a kthread (so that
 * kref_put_async() takes its worker path), and prints one line per figure:
 *
 *	BENCH: <key> <round> <value>
 *
 * harness/bench.sh collects the lines of all rounds.  The variants of a
 * final put are:
 *
 *	async	kref_put_async() (worker path: per-CPU list and work item)
 *	work	per-object INIT_WORK() + queue_work() on system_percpu_wq, from
 *		kref_put()'s release: what tty_kref_put() did (schedule_work())
 *	dwork0	per-object schedule_delayed_work(..., 0)
 *	dwork1	per-object schedule_delayed_work(..., 1)
 *	rcu	per-object call_rcu()
 *	mm_old	atomic_dec_and_test(), then INIT_WORK() + schedule_work(): what
 *		mmput_async() and mmdrop_async() did
 *	userns_old  atomic_dec_and_test(), then schedule_work() of a work set
 *		up when the object was: what __put_user_ns() did
 *	defer	atomic_dec_and_test(), then kref_async_defer(): what the three
 *		do now (tty and mm with kref_async_defer_worker(), which from
 *		this kthread takes the same worker path)
 *
 * and every one releases through the same kab_done().  FINAL_LOCAL times
 * the final put's batch again, from CPU 0, which /init has made the only
 * CPU of the unbound workqueues, beside the floor of a final put, and
 * apart at its first put, which kicks the drain, beside one queue_work()
 * on the same workqueue.
 * PUT_LOCKED makes a final kref_put_async() from the calling user task
 * under a mutex: the task_work path, whose release /init checks ran
 * before the syscall returned.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/kref_async.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/math64.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/release_map.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "kref_async_bench.h"

#define KAB_NONFINAL_OPS	200000
#define KAB_FINAL_OBJS		2000
#define KAB_DRAIN_OBJS		4000	/* per producer */
#define KAB_MAX_PRODUCERS	2
#define KAB_LAT_SAMPLES		200
#define KAB_WAIT		(60 * HZ)

enum kab_variant { KAB_ASYNC, KAB_WORK, KAB_DWORK0, KAB_DWORK1, KAB_RCU,
		   KAB_MM_OLD, KAB_USERNS_OLD, KAB_DEFER, KAB_NR_VARIANTS };

static const char * const kab_names[KAB_NR_VARIANTS] = {
	"async", "work", "dwork0", "dwork1", "rcu", "mm_old", "userns_old",
	"defer",
};

struct kab_obj {
	struct kref			kref;
	/* Only one variant's deferral state is live at a time. */
	union {
		struct kref_async_node	node;
		struct work_struct	work;
		struct delayed_work	dwork;
		struct rcu_head		rcu;
	};
	u64				t_put;
	u64				t_rel;
	struct task_struct		*rel_task;
	int				seq;
	bool				locked;
};

/* The run in progress: objects released so far and the target count. */
static atomic_t kab_released;
static int kab_target;
static u64 kab_t_last;
static u64 kab_t_first;
static DECLARE_WAIT_QUEUE_HEAD(kab_wq);
static struct kab_obj *kab_objs;
static int *kab_order;

static void kab_done(struct kab_obj *o)
{
	u64 now = ktime_get_ns();

	o->t_rel = now;
	o->rel_task = current;
	o->seq = atomic_inc_return(&kab_released);
	if (o->seq == READ_ONCE(kab_target)) {
		WRITE_ONCE(kab_t_last, now);
		wake_up(&kab_wq);
	}
}

static void kab_release_kref(struct kref *kref)
{
	kab_done(container_of(kref, struct kab_obj, kref));
}

static void kab_release_node(struct kref_async_node *node)
{
	kab_done(container_of(node, struct kab_obj, node));
}

static void kab_work_fn(struct work_struct *work)
{
	kab_done(container_of(work, struct kab_obj, work));
}

static void kab_dwork_fn(struct work_struct *work)
{
	kab_done(container_of(to_delayed_work(work), struct kab_obj, dwork));
}

static void kab_rcu_fn(struct rcu_head *rcu)
{
	kab_done(container_of(rcu, struct kab_obj, rcu));
}

static void kab_release_work(struct kref *kref)
{
	struct kab_obj *o = container_of(kref, struct kab_obj, kref);

	INIT_WORK(&o->work, kab_work_fn);
	queue_work(system_percpu_wq, &o->work);
}

static void kab_release_dwork0(struct kref *kref)
{
	struct kab_obj *o = container_of(kref, struct kab_obj, kref);

	INIT_DELAYED_WORK(&o->dwork, kab_dwork_fn);
	schedule_delayed_work(&o->dwork, 0);
}

static void kab_release_dwork1(struct kref *kref)
{
	struct kab_obj *o = container_of(kref, struct kab_obj, kref);

	INIT_DELAYED_WORK(&o->dwork, kab_dwork_fn);
	schedule_delayed_work(&o->dwork, 1);
}

static void kab_release_rcu(struct kref *kref)
{
	struct kab_obj *o = container_of(kref, struct kab_obj, kref);

	call_rcu(&o->rcu, kab_rcu_fn);
}

/* The final put of @o, the way variant @v defers the release. */
static __always_inline void kab_put(struct kab_obj *o, enum kab_variant v)
{
	switch (v) {
	case KAB_ASYNC:
		kref_put_async(&o->kref, kab_release_kref, &o->node);
		break;
	case KAB_WORK:
		kref_put(&o->kref, kab_release_work);
		break;
	case KAB_DWORK0:
		kref_put(&o->kref, kab_release_dwork0);
		break;
	case KAB_DWORK1:
		kref_put(&o->kref, kab_release_dwork1);
		break;
	case KAB_RCU:
		kref_put(&o->kref, kab_release_rcu);
		break;
	case KAB_MM_OLD:
		if (atomic_dec_and_test(&o->kref.refcount.refs)) {
			INIT_WORK(&o->work, kab_work_fn);
			schedule_work(&o->work);
		}
		break;
	case KAB_USERNS_OLD:
		if (atomic_dec_and_test(&o->kref.refcount.refs))
			schedule_work(&o->work);
		break;
	default:
		if (atomic_dec_and_test(&o->kref.refcount.refs))
			kref_async_defer(&o->node, kab_release_node);
		break;
	}
}

static void kab_arm(int n, enum kab_variant v)
{
	int i;

	for (i = 0; i < n; i++) {
		kref_init(&kab_objs[i].kref);
		/* the union held another variant's state */
		kref_async_node_init(&kab_objs[i].node);
		/* userns_old sets its work up with the object, not at the put */
		if (v == KAB_USERNS_OLD)
			INIT_WORK(&kab_objs[i].work, kab_work_fn);
	}
	atomic_set(&kab_released, 0);
	WRITE_ONCE(kab_target, n);
	WRITE_ONCE(kab_t_last, 0);
	WRITE_ONCE(kab_t_first, 0);
}

static int kab_wait_all(void)
{
	if (!wait_event_timeout(kab_wq,
				atomic_read(&kab_released) >= kab_target,
				KAB_WAIT)) {
		pr_err("BENCH: ERROR %d of %d releases after %ds\n",
		       atomic_read(&kab_released), kab_target,
		       KAB_WAIT / HZ);
		return -ETIMEDOUT;
	}
	return 0;
}

static void kab_print_frac(const char *key, const char *var, u32 round,
			   u64 num, u64 den)
{
	u64 milli = div64_u64(num * 1000, den);

	pr_info("BENCH: %s.%s %u %llu.%03llu\n", key, var, round,
		milli / 1000, milli % 1000);
}

/* 1. Non-final put: get + put on a count kept above one. */
static noinline u64 kab_nonfinal_async(struct kab_obj *o)
{
	u64 t0 = ktime_get_ns();
	int i;

	for (i = 0; i < KAB_NONFINAL_OPS; i++) {
		kref_get(&o->kref);
		kref_put_async(&o->kref, kab_release_kref, &o->node);
	}
	return ktime_get_ns() - t0;
}

static noinline u64 kab_nonfinal_sync(struct kab_obj *o)
{
	u64 t0 = ktime_get_ns();
	int i;

	for (i = 0; i < KAB_NONFINAL_OPS; i++) {
		kref_get(&o->kref);
		kref_put(&o->kref, kab_release_kref);
	}
	return ktime_get_ns() - t0;
}

/*
 * kref_put_mapped(): with CONFIG_PROVE_RELEASE_MAPS off the same code as
 * kref_put(); with it on, a lockdep acquire and release per put.
 */
static struct release_map kab_release_map = RELEASE_MAP_INIT(kab_release_map);

static noinline u64 kab_nonfinal_mapped(struct kab_obj *o)
{
	u64 t0 = ktime_get_ns();
	int i;

	for (i = 0; i < KAB_NONFINAL_OPS; i++) {
		kref_get(&o->kref);
		kref_put_mapped(&o->kref, kab_release_kref, &kab_release_map);
	}
	return ktime_get_ns() - t0;
}

/*
 * A non-final put alone, without the get: the count is set high and
 * dropped one by one.  A final put is this atomic plus the cmpxchg that
 * publishes the node, with preemption off, and a store or two.
 */
static noinline u64 kab_put_only_async(struct kab_obj *o)
{
	u64 t0;
	int i;

	refcount_set(&o->kref.refcount, KAB_NONFINAL_OPS + 1);
	t0 = ktime_get_ns();
	for (i = 0; i < KAB_NONFINAL_OPS; i++)
		kref_put_async(&o->kref, kab_release_kref, &o->node);
	return ktime_get_ns() - t0;
}

static noinline u64 kab_put_only_sync(struct kab_obj *o)
{
	u64 t0;
	int i;

	refcount_set(&o->kref.refcount, KAB_NONFINAL_OPS + 1);
	t0 = ktime_get_ns();
	for (i = 0; i < KAB_NONFINAL_OPS; i++)
		kref_put(&o->kref, kab_release_kref);
	return ktime_get_ns() - t0;
}

static void kab_bench_nonfinal(u32 round)
{
	struct kab_obj *o = &kab_objs[0];
	u64 dt;

	kab_arm(1, KAB_ASYNC);
	preempt_disable();
	dt = kab_nonfinal_async(o);
	preempt_enable();
	kab_print_frac("nonfinal_ns", "kref_put_async", round, dt,
		       KAB_NONFINAL_OPS);
	preempt_disable();
	dt = kab_nonfinal_sync(o);
	preempt_enable();
	kab_print_frac("nonfinal_ns", "kref_put", round, dt,
		       KAB_NONFINAL_OPS);
	preempt_disable();
	dt = kab_nonfinal_mapped(o);
	preempt_enable();
	kab_print_frac("nonfinal_ns", "kref_put_mapped", round, dt,
		       KAB_NONFINAL_OPS);
	preempt_disable();
	dt = kab_put_only_async(o);
	preempt_enable();
	kab_print_frac("put_only_ns", "kref_put_async", round, dt,
		       KAB_NONFINAL_OPS);
	preempt_disable();
	dt = kab_put_only_sync(o);
	preempt_enable();
	kab_print_frac("put_only_ns", "kref_put", round, dt,
		       KAB_NONFINAL_OPS);
	if (refcount_read(&o->kref.refcount) != 1)
		pr_err("BENCH: ERROR non-final count %u\n",
		       refcount_read(&o->kref.refcount));
}

static u64 kab_sum_u64(const u64 *a, int n)
{
	u64 sum = 0;

	while (n--)
		sum += a[n];
	return sum ?: 1;
}

/*
 * The worker drains its list newest first, so the releases of one batch
 * come in decreasing object order: each increase starts a new batch, i.e.
 * one more time a put found the list empty and queued the work.
 */
static void kab_print_batches(u32 round, const char *key, int n)
{
	int i, batches = 1;

	for (i = 0; i < n; i++)
		kab_order[kab_objs[i].seq - 1] = i;
	for (i = 1; i < n; i++)
		batches += kab_order[i] > kab_order[i - 1];
	pr_info("BENCH: %s.async %u %d.%03d\n", key, round, n / batches,
		(n % batches) * 1000 / batches);
}

/*
 * How a batch of final puts is timed: preemptible; with preemption off,
 * as the non-final puts are (a worker that a kick wakes on this CPU then
 * cannot run releases inside the batch's time, which holds the puts
 * alone and whatever the host takes from the vCPU); or with preemption
 * off from a kthread on the only CPU of the unbound workqueues' cpumask
 * (KREF_ASYNC_BENCH_FINAL_LOCAL), so that no release runs anywhere
 * until the batch is done.
 */
enum kab_timing { KAB_PREEMPTIBLE, KAB_NOPREEMPT, KAB_LOCAL };

static const char * const kab_timing_ns[] = {
	"final_ns", "final_nopreempt_ns", "final_local_ns",
};

static const char * const kab_timing_kicks[] = {
	"final_objs_per_kick", "final_nopreempt_objs_per_kick",
	"final_local_objs_per_kick",
};

static __always_inline void kab_put_range(int first, int end,
					  enum kab_variant v)
{
	int i;

	for (i = first; i < end; i++)
		kab_put(&kab_objs[i], v);
}

/*
 * The final puts of objects @first to @end - 1, one loop per variant, so
 * that no put pays for a switch on @v (gcc -O2 does not unswitch loops),
 * as the floor's and the non-final pair's do not.
 */
static noinline void kab_put_batch(int first, int end, enum kab_variant v)
{
	switch (v) {
	case KAB_ASYNC:
		kab_put_range(first, end, KAB_ASYNC);
		break;
	case KAB_WORK:
		kab_put_range(first, end, KAB_WORK);
		break;
	case KAB_DWORK0:
		kab_put_range(first, end, KAB_DWORK0);
		break;
	case KAB_DWORK1:
		kab_put_range(first, end, KAB_DWORK1);
		break;
	case KAB_RCU:
		kab_put_range(first, end, KAB_RCU);
		break;
	case KAB_MM_OLD:
		kab_put_range(first, end, KAB_MM_OLD);
		break;
	case KAB_USERNS_OLD:
		kab_put_range(first, end, KAB_USERNS_OLD);
		break;
	default:
		kab_put_range(first, end, KAB_DEFER);
		break;
	}
}

/*
 * A local batch's time, split at its first put.  For async that put finds
 * the stack empty and kicks a drain (the module's lookup and pin, the
 * drains' lock, queue_work()), and the others ride on its batch; for work
 * every put queues an item of its own.  The floor's first put kicks
 * nothing: it shows what a batch's first put costs by itself.  The first
 * is printed in ns, the rest per put.
 */
static void kab_print_split(const char *var, u32 round, u64 t0, u64 t1,
			    u64 t2)
{
	pr_info("BENCH: final_local_first_ns.%s %u %llu\n", var, round,
		t1 - t0);
	kab_print_frac("final_local_rest_ns", var, round, t2 - t1,
		       KAB_FINAL_OBJS - 1);
}

/* 2. Final put, caller side: a batch of final puts, releases untimed. */
static int kab_bench_final(u32 round, enum kab_variant v, enum kab_timing t)
{
	u64 t0, t1 = 0, t2;

	kab_arm(KAB_FINAL_OBJS, v);
	if (t != KAB_PREEMPTIBLE)
		preempt_disable();
	t0 = ktime_get_ns();
	if (t == KAB_LOCAL) {
		kab_put_batch(0, 1, v);
		t1 = ktime_get_ns();
		kab_put_batch(1, KAB_FINAL_OBJS, v);
	} else {
		kab_put_batch(0, KAB_FINAL_OBJS, v);
	}
	t2 = ktime_get_ns();
	if (t != KAB_PREEMPTIBLE)
		preempt_enable();
	if (kab_wait_all())
		return -ETIMEDOUT;
	kab_print_frac(kab_timing_ns[t], kab_names[v], round, t2 - t0,
		       KAB_FINAL_OBJS);
	if (t == KAB_LOCAL)
		kab_print_split(kab_names[v], round, t0, t1, t2);
	if (v == KAB_ASYNC)
		kab_print_batches(round, kab_timing_kicks[t], KAB_FINAL_OBJS);
	return 0;
}

static int kab_cmp_u64(const void *a, const void *b);

/*
 * The same batch with every put timed on its own: the distribution shows
 * whether the mean is spread evenly or made of a few long puts (the put
 * that kicks the worker, a vCPU preempted by the host).
 */
static int kab_bench_final_each(u32 round, enum kab_variant v, u64 *each)
{
	u64 t0, sum = 0;
	int i;

	kab_arm(KAB_FINAL_OBJS, v);
	for (i = 0; i < KAB_FINAL_OBJS; i++) {
		t0 = ktime_get_ns();
		kab_put(&kab_objs[i], v);
		each[i] = ktime_get_ns() - t0;
	}
	if (kab_wait_all())
		return -ETIMEDOUT;
	sort(each, KAB_FINAL_OBJS, sizeof(*each), kab_cmp_u64, NULL);
	for (i = KAB_FINAL_OBJS * 99 / 100; i < KAB_FINAL_OBJS; i++)
		sum += each[i];
	pr_info("BENCH: final_each_p50_ns.%s %u %llu\n", kab_names[v], round,
		each[KAB_FINAL_OBJS / 2]);
	pr_info("BENCH: final_each_p99_ns.%s %u %llu\n", kab_names[v], round,
		each[KAB_FINAL_OBJS * 99 / 100]);
	pr_info("BENCH: final_each_max_ns.%s %u %llu\n", kab_names[v], round,
		each[KAB_FINAL_OBJS - 1]);
	/* Share of the batch's put time spent in its slowest 1% of puts. */
	kab_print_frac("final_each_top1pct_share", kab_names[v], round, sum,
		       kab_sum_u64(each, KAB_FINAL_OBJS));
	return 0;
}

/*
 * What timing one put adds to it: the same loop with nothing between the
 * two reads of the clock.  Each put's p50 less this is the put's own.
 */
static void kab_bench_clock(u32 round, u64 *each)
{
	u64 t0;
	int i;

	for (i = 0; i < KAB_FINAL_OBJS; i++) {
		t0 = ktime_get_ns();
		each[i] = ktime_get_ns() - t0;
	}
	sort(each, KAB_FINAL_OBJS, sizeof(*each), kab_cmp_u64, NULL);
	pr_info("BENCH: clock_p50_ns %u %llu\n", round,
		each[KAB_FINAL_OBJS / 2]);
}

/*
 * The floor that the issue sets a final put against, made concrete: the
 * count's refcount_dec_and_test(), then, with preemption off, as the
 * library pushes a put from a task, one cmpxchg that pushes the node on
 * this CPU's stack.  Nothing else that a correct deferral needs: no
 * check that the node is not pending, no choice of path, no module kept,
 * no worker kicked.  "floor" is all inline; "floor_call" makes the push
 * an out-of-line call, as kref_put_async() calls __kref_async_defer_kref().
 * Timed beside the async batch of KREF_ASYNC_BENCH_FINAL_LOCAL, as it is;
 * the bench then releases the nodes itself.
 */
static DEFINE_PER_CPU(struct llist_head, kab_floor_stack);

static __always_inline void kab_floor_push(struct kref_async_node *node)
{
	struct llist_head *head;
	struct llist_node *top;

	preempt_disable();
	head = this_cpu_ptr(&kab_floor_stack);
	top = READ_ONCE(head->first);
	do {
		node->lnode.next = top;
	} while (!try_cmpxchg(&head->first, &top, &node->lnode));
	preempt_enable();
}

static noinline void kab_floor_push_call(struct kref_async_node *node)
{
	kab_floor_push(node);
}

/* One loop for each, so that no put pays for the test of @call. */
static __always_inline void kab_floor_puts(int first, int end, bool call)
{
	struct kab_obj *o;
	int i;

	for (i = first; i < end; i++) {
		o = &kab_objs[i];
		if (!refcount_dec_and_test(&o->kref.refcount))
			continue;
		if (call)
			kab_floor_push_call(&o->node);
		else
			kab_floor_push(&o->node);
	}
}

static noinline void kab_floor_batch(int first, int end, bool call)
{
	if (call)
		kab_floor_puts(first, end, true);
	else
		kab_floor_puts(first, end, false);
}

static void kab_bench_floor(u32 round, bool call)
{
	const char *var = call ? "floor_call" : "floor";
	struct kref_async_node *node, *next;
	struct llist_node *stack;
	u64 t0, t1, t2;

	kab_arm(KAB_FINAL_OBJS, KAB_ASYNC);
	preempt_disable();
	t0 = ktime_get_ns();
	kab_floor_batch(0, 1, call);
	t1 = ktime_get_ns();
	kab_floor_batch(1, KAB_FINAL_OBJS, call);
	t2 = ktime_get_ns();
	stack = llist_del_all(this_cpu_ptr(&kab_floor_stack));
	preempt_enable();
	llist_for_each_entry_safe(node, next, stack, lnode)
		kab_release_node(node);
	if (atomic_read(&kab_released) != KAB_FINAL_OBJS)
		pr_err("BENCH: ERROR floor batch released %d of %d\n",
		       atomic_read(&kab_released), KAB_FINAL_OBJS);
	kab_print_frac(kab_timing_ns[KAB_LOCAL], var, round, t2 - t0,
		       KAB_FINAL_OBJS);
	kab_print_split(var, round, t0, t1, t2);
}

/*
 * What the kick of a batch costs at the least: one queue_work() of an
 * idle work item on the unbound system_dfl_wq, where the library queues
 * its drains, timed as the local batch's first put is: from the same
 * kthread with preemption off, right after the objects are armed, in an
 * out-of-line call.  The item is static and has run before, as a drain
 * has, so that queue_work() looks up the pool it last ran in, as it does
 * for a drain.
 */
static void kab_nop_fn(struct work_struct *work)
{
}

static DECLARE_WORK(kab_dfl_work, kab_nop_fn);

static noinline void kab_queue_dfl(void)
{
	queue_work(system_dfl_wq, &kab_dfl_work);
}

/*
 * /init's write of the unbound cpumask gave system_dfl_wq (and every
 * other unbound workqueue of default attributes) a new pool for this CPU;
 * restoring the mask after the round before freed the last one.  The new
 * pool starts with one idle worker, and the first item queued there
 * leaves no idle worker behind it, so that worker creates another before
 * it runs the item.  Whether other unbound work did so already is chance:
 * queue one item here, untimed, so that the async and kick phases both
 * queue on a pool that has run.
 */
static void kab_warm_dfl(void)
{
	kab_queue_dfl();
	flush_work(&kab_dfl_work);
}

static void kab_bench_kick(u32 round)
{
	u64 t0, t1;

	kab_arm(KAB_FINAL_OBJS, KAB_ASYNC);
	preempt_disable();
	t0 = ktime_get_ns();
	kab_queue_dfl();
	t1 = ktime_get_ns();
	preempt_enable();
	flush_work(&kab_dfl_work);
	pr_info("BENCH: final_local_first_ns.queue_work_dfl %u %llu\n", round,
		t1 - t0);
}

/* 3. Drain throughput: producers bound to different CPUs. */
struct kab_producer {
	struct completion	*start;
	struct completion	done;
	enum kab_variant	v;
	int			first, n;
};

static int kab_producer_fn(void *data)
{
	struct kab_producer *p = data;
	int i;

	wait_for_completion(p->start);
	cmpxchg64(&kab_t_first, 0, ktime_get_ns());
	for (i = p->first; i < p->first + p->n; i++)
		kab_put(&kab_objs[i], p->v);
	complete(&p->done);
	return 0;
}

static int kab_bench_drain(u32 round, enum kab_variant v, int nprod)
{
	struct kab_producer prod[KAB_MAX_PRODUCERS];
	DECLARE_COMPLETION_ONSTACK(start);
	struct task_struct *t;
	char key[16];
	int i, cpu, ret;
	u64 dt;

	kab_arm(nprod * KAB_DRAIN_OBJS, v);
	cpu = cpumask_first(cpu_online_mask);
	for (i = 0; i < nprod; i++) {
		prod[i].start = &start;
		init_completion(&prod[i].done);
		prod[i].v = v;
		prod[i].first = i * KAB_DRAIN_OBJS;
		prod[i].n = KAB_DRAIN_OBJS;
		t = kthread_create_on_cpu(kab_producer_fn, &prod[i], cpu,
					  "kab_prod/%u");
		if (IS_ERR(t))
			return PTR_ERR(t);
		wake_up_process(t);
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
	}
	complete_all(&start);
	for (i = 0; i < nprod; i++)
		wait_for_completion(&prod[i].done);
	ret = kab_wait_all();
	if (ret)
		return ret;
	dt = kab_t_last - kab_t_first;
	snprintf(key, sizeof(key), "drain%d_ops", nprod);
	pr_info("BENCH: %s.%s %u %llu\n", key, kab_names[v], round,
		div64_u64((u64)kab_target * NSEC_PER_SEC, dt ?: 1));
	return 0;
}

/* 4. Put-to-release latency of the worker path, one object at a time. */
static int kab_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int kab_bench_latency(u32 round, enum kab_variant v, u64 *lat)
{
	struct kab_obj *o = &kab_objs[0];
	int i;

	for (i = 0; i < KAB_LAT_SAMPLES; i++) {
		kab_arm(1, v);
		o->t_put = ktime_get_ns();
		kab_put(o, v);
		if (kab_wait_all())
			return -ETIMEDOUT;
		lat[i] = o->t_rel - o->t_put;
		/* Deferred means: not in the putter's context. */
		if (o->rel_task == current) {
			pr_err("BENCH: ERROR %s: release ran in the caller's context\n",
			       kab_names[v]);
			return -EINVAL;
		}
	}
	sort(lat, KAB_LAT_SAMPLES, sizeof(*lat), kab_cmp_u64, NULL);
	pr_info("BENCH: lat_wq_p50_ns.%s %u %llu\n", kab_names[v], round,
		lat[KAB_LAT_SAMPLES / 2]);
	pr_info("BENCH: lat_wq_p99_ns.%s %u %llu\n", kab_names[v], round,
		lat[KAB_LAT_SAMPLES * 99 / 100]);
	return 0;
}

/*
 * 5. Head of line: a release that sleeps KAB_HOL_SLOW_MS has started when
 * KAB_HOL_OBJS short ones are put on the same CPU; how long do they wait?
 */
#define KAB_HOL_OBJS		1000
#define KAB_HOL_SLOW_MS		100

static DECLARE_COMPLETION(kab_slow_started);

static void kab_release_slow(struct kref *kref)
{
	complete(&kab_slow_started);
	msleep(KAB_HOL_SLOW_MS);
	kab_done(container_of(kref, struct kab_obj, kref));
}

static int kab_bench_hol(u32 round, u64 *lat)
{
	struct kab_obj *slow = &kab_objs[KAB_HOL_OBJS];
	int i, ret;

	kab_arm(KAB_HOL_OBJS + 1, KAB_ASYNC);
	reinit_completion(&kab_slow_started);
	migrate_disable();
	slow->t_put = ktime_get_ns();
	kref_put_async(&slow->kref, kab_release_slow, &slow->node);
	if (!wait_for_completion_timeout(&kab_slow_started, KAB_WAIT)) {
		migrate_enable();
		pr_err("BENCH: ERROR the slow release never started\n");
		return -ETIMEDOUT;
	}
	for (i = 0; i < KAB_HOL_OBJS; i++) {
		kab_objs[i].t_put = ktime_get_ns();
		kref_put_async(&kab_objs[i].kref, kab_release_kref,
			       &kab_objs[i].node);
	}
	migrate_enable();
	ret = kab_wait_all();
	if (ret)
		return ret;
	for (i = 0; i < KAB_HOL_OBJS; i++)
		lat[i] = kab_objs[i].t_rel - kab_objs[i].t_put;
	sort(lat, KAB_HOL_OBJS, sizeof(*lat), kab_cmp_u64, NULL);
	pr_info("BENCH: hol_p50_ns.async %u %llu\n", round,
		lat[KAB_HOL_OBJS / 2]);
	pr_info("BENCH: hol_p99_ns.async %u %llu\n", round,
		lat[KAB_HOL_OBJS * 99 / 100]);
	pr_info("BENCH: hol_slow_ns.async %u %llu\n", round,
		slow->t_rel - slow->t_put);
	return 0;
}

struct kab_round {
	u32			round;
	int			ret;
	struct completion	done;
};

static int kab_round_fn(void *data)
{
	struct kab_round *r = data;
	u64 *lat = kcalloc(KAB_FINAL_OBJS, sizeof(*lat), GFP_KERNEL);
	int i, v, ret = -ENOMEM;

	if (!lat)
		goto out;
	kab_bench_nonfinal(r->round);
	/*
	 * The first variant timed after the non-final puts finds the other
	 * vCPU idle and no worker awake, and pays for waking them: rotate
	 * the order so that each variant takes that place in some rounds.
	 */
	for (i = 0; i < KAB_NR_VARIANTS; i++) {
		v = (i + r->round) % KAB_NR_VARIANTS;
		ret = kab_bench_final(r->round, v, KAB_PREEMPTIBLE);
		if (ret)
			goto out;
	}
	for (i = 0; i < 2; i++) {
		v = (r->round + i) % 2 ? KAB_WORK : KAB_ASYNC;
		ret = kab_bench_final(r->round, v, KAB_NOPREEMPT);
		if (ret)
			goto out;
	}
	for (i = 0; i < 2; i++) {
		v = (r->round + i) % 2 ? KAB_WORK : KAB_ASYNC;
		ret = kab_bench_final_each(r->round, v, lat);
		if (ret)
			goto out;
	}
	kab_bench_clock(r->round, lat);
	for (v = 0; v < KAB_NR_VARIANTS; v++) {
		ret = kab_bench_drain(r->round, v, 1);
		if (ret)
			goto out;
		ret = kab_bench_drain(r->round, v, 2);
		if (ret)
			goto out;
	}
	for (v = KAB_ASYNC; v <= KAB_WORK; v++) {
		ret = kab_bench_latency(r->round, v, lat);
		if (ret)
			goto out;
	}
	ret = kab_bench_hol(r->round, lat);
out:
	kfree(lat);
	r->ret = ret;
	complete(&r->done);
	return 0;
}

/*
 * The final put's batch with no release running beside it: /init has made
 * KREF_ASYNC_BENCH_LOCAL_CPU the unbound workqueues' only CPU, and this
 * runs there with preemption off, so a drain that a put kicks waits for
 * the batch, as the queue_work() variant's work items and the floor's
 * releases do.  The order of the five phases (async, work, floor,
 * floor_call, one queue_work() on system_dfl_wq) rotates with the round.
 */
static int kab_local_fn(void *data)
{
	struct kab_round *r = data;
	int i, ret = 0;

	/*
	 * A drain still pending or running from the round before would run
	 * in its old pool, on either CPU, and so would a kick that finds it
	 * running there.
	 */
	kref_async_flush();
	kab_warm_dfl();
	for (i = 0; i < 5 && !ret; i++) {
		int phase = (i + r->round) % 5;

		switch (phase) {
		case 0:
			ret = kab_bench_final(r->round, KAB_ASYNC, KAB_LOCAL);
			break;
		case 1:
			ret = kab_bench_final(r->round, KAB_WORK, KAB_LOCAL);
			break;
		case 4:
			kab_bench_kick(r->round);
			break;
		default:
			kab_bench_floor(r->round, phase == 3);
			break;
		}
	}
	r->ret = ret;
	complete(&r->done);
	return 0;
}

static int kab_run_round(u32 round, bool local)
{
	struct kab_round r = { .round = round };
	struct task_struct *t;

	init_completion(&r.done);
	if (local)
		t = kthread_run_on_cpu(kab_local_fn, &r,
				       KREF_ASYNC_BENCH_LOCAL_CPU, "kab_local/%u");
	else
		t = kthread_run(kab_round_fn, &r, "kab_round");
	if (IS_ERR(t))
		return PTR_ERR(t);
	/* The round owns kab_objs: never leave it running behind us. */
	wait_for_completion(&r.done);
	return r.ret;
}

/* The task_work path: a final put from this task, under a mutex. */
static DEFINE_MUTEX(kab_put_lock);
static struct kab_obj kab_tw_obj;
static pid_t kab_tw_put_tid;

static void kab_release_tw(struct kref *kref)
{
	struct kab_obj *o = container_of(kref, struct kab_obj, kref);

	o->t_rel = ktime_get_ns();
	o->locked = mutex_is_locked(&kab_put_lock);
	WRITE_ONCE(o->rel_task, current);
}

/* A final put of the task_work object under kab_put_lock, from this task. */
static void kab_put_locked(bool async)
{
	struct kab_obj *o = &kab_tw_obj;

	mutex_lock(&kab_put_lock);
	kref_init(&o->kref);
	o->rel_task = NULL;
	kab_tw_put_tid = task_pid_nr(current);
	o->t_put = ktime_get_ns();
	if (async)
		kref_put_async(&o->kref, kab_release_tw, &o->node);
	else
		kref_put(&o->kref, kab_release_tw);
	mutex_unlock(&kab_put_lock);
}

static long kab_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kab_obj *o = &kab_tw_obj;
	struct kref_async_bench_last last;
	u32 round;

	switch (cmd) {
	case KREF_ASYNC_BENCH_ROUND:
		if (get_user(round, (u32 __user *)arg))
			return -EFAULT;
		return kab_run_round(round, false);
	case KREF_ASYNC_BENCH_FINAL_LOCAL:
		if (get_user(round, (u32 __user *)arg))
			return -EFAULT;
		return kab_run_round(round, true);
	case KREF_ASYNC_BENCH_NONFINAL:
		if (get_user(round, (u32 __user *)arg))
			return -EFAULT;
		kab_bench_nonfinal(round);
		return 0;
	case KREF_ASYNC_BENCH_PUT_LOCKED:
		kab_put_locked(true);
		return 0;
	case KREF_ASYNC_BENCH_PUT_SYNC:
		kab_put_locked(false);
		return 0;
	case KREF_ASYNC_BENCH_GET_LAST:
		memset(&last, 0, sizeof(last));
		mutex_lock(&kab_put_lock);
		last.t_put = o->t_put;
		last.t_rel = o->t_rel;
		last.put_tid = kab_tw_put_tid;
		if (READ_ONCE(o->rel_task)) {
			last.released = 1;
			last.rel_tid = task_pid_nr(o->rel_task);
			last.locked = o->locked;
		}
		mutex_unlock(&kab_put_lock);
		return copy_to_user((void __user *)arg, &last, sizeof(last)) ?
		       -EFAULT : 0;
	case KREF_ASYNC_BENCH_SIZES:
		pr_info("BENCH: bytes.kref_async_node 0 %zu\n",
			sizeof(struct kref_async_node));
		pr_info("BENCH: bytes.work_struct 0 %zu\n",
			sizeof(struct work_struct));
		pr_info("BENCH: bytes.delayed_work 0 %zu\n",
			sizeof(struct delayed_work));
		pr_info("BENCH: bytes.rcu_head 0 %zu\n",
			sizeof(struct rcu_head));
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations kab_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kab_ioctl,
};

static struct miscdevice kab_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= KREF_ASYNC_BENCH_NAME,
	.fops	= &kab_fops,
};

static int __init kab_init(void)
{
	int ret;

	kab_objs = vcalloc(KAB_MAX_PRODUCERS * KAB_DRAIN_OBJS,
			   sizeof(*kab_objs));
	kab_order = vcalloc(KAB_MAX_PRODUCERS * KAB_DRAIN_OBJS,
			    sizeof(*kab_order));
	if (!kab_objs || !kab_order) {
		ret = -ENOMEM;
		goto err;
	}
	ret = misc_register(&kab_misc);
	if (!ret)
		return 0;
err:
	vfree(kab_order);
	vfree(kab_objs);
	return ret;
}

static void __exit kab_exit(void)
{
	misc_deregister(&kab_misc);
	/* Every round waited for its releases; the task_work ones ran. */
	rcu_barrier();
	kref_async_flush();
	flush_work(&kab_dfl_work);
	vfree(kab_order);
	vfree(kab_objs);
}

module_init(kab_init);
module_exit(kab_exit);
MODULE_DESCRIPTION("Benchmark of kref_put_async() against per-object deferral");
MODULE_LICENSE("GPL");
