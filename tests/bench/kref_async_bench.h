/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kref_async_bench.h - ioctl ABI of /dev/kref_async_bench
 *
 * Shared by the benchmark module tests/bench/kref_async_bench.c and the
 * benchmark guest's /init, tests/bench/bench_init.c.  Not a kernel ABI:
 * both sides are always built together.
 */

#ifndef _KREF_ASYNC_BENCH_H
#define _KREF_ASYNC_BENCH_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KREF_ASYNC_BENCH_NAME	"kref_async_bench"
#define KREF_ASYNC_BENCH_DEV	"/dev/kref_async_bench"

/**
 * struct kref_async_bench_last - the last PUT_LOCKED object's release
 * @t_put: ktime_get_ns() just before the final kref_put_async()
 * @t_rel: ktime_get_ns() in the release
 * @put_tid: task that made the final put
 * @rel_tid: task the release ran in
 * @released: the release has run
 * @locked: the put's mutex was held when the release ran
 */
struct kref_async_bench_last {
	__u64	t_put;
	__u64	t_rel;
	__s32	put_tid;
	__s32	rel_tid;
	__u32	released;
	__u32	locked;
};

/* One round of every in-kernel measurement, run in a kthread. */
#define KREF_ASYNC_BENCH_ROUND		_IOW('K', 0x40, __u32)
/* Final kref_put_async() of an object, under a mutex, from this task. */
#define KREF_ASYNC_BENCH_PUT_LOCKED	_IO('K', 0x41)
#define KREF_ASYNC_BENCH_GET_LAST	_IOR('K', 0x42, struct kref_async_bench_last)
/* Print the deferral state sizes. */
#define KREF_ASYNC_BENCH_SIZES		_IO('K', 0x43)
/* PUT_LOCKED with a synchronous kref_put(): the baseline of its cost. */
#define KREF_ASYNC_BENCH_PUT_SYNC	_IO('K', 0x44)
/* The non-final put figures of one round alone, from this task. */
#define KREF_ASYNC_BENCH_NONFINAL	_IOW('K', 0x45, __u32)
/*
 * The final put's batch, from a kthread on KREF_ASYNC_BENCH_LOCAL_CPU with
 * preemption off; the caller has made that CPU the unbound workqueues'
 * only CPU.
 */
#define KREF_ASYNC_BENCH_FINAL_LOCAL	_IOW('K', 0x46, __u32)
#define KREF_ASYNC_BENCH_LOCAL_CPU	0

#endif /* _KREF_ASYNC_BENCH_H */
