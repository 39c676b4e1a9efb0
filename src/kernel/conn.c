// SPDX-License-Identifier: GPL-2.0
/*
 * One HTTP connection, on the engine (src/engine): the engine accepts it,
 * runs its work from the socket's callbacks, keeps its deadline and closes
 * it; this file is the protocol's side. A step receives into the request
 * buffer, has the core plan the answer to a complete request
 * (khttpd_serve_next()), and sends the planned response (tx.c).
 *
 * Memory: a connection holds its buffers (the request's bytes, the staged
 * response, the path scratch: struct khttpd_conn_buf, about 14 KiB) only
 * while a request is in flight. They are taken when bytes arrive and given
 * back when the response is out and nothing more is buffered, so an idle
 * keep-alive connection costs a few hundred bytes beyond its socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/net.h>
#include <net/sock.h>

#include "khttpd.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* What a connection needs only while a request is in flight. */
struct khttpd_conn_buf {
	struct khttpd_tx tx;
	char rx[KHTTPD_RX_SIZE];
};

struct khttpd_conn {
	struct kengine_conn conn;	/* first: the engine allocates it */

	/* Only the connection's work touches these (engine.h). */
	size_t rx_len;
	bool rx_parsed;			/* rx[0..rx_len) already known incomplete */
	bool tx_busy;			/* a response is staged in tx */
	u64 discard;			/* request body bytes still to drop */
	unsigned long requests;		/* answered on this connection */
	/* Set while rx_len or tx_busy (see khttpd_conn_buf_put()). */
	struct khttpd_conn_buf *buf;
};

static struct khttpd_conn *khttpd_conn(struct kengine_conn *conn)
{
	return container_of(conn, struct khttpd_conn, conn);
}

static struct khttpd_server *khttpd_conn_srv(const struct khttpd_conn *hc)
{
	return container_of(hc->conn.eng, struct khttpd_server, eng);
}

/* The buffers, taken before bytes are read; false if there is no memory. */
static bool khttpd_conn_buf_get(struct khttpd_conn *hc)
{
	if (likely(hc->buf))
		return true;
	hc->buf = kmem_cache_alloc(khttpd_conn_srv(hc)->buf_cache, GFP_KERNEL);
	return hc->buf;
}

/* Give the buffers back once they hold nothing: no bytes, no response. */
static void khttpd_conn_buf_put(struct khttpd_conn *hc)
{
	if (!hc->buf || hc->rx_len || hc->tx_busy)
		return;
	kmem_cache_free(khttpd_conn_srv(hc)->buf_cache, hc->buf);
	hc->buf = NULL;
}

static void khttpd_conn_touch(struct khttpd_conn *hc)
{
	kengine_conn_touch(&hc->conn, hc->conn.eng->cfg.timeout_secs * HZ);
}

static enum kengine_step khttpd_conn_send(struct khttpd_conn *hc)
{
	struct khttpd_tx *tx = &hc->buf->tx;
	enum kengine_step step;

	step = khttpd_tx_send(tx, &hc->conn);
	if (step == KENGINE_STEP_WAIT || step == KENGINE_STEP_CLOSE)
		return step;
	/*
	 * Only bytes that went out push the deadline back: a step that moved
	 * nothing (producing a listing's next piece) must not keep a
	 * connection alive.
	 */
	if (step == KENGINE_STEP_PROGRESS)
		khttpd_conn_touch(hc);
	if (!khttpd_tx_done(tx))
		return KENGINE_STEP_PROGRESS;

	/* Response complete. */
	step = KENGINE_STEP_PROGRESS;
	if (tx->close_after) {
		/* Bytes behind the request are input a close would reset. */
		if (!kengine_conn_linger(&hc->conn, tx->linger || hc->rx_len))
			step = KENGINE_STEP_CLOSE;
		hc->rx_len = 0;
	}
	khttpd_tx_release(tx);
	hc->tx_busy = false;
	return step;
}

static void khttpd_conn_consume(struct khttpd_conn *hc, size_t n)
{
	hc->rx_len -= n;
	memmove(hc->buf->rx, hc->buf->rx + n, hc->rx_len);
	hc->rx_parsed = false;
}

/* Drop request body bytes that are already buffered. */
static void khttpd_conn_discard_buffered(struct khttpd_conn *hc)
{
	size_t n = min_t(u64, hc->discard, hc->rx_len);

	hc->discard -= n;
	khttpd_conn_consume(hc, n);
}

/* Count the response's status class. */
static void khttpd_conn_count(int status)
{
	if (status >= 200 && status < 600)
		khttpd_stat_inc(KHTTPD_STAT_STATUS_2XX + status / 100 - 2);
}

