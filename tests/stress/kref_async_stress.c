// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stress test of kref_put_async(), driven by the stress guest's /init
 * (tests/stress/stress_init.c) through /dev/kref_async_stress.
 *
 * Every object is kmalloc()ed with an id and kas_cfg.refs references:
 * one for its creator, the others stored in a table of shared slots.
 * Storing an object (or NULL) in a slot drops the reference the slot
 * held, so which context makes an object's final put is a race between
 * all of them:
 *
 *	user	tasks in STEP and HOLD ioctls (task_work path)
 *	exit	tasks that die with a file holding references (HOLD)
 *	kthread	one per CPU, bound, half its puts under a spinlock with
 *		interrupts off, flushing and checking after every batch
 *	softirq	a pinned timer_list per CPU, re-armed every jiffy
 *	hardirq	a pinned hard hrtimer per CPU, which only empties slots
 *
 * while two kthreads and a user task call kref_async_flush() throughout.
 * With hotplug_puts set, a CPU going offline also makes final puts from
 * its hotplug thread, whose releases wait for HOTPLUG_CHECK, and /init
 * takes CPU 1 offline and online again throughout: HOTPLUG_CHECK, once
 * the CPU is offline, finds them pending, lets them go and checks that
 * kref_async_flush() waited for them.
 *
 * An object's state, in kas_state[id] and not in the object, goes from
 * UNUSED to LIVE when it is created and from LIVE to RELEASED in its
 * release, by cmpxchg(): a release that finds any other state is counted
 * in double_released.  The release then kfree()s the object, so that
 * KASAN reports any later touch of it, the kref_async_node included.
 * Final puts are counted per context and CPU as they happen; once every
 * producer has stopped and kref_async_flush() has returned, the final
 * puts must equal the releases and every state below the last id must be
 * RELEASED.  A release must also never run inside a put: the release
 * checks that no non-preemptible put is in progress on its CPU and that
 * it does not hold the lockdep map of a preemptible one.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/kref_async.h>
#include <linux/kthread.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/random.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>

#include "kref_async_stress.h"

#define KAS_MAX_REFS		3
/* Steps of a kthread between two of its flushes. */
#define KAS_BATCH		64
#define KAS_MAX_STEP		64
#define KAS_NR_FLUSHERS		2

enum kas_state { KAS_UNUSED, KAS_LIVE, KAS_RELEASED };

struct kas_obj {
	struct kref		kref;
	struct kref_async_node	node;
	unsigned long		id;
	/*
	 * Put by a CPU going offline: the offlining's number (else 0), and
	 * until when its release waits for HOTPLUG_CHECK.
	 */
	unsigned long		hp_gen;
	unsigned long		hp_deadline;
};

/* A producer's walk over the slots (xorshift32: never 0). */
struct kas_cursor {
	u32 x;
};

/* The producers of one CPU. */
struct kas_cpu {
	bool			used;
	struct task_struct	*kthread;
	struct timer_list	timer;
	struct hrtimer		hrtimer;
	struct kas_cursor	timer_cur;
	struct kas_cursor	hrtimer_cur;
	/* Held, interrupts off, around every other step of the kthread. */
	spinlock_t		lock;
	/* Ids whose final put the kthread made since its last flush. */
	unsigned long		ids[KAS_BATCH * KAS_MAX_REFS];
};

/*
 * An open file: its walk over the slots, the ids whose final put its last
 * STEP made, and the objects it holds.
 */
struct kas_file {
	/* Held around puts, as vfio holds its locks; guards the rest. */
	struct mutex		lock;
	struct kas_cursor	cur;
	unsigned int		nids;
	unsigned long		ids[KAS_MAX_STEP * KAS_MAX_REFS];
	unsigned int		nheld;
	struct kas_obj		*held[KREF_ASYNC_STRESS_MAX_HOLD];
};

/* Set by START before any producer runs, freed at module exit. */
static struct kref_async_stress_config kas_cfg;
static u8 *kas_state;
static struct kas_obj **kas_slots;
static u32 kas_slot_mask;
static struct kas_cpu *kas_cpus;
static struct task_struct *kas_flushers[KAS_NR_FLUSHERS];

