// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test-only module for kref_put_async(), driven from user space through
 * /dev/kref_async_test by the guest's /init (tests/user/kref_async_user.c):
 * a final put made from a real system call under a lock, a final put made
 * on a task's exit path, and an unload attempted while releases are
 * pending.  The release functions record where they ran; GET_STATE
 * reports it and user space judges.
 *
 * Every release takes kat_release_lock, and GET_STATE takes kat_put_lock
 * inside kat_release_lock.  A release that ran in the context of
 * PUT_UNDER_LOCK's final put, under kat_put_lock, would record the inverse
 * order, and lockdep would report the cycle: the shape of the deadlock
 * between vfio's group lock and kvm_vfio_destroy() that kref_put_async()
 * exists to avoid.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/kref_async.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/vhost_task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>

#include "kref_async_test.h"

/* Generous for a slow TCG guest, yet bounded so a broken test ends. */
#define KAT_GATE_TIMEOUT	(120 * HZ)
#define KAT_QUEUE_TIMEOUT	(30 * HZ)
/*
 * A vhost task's put must be released by the worker in well under this;
 * task_work would hold it until the vhost task exits, and that is never
 * while its device lives.
 */
#define KAT_VHOST_TIMEOUT	(10 * HZ)

struct kat_obj {
	struct kref			kref;
	struct kref_async_node		node;
	enum kref_async_test_kind	kind;
	pid_t				put_tid;
	/* Put by a kthread or a user worker, which run no release. */
	bool				put_by_worker;
	/* Only compared with the releasing task's, never dereferenced. */
	struct mm_struct		*put_mm;
};

/* Held across the final put of PUT_UNDER_LOCK. */
static DEFINE_MUTEX(kat_put_lock);
/* Taken by every release; protects kat_state. */
static DEFINE_MUTEX(kat_release_lock);
static struct kref_async_test_state kat_state;

/* Releases of QUEUE_PENDING objects wait for it until the deadline. */
static DECLARE_COMPLETION(kat_gate);
static unsigned long kat_gate_deadline;

/* QUEUE_PENDING releases that have started, whether or not blocked. */
static atomic_t kat_pending_entered;

/* One QUEUE_PENDING kthread at a time; the fields are under the lock. */
static DEFINE_MUTEX(kat_queue_lock);
static DECLARE_COMPLETION(kat_queue_done);
static struct task_struct *kat_queue_task;
static u32 kat_queue_count;
static u32 kat_queue_made;

/*
 * PUT_FROM_VHOST: the object the vhost task puts, and what the ioctl
 * waits for.  One at a time, under kat_queue_lock.
 */
static struct kat_obj *kat_vhost_obj;
static DECLARE_COMPLETION(kat_vhost_put_done);
static DECLARE_COMPLETION(kat_vhost_released);

/* Serialises HOLD on a file. */
static DEFINE_MUTEX(kat_hold_lock);

static int kat_lockdep_depth(void)
{
#ifdef CONFIG_LOCKDEP
	return current->lockdep_depth;
#else
	return -1;
#endif
}

/* Returns false if the gate stayed closed until the deadline. */
static bool kat_wait_gate(void)
{
	long left = (long)(READ_ONCE(kat_gate_deadline) - jiffies);

	return wait_for_completion_timeout(&kat_gate, left > 0 ? left : 0);
}