static noinline void khttpd_conn_parse(struct khttpd_conn *hc)
{
	struct khttpd_server *srv = khttpd_conn_srv(hc);
	struct khttpd_tx *tx = &hc->buf->tx;
	struct khttpd_fs fs = { .srv = srv, .tx = tx };
	const struct khttpd_serve_env env = {
		.fs = &fs,
		.head = tx->head,
		.path = tx->path,
		.date = tx->date,
		.now = khttpd_date_now(tx->date),
		.listing = srv->cfg.listing,
	};
	struct khttpd_request req;
	struct khttpd_plan plan;
	size_t n;

	n = khttpd_serve_next(&env, hc->buf->rx, hc->rx_len, KHTTPD_RX_SIZE,
			      &req, &plan);
	if (!n) {
		hc->rx_parsed = true;
		return;
	}
	/* fs.c staged the body, if any; the head is in tx->head. */
	WARN_ON_ONCE(tx->body != plan.body);
	tx->head_len = plan.head_len;
	tx->head_off = 0;
	tx->close_after = plan.close_after;
	tx->linger = plan.linger;
	tx->tls = test_bit(KENGINE_CONN_TLS, &hc->conn.flags);
	tx->status = plan.status;
	khttpd_tx_hold_tls_end(tx, hc->conn.sk);
	if (plan.body == KHTTPD_BODY_LISTING)
		tx->listing.writer = plan.listing;
	hc->tx_busy = true;

	khttpd_stat_inc(KHTTPD_STAT_REQUESTS);
	if (plan.bad_request)
		khttpd_stat_inc(KHTTPD_STAT_BAD_REQUESTS);
	else
		hc->requests++;
	khttpd_conn_count(plan.status);
	if (plan.fs_error)
		pr_warn_ratelimited("file system error %d answered with 500\n",
				    plan.fs_error);
	if (trace_khttpd_request_enabled())
		trace_khttpd_request(hc, &hc->conn.peer.sa, req.method_name.ptr,
				     req.method_name.len, req.target.ptr,
				     req.target.len, plan.status,
				     khttpd_tx_body_bytes(tx), plan.body,
				     tx->tls);
	hc->discard = plan.discard;
	khttpd_conn_consume(hc, n);
	khttpd_conn_discard_buffered(hc);
}

enum kengine_step kengine_proto_step(struct kengine_conn *conn)
{
	struct khttpd_conn *hc = khttpd_conn(conn);
	int ret;

	if (hc->tx_busy)
		return khttpd_conn_send(hc);

	if (hc->rx_len && !hc->rx_parsed && !hc->discard) {
		khttpd_conn_parse(hc);
		return KENGINE_STEP_PROGRESS;
	}

	if (!khttpd_conn_buf_get(hc)) {
		khttpd_stat_inc(KHTTPD_STAT_NO_MEMORY);
		return KENGINE_STEP_CLOSE;
	}
	ret = kengine_conn_recv(conn, hc->buf->rx + hc->rx_len,
				KHTTPD_RX_SIZE - hc->rx_len, 0);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	if (ret <= 0)
		return KENGINE_STEP_CLOSE;	/* EOF or error */
	/*
	 * A request head must be complete within the timeout of its first
	 * byte: bytes dribbled in slowly do not extend it (slowloris). A body
	 * being discarded is progress like a response being sent.
	 */
	if (!hc->rx_len || hc->discard)
		khttpd_conn_touch(hc);
	hc->rx_len += ret;
	hc->rx_parsed = false;
	khttpd_conn_discard_buffered(hc);
	return KENGINE_STEP_PROGRESS;
}

bool kengine_proto_wait(struct kengine_conn *conn)
{
	struct khttpd_conn *hc = khttpd_conn(conn);

	khttpd_conn_buf_put(hc);
	/* Between requests: what a full server may close to make room. */
	return hc->requests && !hc->rx_len && !hc->tx_busy && !hc->discard;
}

void kengine_proto_conn_init(struct kengine_conn *conn)
{
	struct khttpd_conn *hc = khttpd_conn(conn);

	hc->rx_len = 0;
	hc->rx_parsed = false;
	hc->discard = 0;
	hc->requests = 0;
	hc->tx_busy = false;
}

void kengine_proto_conn_release(struct kengine_conn *conn)
{
	struct khttpd_conn *hc = khttpd_conn(conn);

	if (!hc->buf)
		return;
	khttpd_tx_release(&hc->buf->tx);
	hc->tx_busy = false;
	hc->rx_len = 0;
	khttpd_conn_buf_put(hc);
}

void kengine_proto_conn_opened(struct kengine_conn *conn, unsigned int nconns)
{
	trace_khttpd_conn_open(khttpd_conn(conn), &conn->peer.sa, nconns);
}

void kengine_proto_conn_closed(struct kengine_conn *conn)
{
	struct khttpd_conn *hc = khttpd_conn(conn);

	trace_khttpd_conn_close(hc, hc->requests);
}

void kengine_proto_tls_done(struct kengine_conn *conn, int status,
			    unsigned int usecs)
{
	trace_khttpd_tls_handshake(khttpd_conn(conn), &conn->peer.sa, status,
				   usecs);
}

/*
 * A connection returns to its cache holding no buffers (its release puts
 * them), the state this constructor gives a new object.
 */
static void khttpd_conn_ctor(void *obj)
{
	struct khttpd_conn *hc = obj;

	hc->buf = NULL;
}

/*
 * Buffers return to their cache with nothing staged (a response is
 * released before they are put), which is the state this constructor
 * gives a new object. Having a constructor also spares init_on_alloc
 * kernels from zeroing 14 KiB for every request: measured at 2.8% of all
 * CPU with one connection per request when the buffers were part of the
 * connection. Nothing depends on the zeroing: the buffers are only read
 * where they have been written.
 */
static void khttpd_conn_buf_ctor(void *obj)
{
	struct khttpd_conn_buf *buf = obj;

	khttpd_tx_init(&buf->tx);
}

/* What the engine needs to allocate HTTP connections. */
void khttpd_conns_config(struct kengine_config *cfg)
{
	cfg->conn_size = sizeof(struct khttpd_conn);
	cfg->conn_ctor = khttpd_conn_ctor;
	cfg->io_budget = KHTTPD_IO_BUDGET;
	cfg->linger_secs = KHTTPD_LINGER_SECS;
}

int khttpd_conns_init(struct khttpd_server *srv)
{
	srv->buf_cache = kmem_cache_create(KBUILD_MODNAME "_conn_buf",
					   sizeof(struct khttpd_conn_buf),
					   __alignof__(struct khttpd_conn_buf),
					   0, khttpd_conn_buf_ctor);
	return srv->buf_cache ? 0 : -ENOMEM;
}

void khttpd_conns_exit(struct khttpd_server *srv)
{
	kmem_cache_destroy(srv->buf_cache);
}