static bool kas_running;
/* START, STOP, FINISH, RESULT and module exit, and kas_phase. */
static DEFINE_MUTEX(kas_run_lock);
static enum { KAS_IDLE, KAS_STARTED, KAS_STOPPED } kas_phase;
/* Read around STEP and HOLD, written by STOP to wait for them. */
static DECLARE_RWSEM(kas_step_sem);

static atomic_long_t kas_next_id;
static atomic_long_t kas_puts;
static atomic_long_t kas_finals;
static atomic_long_t kas_released;
static atomic_long_t kas_double;
static atomic_long_t kas_in_put;
static atomic_long_t kas_flushes;
static atomic_long_t kas_flush_checked;
static atomic_long_t kas_flush_missed;
static atomic_long_t kas_user_checked;
static atomic_long_t kas_user_missed;
static atomic_long_t kas_alloc_failed;
static atomic_long_t kas_throttled;
/*
 * The ids of the final puts made by CPUs going offline since the last
 * HOTPLUG_CHECK, the number of the last offlining and of the last one
 * whose releases may run; under kas_hp_lock.  The releases wait until
 * HOTPLUG_CHECK has seen them pending and set kas_hp_opened to their
 * offlining's number, so that its flush has them to wait for; a release
 * gives up KAS_HP_GATE_TIMEOUT after its put, and STOP opens every gate.
 * HOTPLUG_CHECK copies the ids to kas_hp_check_ids, under
 * kas_hp_check_lock, to check them without kas_hp_lock.
 */
#define KAS_MAX_HP		256
#define KAS_HP_GATE_TIMEOUT	(30 * HZ)
static DEFINE_MUTEX(kas_hp_lock);
static unsigned long kas_hp_ids[KAS_MAX_HP];
static unsigned int kas_hp_nids;
static unsigned long kas_hp_gen;
static unsigned long kas_hp_opened;
static DEFINE_MUTEX(kas_hp_check_lock);
static unsigned long kas_hp_check_ids[KAS_MAX_HP];
static int kas_hp_state = -1;
static atomic_long_t kas_hp_offlines;
static atomic_long_t kas_hp_puts;
static atomic_long_t kas_hp_checked;
static atomic_long_t kas_hp_pending;
static atomic_long_t kas_hp_missed;
static atomic_long_t kas_hp_gate_timeouts;

/* Final puts per context and CPU. */
static atomic_long_t kas_finals_by[KREF_ASYNC_STRESS_NR_CTX]
				  [KREF_ASYNC_STRESS_MAX_CPUS];

/* Non-preemptible puts in progress on this CPU. */
static DEFINE_PER_CPU(unsigned int, kas_put_depth);
/* Held by preemptible puts; a release must never see it held. */
#ifdef CONFIG_LOCKDEP
static struct lock_class_key kas_put_key;
static struct lockdep_map kas_put_map =
	STATIC_LOCKDEP_MAP_INIT("kas_put", &kas_put_key);
#else
/* Empty, and only named by lockdep's macros, which then expand to nothing */
static struct lockdep_map kas_put_map __maybe_unused;
#endif

static bool kas_put_map_held(void)
{
#ifdef CONFIG_LOCKDEP
	/* Not LOCK_STATE_UNKNOWN, which lockdep says once it is off. */
	return lock_is_held(&kas_put_map) == LOCK_STATE_HELD;
#else
	return false;
#endif
}

static void kas_cursor_init(struct kas_cursor *cur)
{
	cur->x = get_random_u32() | 1;
}

static u32 kas_next_slot(struct kas_cursor *cur)
{
	u32 x = cur->x;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	cur->x = x;
	return x & kas_slot_mask;
}

static bool kas_over_limit(void)
{
	return atomic_long_read(&kas_finals) - atomic_long_read(&kas_released) >
	       kas_cfg.max_inflight;
}

static void kas_flush(void)
{
	kref_async_flush();
	atomic_long_inc(&kas_flushes);
}

