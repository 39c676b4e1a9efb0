/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khttpd's tracepoints (events/khttpd/ in tracefs). Together with the
 * noinline per-phase functions (khttpd_conn_recv, khttpd_conn_parse,
 * khttpd_tx_send_mem, khttpd_tx_send_file, khttpd_tx_send_cached, ...) that
 * function_graph can time, they show where a request's time goes without
 * a printk per request. scripts/trace.sh drives both.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM khttpd

#if !defined(KHTTPD_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KHTTPD_TRACE_H

#include <linux/in6.h>
#include <linux/tracepoint.h>

/*
 * Client addresses are copied whole (an IPv6 one is the larger) and printed
 * with %pISpc: "192.0.2.1:40000" or "[2001:db8::1]:40000".
 */
#define KHTTPD_TRACE_ADDR_LEN sizeof(struct sockaddr_in6)

TRACE_EVENT(khttpd_conn_open,
	TP_PROTO(const void *conn, const struct sockaddr *client,
		 unsigned int nconns),
	TP_ARGS(conn, client, nconns),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__array(u8, client, KHTTPD_TRACE_ADDR_LEN)
		__field(unsigned int, nconns)
	),
	TP_fast_assign(
		__entry->conn = conn;
		memcpy(__entry->client, client, KHTTPD_TRACE_ADDR_LEN);
		__entry->nconns = nconns;
	),
	TP_printk("conn=%p client=%pISpc open=%u", __entry->conn,
		  __entry->client, __entry->nconns)
);

TRACE_EVENT(khttpd_conn_close,
	TP_PROTO(const void *conn, unsigned long requests),
	TP_ARGS(conn, requests),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__field(unsigned long, requests)
	),
	TP_fast_assign(
		__entry->conn = conn;
		__entry->requests = requests;
	),
	TP_printk("conn=%p requests=%lu", __entry->conn, __entry->requests)
);

/*
 * A tls_port= connection's handshake, done by the agent: status 0 or the
 * -errno it (or the kernel) reported, and how long it took from accept.
 */
TRACE_EVENT(khttpd_tls_handshake,
	TP_PROTO(const void *conn, const struct sockaddr *client, int status,
		 unsigned int usecs),
	TP_ARGS(conn, client, status, usecs),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__array(u8, client, KHTTPD_TRACE_ADDR_LEN)
		__field(int, status)
		__field(unsigned int, usecs)
	),
	TP_fast_assign(
		__entry->conn = conn;
		memcpy(__entry->client, client, KHTTPD_TRACE_ADDR_LEN);
		__entry->status = status;
		__entry->usecs = usecs;
	),
	TP_printk("conn=%p client=%pISpc status=%d usecs=%u", __entry->conn,
		  __entry->client, __entry->status, __entry->usecs)
);

/* The body kinds, by name in the event format (for trace-cmd, perf). */
TRACE_DEFINE_ENUM(KHTTPD_BODY_NONE);
TRACE_DEFINE_ENUM(KHTTPD_BODY_FILE);
TRACE_DEFINE_ENUM(KHTTPD_BODY_CACHED);
TRACE_DEFINE_ENUM(KHTTPD_BODY_LISTING);

/*
 * One request answered: what was asked and what is being sent (body:
 * bytes still to send after the head; a listing's are not known ahead).
 */
TRACE_EVENT(khttpd_request,
	TP_PROTO(const void *conn, const struct sockaddr *client,
		 const char *method, size_t method_len,
		 const char *path, size_t path_len, int status, u64 body,
		 enum khttpd_body kind, bool tls),
	TP_ARGS(conn, client, method, method_len, path, path_len, status, body,
		kind, tls),
	TP_STRUCT__entry(
		__field(const void *, conn)
		__array(u8, client, KHTTPD_TRACE_ADDR_LEN)
		__array(char, method, 8)
		__dynamic_array(char, path, min_t(size_t, path_len, 255) + 1)
		__field(int, status)
		__field(u64, body)
		__field(int, kind)
		__field(bool, tls)
	),
	TP_fast_assign(
		size_t n = min_t(size_t, path_len, 255);

		__entry->conn = conn;
		memcpy(__entry->client, client, KHTTPD_TRACE_ADDR_LEN);
		memset(__entry->method, 0, sizeof(__entry->method));
		memcpy(__entry->method, method,
		       min_t(size_t, method_len, sizeof(__entry->method) - 1));
		memcpy(__get_str(path), path, n);
		__get_str(path)[n] = '\0';
		__entry->status = status;
		__entry->body = body;
		__entry->kind = kind;
		__entry->tls = tls;
	),
	TP_printk("conn=%p client=%pISpc %s %s -> %d body=%llu from=%s%s",
		  __entry->conn, __entry->client, __entry->method,
		  __get_str(path),
		  __entry->status, __entry->body,
		  __print_symbolic(__entry->kind,
				   { KHTTPD_BODY_NONE, "none" },
				   { KHTTPD_BODY_FILE, "splice" },
				   { KHTTPD_BODY_CACHED, "cache" },
				   { KHTTPD_BODY_LISTING, "listing" }),
		  __entry->tls ? " tls" : "")
);

#endif /* KHTTPD_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