static void kat_release(struct kref *kref)
{
	struct kat_obj *obj = container_of(kref, struct kat_obj, kref);
	struct kref_async_test_kind_state *ks = &kat_state.kind[obj->kind];
	int depth = kat_lockdep_depth();
	bool same_task = current->pid == obj->put_tid;
	bool wrong_task, timed_out = false;
	u32 flags = 0;

	if (in_task())
		flags |= KREF_ASYNC_TEST_IN_TASK;
	if (current->mm == obj->put_mm)
		flags |= KREF_ASYNC_TEST_SAME_MM;
	if (mutex_is_locked(&kat_put_lock))
		flags |= KREF_ASYNC_TEST_PUT_LOCKED;
	if (current->flags & PF_KTHREAD)
		flags |= KREF_ASYNC_TEST_KTHREAD;
	/*
	 * A user task runs its own releases; a kthread cannot run any, and a
	 * user worker must not: a vhost task runs task work only when it
	 * exits, and io_uring's SQPOLL thread with its sqd->lock held.
	 */
	if (obj->put_by_worker)
		wrong_task = same_task;
	else
		wrong_task = !same_task;

	if (obj->kind == KREF_ASYNC_TEST_KIND_PENDING) {
		atomic_inc(&kat_pending_entered);
		/* Ordered before wake_up_var()'s check for waiters. */
		smp_mb__after_atomic();
		wake_up_var(&kat_pending_entered);
		timed_out = !kat_wait_gate();
	}

	mutex_lock(&kat_release_lock);
	kat_state.released++;
	ks->released++;
	if (wrong_task) {
		kat_state.released_in_wrong_task++;
		ks->released_in_wrong_task++;
	}
	if (timed_out) {
		kat_state.gate_timeouts++;
		kat_state.errors++;
	}
	ks->put_tid = obj->put_tid;
	ks->release_tid = current->pid;
	ks->flags = flags;
	ks->lockdep_depth = depth;
	mutex_unlock(&kat_release_lock);

	if (obj->kind == KREF_ASYNC_TEST_KIND_VHOST)
		complete(&kat_vhost_released);
	kfree(obj);
}

static struct kat_obj *kat_create(enum kref_async_test_kind kind)
{
	struct kat_obj *obj = kzalloc(sizeof(*obj), GFP_KERNEL);

	mutex_lock(&kat_release_lock);
	if (obj) {
		kat_state.created++;
		kat_state.kind[kind].created++;
	} else {
		kat_state.errors++;
	}
	mutex_unlock(&kat_release_lock);

	if (obj) {
		kref_init(&obj->kref);
		obj->kind = kind;
	}
	return obj;
}

/*
 * Drop the last reference to @obj.  Returns true if its release had run
 * by the time the put returned, which kref_put_async() must not allow.
 * Takes no lock, so that PUT_UNDER_LOCK holds only kat_put_lock here.
 */
static bool kat_put(struct kat_obj *obj)
{
	u32 *released = &kat_state.kind[obj->kind].released;
	u32 before = READ_ONCE(*released);

	obj->put_tid = current->pid;
	obj->put_by_worker = current->flags & (PF_KTHREAD | PF_USER_WORKER);
	obj->put_mm = current->mm;
	kref_put_async(&obj->kref, kat_release, &obj->node);
	return READ_ONCE(*released) != before;
}

static void kat_note_put(enum kref_async_test_kind kind, bool released)
{
	if (!released)
		return;
	mutex_lock(&kat_release_lock);
	kat_state.kind[kind].released_in_put++;
	mutex_unlock(&kat_release_lock);
}

static long kat_put_under_lock(void)
{
	struct kat_obj *obj = kat_create(KREF_ASYNC_TEST_KIND_LOCKED);
	bool released;

	if (!obj)
		return -ENOMEM;

	mutex_lock(&kat_put_lock);
	released = kat_put(obj);
	mutex_unlock(&kat_put_lock);

	kat_note_put(KREF_ASYNC_TEST_KIND_LOCKED, released);
	return 0;
}

static long kat_get_state(struct kref_async_test_state __user *arg)
{
	struct kref_async_test_state state;

	mutex_lock(&kat_release_lock);
	/* The inverse of a release run under kat_put_lock: see the top. */
	mutex_lock(&kat_put_lock);
	state = kat_state;
	mutex_unlock(&kat_put_lock);
	mutex_unlock(&kat_release_lock);

	return copy_to_user(arg, &state, sizeof(state)) ? -EFAULT : 0;
}