static enum kref_async_stress_ctx kas_ctx(void)
{
	if (in_hardirq())
		return KREF_ASYNC_STRESS_HARDIRQ;
	if (in_serving_softirq())
		return KREF_ASYNC_STRESS_SOFTIRQ;
	if (current->flags & PF_KTHREAD)
		return KREF_ASYNC_STRESS_KTHREAD;
	if (current->flags & PF_EXITING)
		return KREF_ASYNC_STRESS_EXIT;
	return KREF_ASYNC_STRESS_USER;
}

static void kas_release(struct kref *kref)
{
	struct kas_obj *obj = container_of(kref, struct kas_obj, kref);
	unsigned long id = obj->id;

	WARN_ON_ONCE(kref_read(kref));
	/*
	 * Nothing else runs on this CPU while a non-preemptible put is in
	 * progress there, unless the release runs inside that put.
	 */
	if (this_cpu_read(kas_put_depth) || kas_put_map_held())
		atomic_long_inc(&kas_in_put);
	if (id < kas_cfg.objects &&
	    cmpxchg(&kas_state[id], KAS_LIVE, KAS_RELEASED) == KAS_LIVE)
		atomic_long_inc(&kas_released);
	else
		atomic_long_inc(&kas_double);
	kfree(obj);
}

/*
 * The release of an object put by a CPU going offline: held until
 * HOTPLUG_CHECK opens its offlining's gate.
 */
static void kas_release_hotplug(struct kref *kref)
{
	struct kas_obj *obj = container_of(kref, struct kas_obj, kref);
	unsigned long gen = obj->hp_gen;
	long left = (long)(obj->hp_deadline - jiffies);

	if (!wait_var_event_timeout(&kas_hp_opened,
				    /* pairs with kas_hp_open()'s release */
				    smp_load_acquire(&kas_hp_opened) >= gen,
				    left > 0 ? left : 0))
		atomic_long_inc(&kas_hp_gate_timeouts);
	/*
	 * Take a little time once let go: a flush that does not wait for
	 * this CPU's drains returns before most of these have run: a
	 * jiffy, what msleep(1) sleeps.
	 */
	schedule_timeout_uninterruptible(1);
	kas_release(kref);
}

/*
 * Drop a reference to @obj, to be released by @release; returns true if
 * it was the last one.
 */
static bool __kas_put(struct kas_obj *obj, void (*release)(struct kref *kref))
{
	enum kref_async_stress_ctx ctx = kas_ctx();
	bool pinned = !preemptible();
	unsigned int cpu;
	bool final;

	if (pinned)
		this_cpu_inc(kas_put_depth);
	else
		lock_map_acquire(&kas_put_map);
	final = kref_put_async(&obj->kref, release, &obj->node);
	if (pinned)
		this_cpu_dec(kas_put_depth);
	else
		lock_map_release(&kas_put_map);

	atomic_long_inc(&kas_puts);
	if (final) {
		cpu = min_t(unsigned int, raw_smp_processor_id(),
			    KREF_ASYNC_STRESS_MAX_CPUS - 1);
		atomic_long_inc(&kas_finals_by[ctx][cpu]);
		atomic_long_inc(&kas_finals);
	}
	return final;
}

static bool kas_put(struct kas_obj *obj)
{
	return __kas_put(obj, kas_release);
}

/*
 * A new object with kas_cfg.refs references, all the caller's; NULL once
 * every id is used, or while too many releases are outstanding and the
 * caller cannot sleep.
 */
static struct kas_obj *kas_create(gfp_t gfp)
{
	struct kas_obj *obj;
	long id;

	if (atomic_long_read(&kas_next_id) >= kas_cfg.objects)
		return NULL;
	if (!gfpflags_allow_blocking(gfp) && kas_over_limit()) {
		atomic_long_inc(&kas_throttled);
		return NULL;
	}
	obj = kmalloc(sizeof(*obj), gfp);
	if (!obj) {
		atomic_long_inc(&kas_alloc_failed);
		return NULL;
	}
	id = atomic_long_fetch_add_unless(&kas_next_id, 1, kas_cfg.objects);
	if (id >= kas_cfg.objects) {
		kfree(obj);
		return NULL;
	}
	obj->id = id;
	obj->hp_gen = 0;
	/* kmalloc()ed: the node must not look pending (kref_async.h). */
	kref_async_node_init(&obj->node);
	kref_init(&obj->kref);
	refcount_add(kas_cfg.refs - 1, &obj->kref.refcount);
	/* Full barrier: LIVE is seen by whoever takes it from a slot. */
	if (cmpxchg(&kas_state[id], KAS_UNUSED, KAS_LIVE) != KAS_UNUSED)
		atomic_long_inc(&kas_double);
	return obj;
}

