// SPDX-License-Identifier: GPL-2.0-only
/*
 * A module whose own releases are pending while it fails to load or
 * unloads, driven by the guest's /init (tests/user/kref_async_user.c)
 * through its "mode" parameter:
 *
 *  mode=1  init makes the final put of an object of its own, from
 *          insmod's task, and then fails: the release must have run, in
 *          the module's text, before the module is freed, although the
 *          task that made the put returns to user space only after that.
 *  mode=2  exit makes the final put of X, whose release makes the final
 *          put of Y: both releases must run before the module is freed.
 *  mode=3  exit leaves an async function (async_schedule()) that makes
 *          the final put of an object of its own once the module's GOING
 *          notification has waited for its releases; delete_module()
 *          waits for the function only after the notifiers.  The put
 *          must be refused with a warning, and the release never run.
 *  mode=0  nothing: an unrelated module, whose unload must not wait for
 *          another module's pending releases.
 *
 * Each release sleeps first, so that one left to run after the module is
 * freed faults on its text instead of slipping through, and reports to
 * kref_async_test.ko last.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/async.h>
#include <linux/delay.h>
#include <linux/kref.h>
#include <linux/kref_async.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "kref_async_test.h"

static int mode;
module_param(mode, int, 0444);
MODULE_PARM_DESC(mode, "0: nothing, 1: put from init, then fail, 2: chained puts from exit, 3: a put after exit");

struct kav_obj {
	struct kref		kref;
	struct kref_async_node	node;
	struct kav_obj		*child;
};

static struct kav_obj *kav_x;

static void kav_release(struct kref *kref)
{
	struct kav_obj *obj = container_of(kref, struct kav_obj, kref);
	struct kav_obj *child = obj->child;

	msleep(100);
	kfree(obj);
	if (child)
		kref_put_async(&child->kref, kav_release, &child->node);
	else
		kref_async_test_note_victim();
}

static struct kav_obj *kav_new(struct kav_obj *child)
{
	struct kav_obj *obj = kzalloc(sizeof(*obj), GFP_KERNEL);

	if (obj) {
		kref_init(&obj->kref);
		obj->child = child;
	}
	return obj;
}

/*
 * Mode 3.  The late put waits until this module's own GOING notifier has
 * run.  Registered at the lowest priority after the library's, which has
 * the same, it runs after the library's has waited for the module's
 * releases.  It is unregistered by the async function, which the loader
 * waits for before it frees the module: not from inside the chain, whose
 * lock the notifier holds.
 */
static struct kav_obj *kav_late;
static DECLARE_COMPLETION(kav_going);

static int kav_notify(struct notifier_block *nb, unsigned long action,
		      void *data)
{
	if (action == MODULE_STATE_GOING && data == THIS_MODULE)
		complete(&kav_going);
	return NOTIFY_OK;
}

static struct notifier_block kav_nb = {
	.notifier_call	= kav_notify,
	.priority	= INT_MIN,
};

static void kav_late_put(void *data, async_cookie_t cookie)
{
	bool gone = wait_for_completion_timeout(&kav_going, 30 * HZ);

	unregister_module_notifier(&kav_nb);
	if (!gone) {
		pr_err("no GOING notification: the late put is not made\n");
		return;
	}
	/* For logscan and the guest's kmsg check: one report excused. */
	pr_info("kref_async's warning of a put after the module's wait is expected next\n");
	kref_put_async(&kav_late->kref, kav_release, &kav_late->node);
}

static int __init kav_init(void)
{
	struct kav_obj *obj, *child;
	int ret;

	switch (mode) {
	case 1:
		obj = kav_new(NULL);
		if (!obj)
			return -ENOMEM;
		kref_put_async(&obj->kref, kav_release, &obj->node);
		/* distinct from any error the loader itself returns */
		return -ENOEXEC;
	case 2:
		child = kav_new(NULL);
		if (!child)
			return -ENOMEM;
		kav_x = kav_new(child);
		if (!kav_x) {
			kfree(child);
			return -ENOMEM;
		}
		break;
	case 3:
		kav_late = kav_new(NULL);
		if (!kav_late)
			return -ENOMEM;
		ret = register_module_notifier(&kav_nb);
		if (ret) {
			kfree(kav_late);
			kav_late = NULL;
			return ret;
		}
		break;
	}
	return 0;
}
module_init(kav_init);

static void __exit kav_exit(void)
{
	if (kav_x)
		kref_put_async(&kav_x->kref, kav_release, &kav_x->node);
	if (kav_late)
		async_schedule(kav_late_put, NULL);
}
module_exit(kav_exit);

MODULE_DESCRIPTION("Test module whose releases are pending while it fails to load or unloads");
MODULE_LICENSE("GPL");
