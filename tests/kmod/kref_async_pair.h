/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The body of the two pair modules, kref_async_pair_a.ko and
 * kref_async_pair_b.ko, each a file that defines KAP_PAIR (0 or 1) and
 * includes this one: two modules with the same code at two places, whose
 * releases kref_async_test.ko's PAIR_QUEUE puts in one batch of the
 * worker, driven by the guest's /init (tests/user/kref_async_user.c).
 *
 * A release waits for its module's PAIR_OPEN, then sleeps in its own
 * text: one left to run after its module was freed faults there.
 */

#include <linux/delay.h>
#include <linux/kref.h>
#include <linux/module.h>

#include "kref_async_test.h"

static void kap_release(struct kref *kref)
{
	kref_async_test_pair_wait(kref);
	msleep(20);
	kref_async_test_pair_done(kref);
}

static int __init kap_init(void)
{
	return kref_async_test_pair_add(KAP_PAIR, kap_release);
}
module_init(kap_init);

static void __exit kap_exit(void)
{
	kref_async_test_pair_del(KAP_PAIR);
}
module_exit(kap_exit);

MODULE_DESCRIPTION("Test module whose releases share a batch with another module's");
MODULE_LICENSE("GPL");
