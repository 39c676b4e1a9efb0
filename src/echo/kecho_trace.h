/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kecho's tracepoints (events/kecho/ in tracefs): connections opening and
 * closing, and each echo sent, so that a client's bytes can be followed
 * without a printk per connection.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kecho

#if !defined(KECHO_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KECHO_TRACE_H

#include <linux/in6.h>
#include <linux/tracepoint.h>

/* Client addresses are copied whole and printed with %pISpc. */
#define KECHO_TRACE_ADDR_LEN sizeof(struct sockaddr_in6)

TRACE_EVENT(kecho_conn_open,
	TP_PROTO(const void *conn, const struct sockaddr *client,
		 unsigned int nconns),
	TP_ARGS(conn, client, nconns),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__array(u8, client, KECHO_TRACE_ADDR_LEN)
		__field(unsigned int, nconns)
	),
	TP_fast_assign(
		__entry->conn = conn;
		memcpy(__entry->client, client, KECHO_TRACE_ADDR_LEN);
		__entry->nconns = nconns;
	),
	TP_printk("conn=%p client=%pISpc open=%u", __entry->conn,
		  __entry->client, __entry->nconns)
);

TRACE_EVENT(kecho_conn_close,
	TP_PROTO(const void *conn, u64 bytes),
	TP_ARGS(conn, bytes),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__field(u64, bytes)
	),
	TP_fast_assign(
		__entry->conn = conn;
		__entry->bytes = bytes;
	),
	TP_printk("conn=%p echoed=%llu", __entry->conn, __entry->bytes)
);

/* Bytes sent back in one send; pending: what is left of that receive. */
TRACE_EVENT(kecho_echo,
	TP_PROTO(const void *conn, size_t sent, size_t pending),
	TP_ARGS(conn, sent, pending),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__field(size_t, sent)
		__field(size_t, pending)
	),
	TP_fast_assign(
		__entry->conn = conn;
		__entry->sent = sent;
		__entry->pending = pending;
	),
	TP_printk("conn=%p sent=%zu pending=%zu", __entry->conn,
		  __entry->sent, __entry->pending)
);

/* A tls_port= connection's handshake: 0 or -errno, and its duration. */
TRACE_EVENT(kecho_tls_handshake,
	TP_PROTO(const void *conn, const struct sockaddr *client, int status,
		 unsigned int usecs),
	TP_ARGS(conn, client, status, usecs),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__array(u8, client, KECHO_TRACE_ADDR_LEN)
		__field(int, status)
		__field(unsigned int, usecs)
	),
	TP_fast_assign(
		__entry->conn = conn;
		memcpy(__entry->client, client, KECHO_TRACE_ADDR_LEN);
		__entry->status = status;
		__entry->usecs = usecs;
	),
	TP_printk("conn=%p client=%pISpc status=%d usecs=%u", __entry->conn,
		  __entry->client, __entry->status, __entry->usecs)
);

#endif /* KECHO_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kecho_trace
#include <trace/define_trace.h>
