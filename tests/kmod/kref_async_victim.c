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
 *  mode=0  nothing: an unrelated module, whose unload must not wait for
 *          another module's pending releases.
 *
 * Each release sleeps first, so that one left to run after the module is
 * freed faults on its text instead of slipping through, and reports to
 * kref_async_test.ko last.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/kref.h>
#include <linux/kref_async.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "kref_async_test.h"

static int mode;
module_param(mode, int, 0444);
MODULE_PARM_DESC(mode, "0: nothing, 1: put from init, then fail, 2: chained puts from exit");

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

static int __init kav_init(void)
{
	struct kav_obj *obj, *child;

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
	}
	return 0;
}
module_init(kav_init);

static void __exit kav_exit(void)
{
	if (kav_x)
		kref_put_async(&kav_x->kref, kav_release, &kav_x->node);
}
module_exit(kav_exit);

MODULE_DESCRIPTION("Test module whose releases are pending while it fails to load or unloads");
MODULE_LICENSE("GPL");