static long kat_hold(struct file *file)
{
	struct kat_obj *obj;
	long ret = 0;

	mutex_lock(&kat_hold_lock);
	if (file->private_data) {
		ret = -EBUSY;
	} else {
		obj = kat_create(KREF_ASYNC_TEST_KIND_HOLD);
		if (obj)
			file->private_data = obj;
		else
			ret = -ENOMEM;
	}
	mutex_unlock(&kat_hold_lock);
	return ret;
}

/* A kthread's end: stay until kthread_stop(), which needs the task. */
static int kat_wait_stop(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/* A kthread's final puts cannot use task_work: they take the worker path. */
static int kat_queue_fn(void *data)
{
	u32 i;

	for (i = 0; i < kat_queue_count; i++) {
		struct kat_obj *obj = kat_create(KREF_ASYNC_TEST_KIND_PENDING);

		if (!obj)
			break;
		kat_note_put(KREF_ASYNC_TEST_KIND_PENDING, kat_put(obj));
	}
	kat_queue_made = i;
	complete(&kat_queue_done);

	return kat_wait_stop();
}

static bool kat_pending_outstanding(void)
{
	struct kref_async_test_kind_state *ks;
	bool outstanding;

	mutex_lock(&kat_release_lock);
	ks = &kat_state.kind[KREF_ASYNC_TEST_KIND_PENDING];
	outstanding = ks->created != ks->released;
	mutex_unlock(&kat_release_lock);
	return outstanding;
}

static long kat_queue_pending(u32 __user *arg)
{
	struct task_struct *task;
	long ret;
	u32 n;

	if (get_user(n, arg))
		return -EFAULT;
	if (!n || n > KREF_ASYNC_TEST_MAX_PENDING)
		return -EINVAL;

	mutex_lock(&kat_queue_lock);
	if (kat_queue_task || kat_pending_outstanding()) {
		ret = -EBUSY;
		goto out;
	}
	reinit_completion(&kat_gate);
	WRITE_ONCE(kat_gate_deadline, jiffies + KAT_GATE_TIMEOUT);
	reinit_completion(&kat_queue_done);
	kat_queue_count = n;

	task = kthread_run(kat_queue_fn, NULL, KREF_ASYNC_TEST_NAME);
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto out;
	}
	kat_queue_task = task;
	/*
	 * Deferred puts return at once.  Should one wait for the gate
	 * instead, leave the kthread to module exit, which opens the gate.
	 */
	if (!wait_for_completion_timeout(&kat_queue_done, KAT_QUEUE_TIMEOUT)) {
		ret = -ETIMEDOUT;
		goto out;
	}
	kthread_stop(task);
	kat_queue_task = NULL;
	ret = kat_queue_made == n ? 0 : -ENOMEM;
out:
	mutex_unlock(&kat_queue_lock);
	return ret;
}

/* The vhost task's work: the final put, once; then it sleeps. */
static bool kat_vhost_fn(void *data)
{
	struct kat_obj *obj = xchg(&kat_vhost_obj, NULL);

	if (!obj)
		return false;
	/* Called in TASK_INTERRUPTIBLE; kat_note_put() may sleep. */
	__set_current_state(TASK_RUNNING);
	kat_note_put(KREF_ASYNC_TEST_KIND_VHOST, kat_put(obj));
	complete(&kat_vhost_put_done);
	return false;
}

/* Killed before its work ran: the ioctl puts the object itself. */
static void kat_vhost_killed(void *data)
{
	complete(&kat_vhost_put_done);
}