/*
 * Store @obj (or NULL) in the next slot of @cur, dropping the reference
 * that the slot held.  Returns the id of the object whose final put that
 * was, or -1.
 */
static long kas_swap(struct kas_cursor *cur, struct kas_obj *obj)
{
	struct kas_obj *old = xchg(&kas_slots[kas_next_slot(cur)], obj);
	unsigned long id;

	if (!old)
		return -1;
	id = old->id;
	return kas_put(old) ? id : -1;
}

/*
 * One step of a producer: a new object (if any) goes into kas_cfg.refs
 * - 1 slots, displacing what they held, and the creator drops its own
 * reference.  The ids of the final puts made go to @ids, if not NULL.
 * Returns how many there were.
 */
static unsigned int kas_step(struct kas_cursor *cur, gfp_t gfp,
			     unsigned long *ids)
{
	struct kas_obj *obj = kas_create(gfp);
	unsigned int i, n = 0;
	long id;

	for (i = 1; i < kas_cfg.refs; i++) {
		id = kas_swap(cur, obj);
		if (id >= 0 && ids)
			ids[n++] = id;
	}
	if (obj) {
		id = obj->id;
		if (kas_put(obj) && ids)
			ids[n++] = id;
	}
	return n;
}

/* The objects among @ids that are not released yet. */
static unsigned int kas_unreleased_of(const unsigned long *ids, unsigned int n)
{
	unsigned int i, left = 0;

	for (i = 0; i < n; i++)
		if (READ_ONCE(kas_state[ids[i]]) != KAS_RELEASED)
			left++;
	return left;
}

/*
 * Count the objects among @ids that are not released yet in @missed, all
 * of them in @checked.
 */
static void kas_check_released(const unsigned long *ids, unsigned int n,
			       atomic_long_t *checked, atomic_long_t *missed)
{
	atomic_long_add(kas_unreleased_of(ids, n), missed);
	atomic_long_add(n, checked);
}

/*
 * Every final put a kthread makes takes the worker path, so its release
 * must have run when the kthread's next kref_async_flush() returns.
 */
static int kas_kthread_fn(void *data)
{
	struct kas_cpu *pc = data;
	struct kas_cursor cur;
	unsigned long flags;
	unsigned int i, n;

	kas_cursor_init(&cur);
	while (!kthread_should_stop()) {
		if (kas_over_limit()) {
			atomic_long_inc(&kas_throttled);
			kas_flush();
		}
		n = 0;
		for (i = 0; i < KAS_BATCH; i++) {
			if (i & 1) {
				spin_lock_irqsave(&pc->lock, flags);
				n += kas_step(&cur, GFP_ATOMIC, pc->ids + n);
				spin_unlock_irqrestore(&pc->lock, flags);
			} else {
				n += kas_step(&cur, GFP_KERNEL, pc->ids + n);
			}
		}
		kas_flush();
		kas_check_released(pc->ids, n, &kas_flush_checked,
				   &kas_flush_missed);
		cond_resched();
	}
	return 0;
}

static int kas_flusher_fn(void *data)
{
	while (!kthread_should_stop()) {
		kas_flush();
		usleep_range(200, 400);
	}
	return 0;
}

static void kas_timer_fn(struct timer_list *timer)
{
	struct kas_cpu *pc = timer_container_of(pc, timer, timer);
	u32 i;

	for (i = 0; i < kas_cfg.irq_steps; i++)
		kas_step(&pc->timer_cur, GFP_ATOMIC, NULL);
	if (READ_ONCE(kas_running))
		mod_timer(timer, jiffies + 1);
}

