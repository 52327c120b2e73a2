/* SPDX-License-Identifier: GPL-2.0-only */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kref_async

#if !defined(_TRACE_KREF_ASYNC_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_KREF_ASYNC_H

#include <linux/tracepoint.h>

#define KREF_ASYNC_PATHS			\
	EM(KREF_ASYNC_TASK_WORK, "task_work")	\
	EMe(KREF_ASYNC_WORKER, "worker")

#ifndef _KREF_ASYNC_PATH_DEFINED
#define _KREF_ASYNC_PATH_DEFINED
#undef EM
#undef EMe
#define EM(a, b)	a,
#define EMe(a, b)	a
enum kref_async_path { KREF_ASYNC_PATHS };
#endif

#undef EM
#undef EMe
#define EM(a, b)	TRACE_DEFINE_ENUM(a);
#define EMe(a, b)	TRACE_DEFINE_ENUM(a);
KREF_ASYNC_PATHS

#undef EM
#undef EMe
#define EM(a, b)	{ a, b },
#define EMe(a, b)	{ a, b }

/*
 * The node is only an address here: once deferred it belongs to the
 * release, which may free it at any time.
 */
TRACE_EVENT(kref_async_defer,

	TP_PROTO(const void *node, void *release, enum kref_async_path path),

	TP_ARGS(node, release, path),

	TP_STRUCT__entry(
		__field(const void *,	node)
		__field(void *,		release)
		__field(int,		path)
	),

	TP_fast_assign(
		__entry->node = node;
		__entry->release = release;
		__entry->path = path;
	),

	TP_printk("node=%p release=%ps path=%s", __entry->node,
		  __entry->release,
		  __print_symbolic(__entry->path, KREF_ASYNC_PATHS))
);

TRACE_EVENT(kref_async_release,

	TP_PROTO(const void *node, void *release),

	TP_ARGS(node, release),

	TP_STRUCT__entry(
		__field(const void *,	node)
		__field(void *,		release)
	),

	TP_fast_assign(
		__entry->node = node;
		__entry->release = release;
	),

	TP_printk("node=%p release=%ps", __entry->node, __entry->release)
);

TRACE_EVENT(kref_async_drain,

	TP_PROTO(unsigned int count),

	TP_ARGS(count),

	TP_STRUCT__entry(
		__field(unsigned int,	count)
	),

	TP_fast_assign(
		__entry->count = count;
	),

	TP_printk("released=%u", __entry->count)
);

#endif /* _TRACE_KREF_ASYNC_H */

#include <trace/define_trace.h>