static long kat_put_from_vhost(void)
{
	struct vhost_task *vtsk;
	struct kat_obj *obj;
	long ret = 0;

	mutex_lock(&kat_queue_lock);
	/* Not while QUEUE_PENDING's releases may hold the drains. */
	if (kat_queue_task || kat_pending_outstanding()) {
		ret = -EBUSY;
		goto out;
	}
	obj = kat_create(KREF_ASYNC_TEST_KIND_VHOST);
	if (!obj) {
		ret = -ENOMEM;
		goto out;
	}
	reinit_completion(&kat_vhost_put_done);
	reinit_completion(&kat_vhost_released);
	WRITE_ONCE(kat_vhost_obj, obj);

	vtsk = vhost_task_create(kat_vhost_fn, kat_vhost_killed, NULL,
				 KREF_ASYNC_TEST_NAME "-vhost");
	if (IS_ERR(vtsk)) {
		ret = PTR_ERR(vtsk);
		goto out_obj;
	}
	vhost_task_start(vtsk);
	if (!wait_for_completion_timeout(&kat_vhost_put_done, KAT_QUEUE_TIMEOUT))
		ret = -ETIMEDOUT;
	else if (!wait_for_completion_timeout(&kat_vhost_released,
					      KAT_VHOST_TIMEOUT))
		ret = -ETIME;
	vhost_task_stop(vtsk);
out_obj:
	/* Not put if the vhost task never ran its work (it was killed). */
	obj = xchg(&kat_vhost_obj, NULL);
	if (obj) {
		/* Released here, in this task, as a user task's put. */
		obj->put_tid = current->pid;
		kref_put(&obj->kref, kat_release);
	} else if (ret) {
		/*
		 * Put, but not released in time: the release still comes,
		 * from a worker, and may follow vhost_task_stop().  Wait for
		 * it, so that it completes this call's completion and not the
		 * next's.
		 */
		kref_async_flush();
		if (!wait_for_completion_timeout(&kat_vhost_released,
						 KAT_QUEUE_TIMEOUT)) {
			mutex_lock(&kat_release_lock);
			kat_state.errors++;
			mutex_unlock(&kat_release_lock);
		}
	}
out:
	mutex_unlock(&kat_queue_lock);
	return ret;
}

/*
 * The pair modules' release functions, their gates and what their
 * releases did.  kat_pair_lock is held by PAIR_QUEUE while it puts, so
 * that a pair module cannot unregister under it; the rest is under
 * kat_release_lock.
 */
struct kat_pair {
	void			(*release)(struct kref *kref);
	struct completion	gate;
	u32			created;
	u32			released;
};

static DEFINE_MUTEX(kat_pair_lock);
static struct kat_pair kat_pairs[KREF_ASYNC_TEST_PAIRS];
static unsigned long kat_pair_deadline;
static u32 kat_pair_nr;
static u32 kat_pair_tasks;
static u32 kat_pair_gate_timeouts;
static pid_t kat_pair_last_task;
static char kat_pair_order[KREF_ASYNC_TEST_PAIRS * KREF_ASYNC_TEST_PAIR_MAX + 1];

/**
 * kref_async_test_pair_add - register the release function of a pair module
 * @pair: 0 for kref_async_pair_a.ko, 1 for kref_async_pair_b.ko
 * @release: its release function, which PAIR_QUEUE's objects get
 *
 * Return: 0, or -EINVAL for a @pair out of range, -EBUSY if registered.
 */
