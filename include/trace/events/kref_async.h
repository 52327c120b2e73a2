/* SPDX-License-Identifier: GPL-2.0-only */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kref_async

#if !defined(_TRACE_KREF_ASYNC_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_KREF_ASYNC_H

#include <linux/tracepoint.h>

/*
 * Nodes are recorded as addresses only: once deferred, a node belongs to
 * its release, which may free it at any time.
 */
TRACE_EVENT(kref_async_defer,
	    TP_PROTO(const void *node, void *release, bool task_work),
	    TP_ARGS(node, release, task_work),
	    TP_STRUCT__entry(__field(const void *, node)
			     __field(void *, release)
			     __field(bool, task_work)),
	    TP_fast_assign(__entry->node = node;
			   __entry->release = release;
			   __entry->task_work = task_work;),
	    TP_printk("node=%p release=%ps path=%s", __entry->node,
		      __entry->release,
		      __entry->task_work ? "task_work" : "worker")
);

TRACE_EVENT(kref_async_release,
	    TP_PROTO(const void *node, void *release),
	    TP_ARGS(node, release),
	    TP_STRUCT__entry(__field(const void *, node)
			     __field(void *, release)),
	    TP_fast_assign(__entry->node = node;
			   __entry->release = release;),
	    TP_printk("node=%p release=%ps", __entry->node, __entry->release)
);

TRACE_EVENT(kref_async_drain,
	    TP_PROTO(unsigned int count),
	    TP_ARGS(count),
	    TP_STRUCT__entry(__field(unsigned int, count)),
	    TP_fast_assign(__entry->count = count;),
	    TP_printk("released=%u", __entry->count)
);

#endif /* _TRACE_KREF_ASYNC_H */

#include <trace/define_trace.h>