/* Hard irq: no allocation, only final puts of what the slots hold. */
static enum hrtimer_restart kas_hrtimer_fn(struct hrtimer *hrtimer)
{
	struct kas_cpu *pc = container_of(hrtimer, struct kas_cpu, hrtimer);
	u32 i;

	for (i = 0; i < kas_cfg.irq_steps; i++)
		kas_swap(&pc->hrtimer_cur, NULL);
	if (!READ_ONCE(kas_running))
		return HRTIMER_NORESTART;
	hrtimer_forward_now(hrtimer, ns_to_ktime(kas_cfg.hrtimer_us * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

/* Runs on the hrtimer's CPU, so that the pinned timer stays there. */
static void kas_start_hrtimer(void *data)
{
	struct kas_cpu *pc = data;

	hrtimer_start(&pc->hrtimer, ns_to_ktime(kas_cfg.hrtimer_us * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_PINNED_HARD);
}

/*
 * Teardown of CPUHP_AP_ONLINE_DYN: runs in @cpu's hotplug thread, on
 * @cpu, as it goes offline.  A kthread's final puts take the worker path:
 * onto @cpu's list, whose releases then wait for HOTPLUG_CHECK, after the
 * CPU is gone.
 */
static int kas_cpu_offline(unsigned int cpu)
{
	struct kas_obj *obj;
	unsigned int i;

	mutex_lock(&kas_hp_lock);
	kas_hp_gen++;
	for (i = 0; i < kas_cfg.hotplug_puts && kas_hp_nids < KAS_MAX_HP; i++) {
		obj = kas_create(GFP_KERNEL);
		if (!obj)
			break;
		/* Every reference is ours: the next put is the last. */
		refcount_set(&obj->kref.refcount, 1);
		obj->hp_gen = kas_hp_gen;
		obj->hp_deadline = jiffies + KAS_HP_GATE_TIMEOUT;
		kas_hp_ids[kas_hp_nids++] = obj->id;
		__kas_put(obj, kas_release_hotplug);
		atomic_long_inc(&kas_hp_puts);
	}
	atomic_long_inc(&kas_hp_offlines);
	mutex_unlock(&kas_hp_lock);
	return 0;
}

/*
 * Count the objects put by CPUs going offline that are still pending,
 * open their gate, flush, and count those the flush did not wait for.
 * The ids are taken out under kas_hp_lock, which is not held across the
 * flush: the teardown above takes it under the CPU hotplug lock.
 */
/* Let the releases of offlinings up to @gen run; under kas_hp_lock. */
static void kas_hp_open(unsigned long gen)
{
	if (gen > kas_hp_opened)
		/* Orders the store before the check for sleepers. */
		store_release_wake_up(&kas_hp_opened, gen);
}

static long kas_hotplug_check(void)
{
	unsigned long *ids = kas_hp_check_ids;
	unsigned int n;

	mutex_lock(&kas_hp_check_lock);
	mutex_lock(&kas_hp_lock);
	n = kas_hp_nids;
	memcpy(ids, kas_hp_ids, n * sizeof(*ids));
	kas_hp_nids = 0;
	atomic_long_add(kas_unreleased_of(ids, n), &kas_hp_pending);
	kas_hp_open(kas_hp_gen);
	mutex_unlock(&kas_hp_lock);

	kas_flush();
	kas_check_released(ids, n, &kas_hp_checked, &kas_hp_missed);
	mutex_unlock(&kas_hp_check_lock);
	return !READ_ONCE(kas_running);
}

/* Stop every producer and flusher and wait for them; under kas_run_lock. */
static void kas_stop(void)
{
	unsigned int cpu, i;

	if (kas_phase != KAS_STARTED)
		return;
	if (kas_hp_state >= 0) {
		cpuhp_remove_state_nocalls(kas_hp_state);
		kas_hp_state = -1;
		/* No more offlinings: nothing is left to wait for a check. */
		mutex_lock(&kas_hp_lock);
		kas_hp_open(kas_hp_gen);
		mutex_unlock(&kas_hp_lock);
	}
	WRITE_ONCE(kas_running, false);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		struct kas_cpu *pc = &kas_cpus[cpu];

		if (!pc->used)
			continue;
		if (pc->kthread)
			kthread_stop(pc->kthread);
		timer_shutdown_sync(&pc->timer);
		hrtimer_cancel(&pc->hrtimer);
	}
	for (i = 0; i < KAS_NR_FLUSHERS; i++)
		if (kas_flushers[i])
			kthread_stop(kas_flushers[i]);
	/* STEP and HOLD calls that saw kas_running set have returned. */
	down_write(&kas_step_sem);
	up_write(&kas_step_sem);
	kas_phase = KAS_STOPPED;
}

static long kas_start(const struct kref_async_stress_config __user *arg)
{
	struct kref_async_stress_config cfg;
	struct task_struct *task;
	unsigned int cpu, i;
	long ret = 0;

	if (copy_from_user(&cfg, arg, sizeof(cfg)))
		return -EFAULT;
	if (!cfg.objects || cfg.objects > (1UL << 31) ||
	    !is_power_of_2(cfg.slots) || cfg.slots > (1U << 20) ||
	    cfg.refs < 2 || cfg.refs > KAS_MAX_REFS ||
	    !cfg.hrtimer_us || cfg.hrtimer_us > USEC_PER_SEC ||
	    !cfg.irq_steps || cfg.irq_steps > 256 || !cfg.max_inflight ||
	    cfg.hotplug_puts > KAS_MAX_HP)
		return -EINVAL;

	mutex_lock(&kas_run_lock);
	if (kas_phase != KAS_IDLE) {
		ret = -EBUSY;
		goto out;
	}
	kas_state = vzalloc(cfg.objects);
	kas_slots = kcalloc(cfg.slots, sizeof(*kas_slots), GFP_KERNEL);
	kas_cpus = kcalloc(nr_cpu_ids, sizeof(*kas_cpus), GFP_KERNEL);
	if (!kas_state || !kas_slots || !kas_cpus) {
		vfree(kas_state);
		kfree(kas_slots);
		kfree(kas_cpus);
		kas_state = NULL;
		kas_slots = NULL;
		kas_cpus = NULL;
		ret = -ENOMEM;
		goto out;
	}
	kas_cfg = cfg;
	kas_slot_mask = cfg.slots - 1;
	WRITE_ONCE(kas_running, true);
	kas_phase = KAS_STARTED;

	for_each_online_cpu(cpu) {
		struct kas_cpu *pc = &kas_cpus[cpu];

		pc->used = true;
		spin_lock_init(&pc->lock);
		kas_cursor_init(&pc->timer_cur);
		kas_cursor_init(&pc->hrtimer_cur);
		timer_setup(&pc->timer, kas_timer_fn, TIMER_PINNED);
		hrtimer_setup(&pc->hrtimer, kas_hrtimer_fn, CLOCK_MONOTONIC,
			      HRTIMER_MODE_REL_PINNED_HARD);
	}
	for_each_online_cpu(cpu) {
		struct kas_cpu *pc = &kas_cpus[cpu];

		task = kthread_run_on_cpu(kas_kthread_fn, pc, cpu,
					  KREF_ASYNC_STRESS_NAME "/%u");
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			break;
		}
		pc->kthread = task;
		pc->timer.expires = jiffies + 1;
		add_timer_on(&pc->timer, cpu);
		smp_call_function_single(cpu, kas_start_hrtimer, pc, true);
	}
	if (cfg.hotplug_puts && !ret) {
		ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN,
						KREF_ASYNC_STRESS_NAME ":offline",
						NULL, kas_cpu_offline);
		if (ret >= 0) {
			kas_hp_state = ret;
			ret = 0;
		}
	}
	for (i = 0; i < KAS_NR_FLUSHERS && !ret; i++) {
		task = kthread_run(kas_flusher_fn, NULL,
				   KREF_ASYNC_STRESS_NAME "-flush/%u", i);
		if (IS_ERR(task))
			ret = PTR_ERR(task);
		else
			kas_flushers[i] = task;
	}
	if (ret)
		kas_stop();
out:
	mutex_unlock(&kas_run_lock);
	return ret;
}

static void kas_fill(struct kref_async_stress_result *res)
{
	unsigned int ctx, cpu;

	memset(res, 0, sizeof(*res));
	res->created = min_t(u64, atomic_long_read(&kas_next_id),
			     kas_cfg.objects);
	res->puts = atomic_long_read(&kas_puts);
	res->finals = atomic_long_read(&kas_finals);
	res->released = atomic_long_read(&kas_released);
	res->double_released = atomic_long_read(&kas_double);
	res->in_put = atomic_long_read(&kas_in_put);
	res->flushes = atomic_long_read(&kas_flushes);
	res->flush_checked = atomic_long_read(&kas_flush_checked);
	res->flush_missed = atomic_long_read(&kas_flush_missed);
	res->user_checked = atomic_long_read(&kas_user_checked);
	res->user_missed = atomic_long_read(&kas_user_missed);
	res->alloc_failed = atomic_long_read(&kas_alloc_failed);
	res->throttled = atomic_long_read(&kas_throttled);
	res->running = READ_ONCE(kas_running);
	res->cpus = num_online_cpus();
	for (ctx = 0; ctx < KREF_ASYNC_STRESS_NR_CTX; ctx++)
		for (cpu = 0; cpu < KREF_ASYNC_STRESS_MAX_CPUS; cpu++)
			res->finals_by[ctx][cpu] =
				atomic_long_read(&kas_finals_by[ctx][cpu]);
	res->hp_offlines = atomic_long_read(&kas_hp_offlines);
	res->hp_puts = atomic_long_read(&kas_hp_puts);
	res->hp_checked = atomic_long_read(&kas_hp_checked);
	res->hp_pending = atomic_long_read(&kas_hp_pending);
	res->hp_missed = atomic_long_read(&kas_hp_missed);
	res->hp_gate_timeouts = atomic_long_read(&kas_hp_gate_timeouts);
}

/* Ids below @created whose object has not been released. */
static u64 kas_unreleased(u64 created)
{
	u64 id, n = 0;

	for (id = 0; id < created; id++) {
		if (READ_ONCE(kas_state[id]) != KAS_RELEASED)
			n++;
		if (!(id & 0xffff))
			cond_resched();
	}
	return n;
}

static long kas_result(struct kref_async_stress_result __user *arg, bool check)
{
	struct kref_async_stress_result res;

	if (check) {
		kref_async_flush();
		mutex_lock(&kas_run_lock);
		kas_fill(&res);
		if (kas_state)
			res.unreleased = kas_unreleased(res.created);
		mutex_unlock(&kas_run_lock);
	} else {
		kas_fill(&res);
	}
	return copy_to_user(arg, &res, sizeof(res)) ? -EFAULT : 0;
}

/* Drop the references left in the slots; under kas_run_lock, stopped. */
static void kas_drain(void)
{
	struct kas_obj *old;
	u32 i;

	if (!kas_slots)
		return;
	for (i = 0; i <= kas_slot_mask; i++) {
		old = xchg(&kas_slots[i], NULL);
		if (old)
			kas_put(old);
	}
}

/*
 * User puts are made under a mutex, as vfio drops its KVM reference:
 * their releases run before the ioctl returns, once the mutex is
 * released, which the file's next STEP checks.
 */
static long kas_user_step(struct kas_file *kf, u32 __user *arg)
{
	long ret = 0;
	u32 i, n;

	if (get_user(n, arg))
		return -EFAULT;
	if (n > KAS_MAX_STEP)
		return -EINVAL;
	down_read(&kas_step_sem);
	if (!READ_ONCE(kas_running)) {
		ret = 1;
		goto out;
	}
	if (kas_over_limit()) {
		atomic_long_inc(&kas_throttled);
		kas_flush();
	}
	mutex_lock(&kf->lock);
	kas_check_released(kf->ids, kf->nids, &kas_user_checked,
			   &kas_user_missed);
	kf->nids = 0;
	for (i = 0; i < n; i++)
		kf->nids += kas_step(&kf->cur, GFP_KERNEL, kf->ids + kf->nids);
	mutex_unlock(&kf->lock);
out:
	up_read(&kas_step_sem);
	return ret;
}

/*
 * The file takes one reference of each of n new objects, the creator
 * drops one and the slots get the rest: the file's put, when the file is
 * released, is the final one unless a slot still holds the object.
 */
static long kas_hold(struct kas_file *kf, u32 __user *arg)
{
	struct kas_obj *obj;
	long ret = 0;
	u32 i, j, n;

	if (get_user(n, arg))
		return -EFAULT;
	down_read(&kas_step_sem);
	if (!READ_ONCE(kas_running)) {
		ret = 1;
		goto out;
	}
	mutex_lock(&kf->lock);
	if (n > KREF_ASYNC_STRESS_MAX_HOLD - kf->nheld) {
		ret = -EINVAL;
		goto unlock;
	}
	for (i = 0; i < n; i++) {
		obj = kas_create(GFP_KERNEL);
		if (!obj)
			break;
		kf->held[kf->nheld++] = obj;
		for (j = 2; j < kas_cfg.refs; j++)
			kas_swap(&kf->cur, obj);
		kas_put(obj);
	}
unlock:
	mutex_unlock(&kf->lock);
out:
	up_read(&kas_step_sem);
	return ret;
}

static long kas_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kas_file *kf = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KREF_ASYNC_STRESS_START:
		return kas_start(uarg);
	case KREF_ASYNC_STRESS_STEP:
		return kas_user_step(kf, uarg);
	case KREF_ASYNC_STRESS_HOLD:
		return kas_hold(kf, uarg);
	case KREF_ASYNC_STRESS_FLUSH:
		kas_flush();
		return !READ_ONCE(kas_running);
	case KREF_ASYNC_STRESS_STATUS:
		return kas_result(uarg, false);
	case KREF_ASYNC_STRESS_STOP:
	case KREF_ASYNC_STRESS_FINISH:
		mutex_lock(&kas_run_lock);
		kas_stop();
		if (cmd == KREF_ASYNC_STRESS_FINISH)
			kas_drain();
		mutex_unlock(&kas_run_lock);
		return 0;
	case KREF_ASYNC_STRESS_RESULT:
		return kas_result(uarg, true);
	case KREF_ASYNC_STRESS_HOTPLUG_CHECK:
		return kas_hotplug_check();
	}
	return -ENOTTY;
}