int kref_async_test_pair_add(unsigned int pair,
			     void (*release)(struct kref *kref))
{
	int ret = 0;

	if (pair >= KREF_ASYNC_TEST_PAIRS)
		return -EINVAL;
	mutex_lock(&kat_pair_lock);
	if (kat_pairs[pair].release)
		ret = -EBUSY;
	else
		kat_pairs[pair].release = release;
	mutex_unlock(&kat_pair_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(kref_async_test_pair_add);

/**
 * kref_async_test_pair_del - unregister a pair module, from its exit
 * @pair: as given to kref_async_test_pair_add()
 *
 * Its module is unloading: the releases it had pending held references
 * and have returned, and a put racing the unload is counted in the
 * module's record, which the unload waits for after this.
 */
void kref_async_test_pair_del(unsigned int pair)
{
	if (WARN_ON(pair >= KREF_ASYNC_TEST_PAIRS))
		return;
	mutex_lock(&kat_pair_lock);
	kat_pairs[pair].release = NULL;
	mutex_unlock(&kat_pair_lock);
}
EXPORT_SYMBOL_GPL(kref_async_test_pair_del);

/**
 * kref_async_test_pair_wait - wait in a pair module's release for its gate
 * @kref: the object being released
 */
void kref_async_test_pair_wait(struct kref *kref)
{
	struct kref_async_test_pair_obj *obj =
		container_of(kref, struct kref_async_test_pair_obj, kref);
	long left = (long)(READ_ONCE(kat_pair_deadline) - jiffies);

	if (wait_for_completion_timeout(&kat_pairs[obj->pair].gate,
					left > 0 ? left : 0))
		return;
	mutex_lock(&kat_release_lock);
	kat_pair_gate_timeouts++;
	kat_state.errors++;
	mutex_unlock(&kat_release_lock);
}
EXPORT_SYMBOL_GPL(kref_async_test_pair_wait);

/**
 * kref_async_test_pair_done - count a pair module's release and free its object
 * @kref: the object being released
 *
 * Called last, just before the release returns into its module: a release
 * run after its module was freed would have faulted on its own text first.
 */
void kref_async_test_pair_done(struct kref *kref)
{
	struct kref_async_test_pair_obj *obj =
		container_of(kref, struct kref_async_test_pair_obj, kref);

	mutex_lock(&kat_release_lock);
	if (current->pid != kat_pair_last_task)
		kat_pair_tasks++;
	kat_pair_last_task = current->pid;
	if (kat_pair_nr < ARRAY_SIZE(kat_pair_order) - 1)
		kat_pair_order[kat_pair_nr++] = 'a' + obj->pair;
	kat_pairs[obj->pair].released++;
	mutex_unlock(&kat_release_lock);
	kfree(obj);
}
EXPORT_SYMBOL_GPL(kref_async_test_pair_done);

struct kat_pair_job {
	struct kref_async_test_pair_queue q;
	struct kref_async_test_pair_obj *objs[KREF_ASYNC_TEST_PAIRS]
					     [KREF_ASYNC_TEST_PAIR_MAX];
	struct completion done;
	int ret;
};

/*
 * On q.cpu: occupy each drain of this CPU's list for tasks (a kthread's
 * puts go there) with a batch of one QUEUE_PENDING release, blocked on
 * kat_gate, then put the pair objects.
 * With every drain busy none takes the list, so they pile up in it; once
 * kat_gate opens, the first drain to finish takes them all as one batch.
 */
static int kat_pair_fn(void *data)
{
	unsigned long deadline = jiffies + KAT_QUEUE_TIMEOUT;
	struct kat_pair_job *job = data;
	struct kref_async_test_pair_obj *obj;
	unsigned int i, k, pair;
	struct kat_obj *blocker;
	long left;

	for (i = 0; i < KREF_ASYNC_DRAINS; i++) {
		blocker = kat_create(KREF_ASYNC_TEST_KIND_PENDING);
		if (!blocker) {
			job->ret = -ENOMEM;
			goto out;
		}
		kat_note_put(KREF_ASYNC_TEST_KIND_PENDING, kat_put(blocker));
		/* Its drain has taken it: the next put starts another. */
		left = (long)(deadline - jiffies);
		if (!wait_var_event_timeout(&kat_pending_entered,
					    atomic_read(&kat_pending_entered) > i,
					    left > 0 ? left : 0)) {
			job->ret = -ETIMEDOUT;
			goto out;
		}
	}
	for (k = 0; k < KREF_ASYNC_TEST_PAIRS; k++) {
		pair = k ^ job->q.first;
		for (i = 0; i < job->q.n; i++) {
			obj = job->objs[pair][i];
			job->objs[pair][i] = NULL;
			kref_put_async(&obj->kref, kat_pairs[pair].release,
				       &obj->node);
		}
	}
out:
	complete_all(&kat_gate);
	complete(&job->done);
	return kat_wait_stop();
}

static bool kat_pair_outstanding(void)
{
	bool outstanding = false;
	unsigned int pair;

	mutex_lock(&kat_release_lock);
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
		if (kat_pairs[pair].created != kat_pairs[pair].released)
			outstanding = true;
	mutex_unlock(&kat_release_lock);
	return outstanding;
}

static long kat_pair_queue(struct kref_async_test_pair_queue __user *arg)
{
	struct kref_async_test_pair_obj *obj;
	struct task_struct *task;
	struct kat_pair_job *job;
	unsigned int pair, i;
	long ret;

	job = kzalloc_obj(*job, GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	init_completion(&job->done);
	if (copy_from_user(&job->q, arg, sizeof(job->q))) {
		ret = -EFAULT;
		goto out_free;
	}
	if (job->q.cpu >= nr_cpu_ids || !cpu_online(job->q.cpu) ||
	    job->q.first >= KREF_ASYNC_TEST_PAIRS || !job->q.n ||
	    job->q.n > KREF_ASYNC_TEST_PAIR_MAX) {
		ret = -EINVAL;
		goto out_free;
	}

	mutex_lock(&kat_queue_lock);
	mutex_lock(&kat_pair_lock);
	ret = -ENOENT;
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
		if (!kat_pairs[pair].release)
			goto out;
	ret = -EBUSY;
	if (kat_queue_task || kat_pending_outstanding() ||
	    kat_pair_outstanding())
		goto out;
	ret = -ENOMEM;
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++) {
		for (i = 0; i < job->q.n; i++) {
			obj = kzalloc_obj(*obj, GFP_KERNEL);
			if (!obj)
				goto out;
			kref_init(&obj->kref);
			obj->pair = pair;
			job->objs[pair][i] = obj;
		}
	}

	reinit_completion(&kat_gate);
	WRITE_ONCE(kat_gate_deadline, jiffies + KAT_GATE_TIMEOUT);
	atomic_set(&kat_pending_entered, 0);
	mutex_lock(&kat_release_lock);
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++) {
		reinit_completion(&kat_pairs[pair].gate);
		kat_pairs[pair].created += job->q.n;
	}
	WRITE_ONCE(kat_pair_deadline, jiffies + KAT_GATE_TIMEOUT);
	kat_pair_nr = 0;
	kat_pair_tasks = 0;
	kat_pair_gate_timeouts = 0;
	kat_pair_last_task = 0;
	memset(kat_pair_order, 0, sizeof(kat_pair_order));
	mutex_unlock(&kat_release_lock);

	task = kthread_run_on_cpu(kat_pair_fn, job, job->q.cpu,
				  KREF_ASYNC_TEST_NAME "/%u");
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		mutex_lock(&kat_release_lock);
		for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
			kat_pairs[pair].created -= job->q.n;
		mutex_unlock(&kat_release_lock);
		complete_all(&kat_gate);
		goto out;
	}
	/* Done within KAT_QUEUE_TIMEOUT: its waits share one deadline. */
	wait_for_completion(&job->done);
	kthread_stop(task);
	ret = job->ret;
	if (ret) {
		/* Not put: not to be waited for. */
		mutex_lock(&kat_release_lock);
		for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
			kat_pairs[pair].created -= job->q.n;
		mutex_unlock(&kat_release_lock);
	}
out:
	mutex_unlock(&kat_pair_lock);
	mutex_unlock(&kat_queue_lock);
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
		for (i = 0; i < KREF_ASYNC_TEST_PAIR_MAX; i++)
			kfree(job->objs[pair][i]);
out_free:
	kfree(job);
	return ret;
}

