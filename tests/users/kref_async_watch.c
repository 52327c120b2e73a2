// SPDX-License-Identifier: GPL-2.0-only
/*
 * kref_async_watch.c - count the deferrals and the releases of named
 * release functions, from kref_async's tracepoints
 *
 * Test-only.  The guest of harness/users.sh loads it on the series' kernel
 * with the names of the converted users' releases:
 *
 *	watch=release_one_tty,mmput_async_fn,free_user_ns
 *
 * and reads /sys/kernel/debug/kref_async_watch, one line per name:
 *
 *	<name> <deferred to task_work> <deferred to the worker> <released>
 *
 * A release that is not deferred through kref_async (called directly
 * again, or lost) is never counted, which is what the guest checks.
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/kallsyms.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <trace/events/kref_async.h>

#define WATCH_MAX	4
#define WATCH_OTHERS	32

static char *watch;
module_param(watch, charp, 0444);
MODULE_PARM_DESC(watch, "comma-separated names of release functions to count");

struct kref_async_watch {
	char name[KSYM_NAME_LEN];
	void *fn;
	atomic_t task_work;
	atomic_t worker;
	atomic_t released;
};

static struct kref_async_watch watches[WATCH_MAX];
static unsigned int nr_watches;
/* Release functions seen that are none of the watched ones. */
static void *others[WATCH_OTHERS];
static struct dentry *watch_file;

static bool watch_is_other(void *fn)
{
	unsigned int i;

	for (i = 0; i < WATCH_OTHERS; i++)
		if (READ_ONCE(others[i]) == fn)
			return true;
	return false;
}

static void watch_add_other(void *fn)
{
	unsigned int i;

	for (i = 0; i < WATCH_OTHERS; i++)
		if (!cmpxchg(&others[i], NULL, fn))
			return;
}

/* Tracepoint probes run in any context: no locks, no allocation. */
static struct kref_async_watch *watch_find(void *fn)
{
	char sym[KSYM_SYMBOL_LEN];
	unsigned int i;

	for (i = 0; i < nr_watches; i++)
		if (READ_ONCE(watches[i].fn) == fn)
			return &watches[i];
	if (watch_is_other(fn))
		return NULL;
	sprint_symbol_no_offset(sym, (unsigned long)fn);
	for (i = 0; i < nr_watches; i++) {
		if (!strcmp(sym, watches[i].name)) {
			WRITE_ONCE(watches[i].fn, fn);
			return &watches[i];
		}
	}
	watch_add_other(fn);
	return NULL;
}

static void watch_defer(void *data, const void *node, void *release,
			bool task_work)
{
	struct kref_async_watch *w = watch_find(release);

	if (w)
		atomic_inc(task_work ? &w->task_work : &w->worker);
}

static void watch_release(void *data, const void *node, void *release)
{
	struct kref_async_watch *w = watch_find(release);

	if (w)
		atomic_inc(&w->released);
}

static int watch_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < nr_watches; i++)
		seq_printf(m, "%s %d %d %d\n", watches[i].name,
			   atomic_read(&watches[i].task_work),
			   atomic_read(&watches[i].worker),
			   atomic_read(&watches[i].released));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(watch);

static int __init watch_init(void)
{
	char *names, *cur, *name;
	int ret;

	if (!watch)
		return -EINVAL;
	names = kstrdup(watch, GFP_KERNEL);
	if (!names)
		return -ENOMEM;
	cur = names;
	while ((name = strsep(&cur, ",")) && nr_watches < WATCH_MAX)
		if (*name)
			strscpy(watches[nr_watches++].name, name);
	kfree(names);
	if (!nr_watches)
		return -EINVAL;

	ret = register_trace_kref_async_defer(watch_defer, NULL);
	if (ret)
		return ret;
	ret = register_trace_kref_async_release(watch_release, NULL);
	if (ret) {
		unregister_trace_kref_async_defer(watch_defer, NULL);
		tracepoint_synchronize_unregister();
		return ret;
	}
	watch_file = debugfs_create_file("kref_async_watch", 0444, NULL, NULL,
					 &watch_fops);
	return 0;
}

static void __exit watch_exit(void)
{
	debugfs_remove(watch_file);
	unregister_trace_kref_async_release(watch_release, NULL);
	unregister_trace_kref_async_defer(watch_defer, NULL);
	tracepoint_synchronize_unregister();
}

module_init(watch_init);
module_exit(watch_exit);
MODULE_DESCRIPTION("Count kref_async deferrals and releases of named functions (test only)");
MODULE_LICENSE("GPL");