static int kas_open(struct inode *inode, struct file *file)
{
	struct kas_file *kf = kzalloc(sizeof(*kf), GFP_KERNEL);

	if (!kf)
		return -ENOMEM;
	mutex_init(&kf->lock);
	kas_cursor_init(&kf->cur);
	file->private_data = kf;
	return nonseekable_open(inode, file);
}

/* A task that dies with the file open gets here from its exit path. */
static int kas_release_file(struct inode *inode, struct file *file)
{
	struct kas_file *kf = file->private_data;
	unsigned int i;

	for (i = 0; i < kf->nheld; i++)
		kas_put(kf->held[i]);
	mutex_destroy(&kf->lock);
	kfree(kf);
	return 0;
}

static const struct file_operations kas_fops = {
	.owner		= THIS_MODULE,
	.open		= kas_open,
	.release	= kas_release_file,
	.unlocked_ioctl	= kas_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice kas_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= KREF_ASYNC_STRESS_NAME,
	.fops	= &kas_fops,
};

static int __init kas_init(void)
{
	return misc_register(&kas_misc);
}
module_init(kas_init);

static void __exit kas_exit(void)
{
	u64 created, left = 0;

	misc_deregister(&kas_misc);
	mutex_lock(&kas_run_lock);
	kas_stop();
	kas_drain();
	mutex_unlock(&kas_run_lock);
	/* Our own puts above took the worker path: the module is going. */
	kref_async_flush();

	created = min_t(u64, atomic_long_read(&kas_next_id), kas_cfg.objects);
	if (kas_state)
		left = kas_unreleased(created);
	if (left)
		pr_err("%llu of %llu objects not released at unload\n",
		       left, created);
	WARN_ON(left);
	vfree(kas_state);
	kfree(kas_slots);
	kfree(kas_cpus);
}
module_exit(kas_exit);

MODULE_DESCRIPTION("Stress test of kref_put_async() from every context");
MODULE_LICENSE("GPL");