static long kat_pair_open(u32 __user *arg)
{
	u32 pair;

	if (get_user(pair, arg))
		return -EFAULT;
	if (pair >= KREF_ASYNC_TEST_PAIRS)
		return -EINVAL;
	complete_all(&kat_pairs[pair].gate);
	return 0;
}

static long kat_pair_state(struct kref_async_test_pair_state __user *arg)
{
	struct kref_async_test_pair_state st = {};
	unsigned int pair;

	mutex_lock(&kat_release_lock);
	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++) {
		st.created[pair] = kat_pairs[pair].created;
		st.released[pair] = kat_pairs[pair].released;
	}
	st.tasks = kat_pair_tasks;
	st.gate_timeouts = kat_pair_gate_timeouts;
	memcpy(st.order, kat_pair_order, sizeof(st.order));
	mutex_unlock(&kat_release_lock);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long kat_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KREF_ASYNC_TEST_PUT_UNDER_LOCK:
		return kat_put_under_lock();
	case KREF_ASYNC_TEST_GET_STATE:
		return kat_get_state(uarg);
	case KREF_ASYNC_TEST_HOLD:
		return kat_hold(file);
	case KREF_ASYNC_TEST_QUEUE_PENDING:
		return kat_queue_pending(uarg);
	case KREF_ASYNC_TEST_OPEN_GATE:
		complete_all(&kat_gate);
		return 0;
	case KREF_ASYNC_TEST_FLUSH:
		kref_async_flush();
		return 0;
	case KREF_ASYNC_TEST_PUT_FROM_VHOST:
		return kat_put_from_vhost();
	case KREF_ASYNC_TEST_PAIR_QUEUE:
		return kat_pair_queue(uarg);
	case KREF_ASYNC_TEST_PAIR_OPEN:
		return kat_pair_open(uarg);
	case KREF_ASYNC_TEST_PAIR_STATE:
		return kat_pair_state(uarg);
	}
	return -ENOTTY;
}

/*
 * The releases of kref_async_victim.ko call this last, just before they
 * return into their module: one that ran after its module was freed
 * would have faulted on its own text before getting here.
 */
void kref_async_test_note_victim(void)
{
	mutex_lock(&kat_release_lock);
	kat_state.victim_released++;
	if (current->flags & PF_WQ_WORKER)
		kat_state.victim_in_worker++;
	mutex_unlock(&kat_release_lock);
}
EXPORT_SYMBOL_GPL(kref_async_test_note_victim);

static int kat_open(struct inode *inode, struct file *file)
{
	/* misc_open() left the miscdevice here; HOLD uses the field. */
	file->private_data = NULL;
	return nonseekable_open(inode, file);
}

/* A task killed with the file open gets here from its exit path. */
static int kat_file_release(struct inode *inode, struct file *file)
{
	struct kat_obj *obj = file->private_data;

	if (obj)
		kat_note_put(KREF_ASYNC_TEST_KIND_HOLD, kat_put(obj));
	return 0;
}

static const struct file_operations kat_fops = {
	.owner		= THIS_MODULE,
	.open		= kat_open,
	.release	= kat_file_release,
	.unlocked_ioctl	= kat_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice kat_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= KREF_ASYNC_TEST_NAME,
	.fops	= &kat_fops,
};

static int __init kat_init(void)
{
	unsigned int pair;

	for (pair = 0; pair < KREF_ASYNC_TEST_PAIRS; pair++)
		init_completion(&kat_pairs[pair].gate);
	return misc_register(&kat_misc);
}
module_init(kat_init);

static void __exit kat_exit(void)
{
	u32 created, released;
	unsigned int i;

	misc_deregister(&kat_misc);
	/* A kthread left behind by QUEUE_PENDING: let it finish, stop it. */
	complete_all(&kat_gate);
	for (i = 0; i < KREF_ASYNC_TEST_PAIRS; i++)
		complete_all(&kat_pairs[i].gate);
	if (kat_queue_task)
		kthread_stop(kat_queue_task);

	mutex_lock(&kat_release_lock);
	created = kat_state.created;
	released = kat_state.released;
	mutex_unlock(&kat_release_lock);
	if (released != created)
		pr_err("%u objects created, %u released at unload\n",
		       created, released);
	WARN_ON(released != created);
}
module_exit(kat_exit);

MODULE_DESCRIPTION("Test module for kref_put_async(), driven from user space");
MODULE_LICENSE("GPL");
