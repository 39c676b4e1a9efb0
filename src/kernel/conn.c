// SPDX-License-Identifier: GPL-2.0
/*
 * One client connection, driven by work items the way the nvme-tcp target
 * drives its queues: the socket callbacks only queue io_work; io_work does
 * non-blocking receive, parse and send until it would block or its budget is
 * spent, then returns. No worker ever sleeps waiting for a client, so idle
 * keep-alive connections cost memory, not workers.
 *
 * Memory: a connection holds its buffers (the request's bytes, the staged
 * response, the path scratch: struct khttpd_conn_buf, about 14 KiB) only
 * while a request is in flight. They are taken when bytes arrive and given
 * back when the response is out and nothing more is buffered, so an idle
 * keep-alive connection costs a few hundred bytes beyond its socket.
 *
 * Lifetime: a connection is on srv->conns from khttpd_conn_start() until its
 * release work has run. Release is queued at most once (KHTTPD_CONN_CLOSING);
 * it restores the socket callbacks under sk_callback_lock, so no callback can
 * queue io_work afterwards, cancels io_work, and frees.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/net.h>
#include <linux/uio.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "compat.h"
#include "khttpd.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* How long a closing connection waits for the client to read and hang up. */
#define KHTTPD_LINGER_TIMEOUT (KHTTPD_LINGER_SECS * HZ)

enum khttpd_conn_flags {
	KHTTPD_CONN_CLOSING,	/* release queued */
	KHTTPD_CONN_LINGER,	/* response out, write side shut, draining */
	KHTTPD_CONN_IDLE,	/* kept alive, waiting for its next request */
};

/* What a connection needs only while a request is in flight. */
struct khttpd_conn_buf {
	struct khttpd_tx tx;
	char rx[KHTTPD_RX_SIZE];
};

struct khttpd_conn {
	struct khttpd_server *srv;
	struct socket *sock;
	struct file *sock_file;	/* owns sock; splice target */
	struct work_struct io_work;
	struct work_struct release_work;
	struct list_head node;		/* on srv->conns, under conns_lock */
	unsigned long flags;
	unsigned long expires;		/* jiffies; read by the sweeper */

	/* The client's address and port, for tracepoints; set at accept. */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);

	/* Only io_work touches what follows, and io_work never runs twice at once. */
	size_t rx_len;
	bool rx_parsed;			/* rx[0..rx_len) already known incomplete */
	bool tx_busy;			/* a response is staged in tx */
	u64 discard;			/* request body bytes still to drop */
	unsigned long requests;		/* answered on this connection */
	/* Set while rx_len or tx_busy (see khttpd_conn_buf_put()). */
	struct khttpd_conn_buf *buf;
};

/* The buffers, taken before bytes are read; false if there is no memory. */
static bool khttpd_conn_buf_get(struct khttpd_conn *conn)
{
	if (likely(conn->buf))
		return true;
	conn->buf = kmem_cache_alloc(conn->srv->buf_cache, GFP_KERNEL);
	return conn->buf;
}

/* Give the buffers back once they hold nothing: no bytes, no response. */
static void khttpd_conn_buf_put(struct khttpd_conn *conn)
{
	if (!conn->buf || conn->rx_len || conn->tx_busy)
		return;
	kmem_cache_free(conn->srv->buf_cache, conn->buf);
	conn->buf = NULL;
}

static void khttpd_conn_touch(struct khttpd_conn *conn, unsigned long timeout)
{
	WRITE_ONCE(conn->expires, jiffies + timeout);
}

static void khttpd_conn_schedule_release(struct khttpd_conn *conn)
{
	if (!test_and_set_bit(KHTTPD_CONN_CLOSING, &conn->flags))
		queue_work(conn->srv->wq, &conn->release_work);
}

/* Socket callbacks: softirq context, sk_callback_lock keeps conn alive. */

static void khttpd_conn_data_ready(struct sock *sk)
{
	struct khttpd_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (likely(conn))
		queue_work(conn->srv->wq, &conn->io_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void khttpd_conn_write_space(struct sock *sk)
{
	struct khttpd_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (likely(conn) && sk_stream_is_writeable(sk)) {
		clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		queue_work(conn->srv->wq, &conn->io_work);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/* A reset or FIN shows up as an error or EOF on the next receive. */
static void khttpd_conn_state_change(struct sock *sk)
{
	khttpd_conn_data_ready(sk);
}

static noinline int khttpd_conn_recv(struct khttpd_conn *conn, void *buf,
				     size_t len, int flags)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | flags };

	return kernel_recvmsg(conn->sock, &msg, &iov, 1, len,
			      MSG_DONTWAIT | flags);
}

static enum khttpd_step khttpd_conn_send(struct khttpd_conn *conn)
{
	struct khttpd_tx *tx = &conn->buf->tx;
	enum khttpd_step step;

	step = khttpd_tx_send(tx, conn->sock, conn->sock_file);
	if (step == KHTTPD_STEP_WAIT || step == KHTTPD_STEP_CLOSE)
		return step;
	/*
	 * Only bytes that went out push the deadline back: a step that moved
	 * nothing (producing a listing's next piece) must not keep a
	 * connection alive.
	 */
	if (step == KHTTPD_STEP_PROGRESS)
		khttpd_conn_touch(conn, conn->srv->cfg.timeout_secs * HZ);
	if (!khttpd_tx_done(tx))
		return KHTTPD_STEP_PROGRESS;

	/* Response complete. */
	if (tx->close_after) {
		/*
		 * Closing with unread input would make TCP send a reset that
		 * can destroy the response before the client reads it; shut
		 * the write side and drain until the client hangs up.
		 */
		kernel_sock_shutdown(conn->sock, SHUT_WR);
		set_bit(KHTTPD_CONN_LINGER, &conn->flags);
		khttpd_conn_touch(conn, KHTTPD_LINGER_TIMEOUT);
		conn->rx_len = 0;
	}
	khttpd_tx_release(tx);
	conn->tx_busy = false;
	return KHTTPD_STEP_PROGRESS;
}

static void khttpd_conn_consume(struct khttpd_conn *conn, size_t n)
{
	conn->rx_len -= n;
	memmove(conn->buf->rx, conn->buf->rx + n, conn->rx_len);
	conn->rx_parsed = false;
}

/* Drop request body bytes that are already buffered. */
static void khttpd_conn_discard_buffered(struct khttpd_conn *conn)
{
	size_t n = min_t(u64, conn->discard, conn->rx_len);

	conn->discard -= n;
	khttpd_conn_consume(conn, n);
}

/* Count the response's status class. */
static void khttpd_conn_count(int status)
{
	if (status >= 200 && status < 600)
		khttpd_stat_inc(KHTTPD_STAT_STATUS_2XX + status / 100 - 2);
}

static noinline void khttpd_conn_parse(struct khttpd_conn *conn)
{
	struct khttpd_tx *tx = &conn->buf->tx;
	struct khttpd_fs fs = { .srv = conn->srv, .tx = tx };
	const struct khttpd_serve_env env = {
		.fs = &fs,
		.head = tx->head,
		.path = tx->path,
		.date = tx->date,
		.listing = conn->srv->cfg.listing,
	};
	struct khttpd_request req;
	struct khttpd_plan plan;
	size_t n;

	khttpd_date_now(tx->date);
	n = khttpd_serve_next(&env, conn->buf->rx, conn->rx_len,
			      KHTTPD_RX_SIZE, &req, &plan);
	if (!n) {
		conn->rx_parsed = true;
		return;
	}
	/* fs.c staged the body, if any; the head is in tx->head. */
	WARN_ON_ONCE(tx->body != plan.body);
	tx->head_len = plan.head_len;
	tx->head_off = 0;
	tx->close_after = plan.close_after;
	tx->status = plan.status;
	if (plan.body == KHTTPD_BODY_LISTING)
		tx->listing.writer = plan.listing;
	conn->tx_busy = true;

	khttpd_stat_inc(KHTTPD_STAT_REQUESTS);
	if (plan.bad_request)
		khttpd_stat_inc(KHTTPD_STAT_BAD_REQUESTS);
	else
		conn->requests++;
	khttpd_conn_count(plan.status);
	if (plan.fs_error)
		pr_warn_ratelimited("file system error %d answered with 500\n",
				    plan.fs_error);
	if (trace_khttpd_request_enabled())
		trace_khttpd_request(conn, &conn->peer.sa, req.method_name.ptr,
				     req.method_name.len, req.target.ptr,
				     req.target.len, plan.status,
				     khttpd_tx_body_bytes(tx), plan.body);
	conn->discard = plan.discard;
	khttpd_conn_consume(conn, n);
	khttpd_conn_discard_buffered(conn);
}

static enum khttpd_step khttpd_conn_step(struct khttpd_conn *conn)
{
	int ret;

	if (conn->tx_busy)
		return khttpd_conn_send(conn);

	if (test_bit(KHTTPD_CONN_LINGER, &conn->flags)) {
		/* TCP drops what MSG_TRUNC reads: no buffer needed. */
		ret = khttpd_conn_recv(conn, NULL, KHTTPD_DISCARD_MAX,
				       MSG_TRUNC);
		if (ret == -EAGAIN)
			return KHTTPD_STEP_WAIT;
		return ret > 0 ? KHTTPD_STEP_PROGRESS : KHTTPD_STEP_CLOSE;
	}

	if (conn->rx_len && !conn->rx_parsed && !conn->discard) {
		khttpd_conn_parse(conn);
		return KHTTPD_STEP_PROGRESS;
	}

	if (!khttpd_conn_buf_get(conn)) {
		khttpd_stat_inc(KHTTPD_STAT_NO_MEMORY);
		return KHTTPD_STEP_CLOSE;
	}
	ret = khttpd_conn_recv(conn, conn->buf->rx + conn->rx_len,
			       KHTTPD_RX_SIZE - conn->rx_len, 0);
	if (ret == -EAGAIN)
		return KHTTPD_STEP_WAIT;
	if (ret <= 0)
		return KHTTPD_STEP_CLOSE;	/* EOF or error */
	/*
	 * A request head must be complete within the timeout of its first
	 * byte: bytes dribbled in slowly do not extend it (slowloris). A body
	 * being discarded is progress like a response being sent.
	 */
	if (!conn->rx_len || conn->discard)
		khttpd_conn_touch(conn, conn->srv->cfg.timeout_secs * HZ);
	conn->rx_len += ret;
	conn->rx_parsed = false;
	khttpd_conn_discard_buffered(conn);
	return KHTTPD_STEP_PROGRESS;
}

static void khttpd_conn_io_work(struct work_struct *work)
{
	struct khttpd_conn *conn = container_of(work, struct khttpd_conn,
						io_work);
	enum khttpd_step step = KHTTPD_STEP_PROGRESS;
	int budget = KHTTPD_IO_BUDGET;
	const struct cred *old;

	if (test_bit(KHTTPD_CONN_CLOSING, &conn->flags))
		return;
	/*
	 * Everything a step does to files (lookups, opens, getattr, reading
	 * directories, filling the cache) is done as user=/group=.
	 */
	clear_bit(KHTTPD_CONN_IDLE, &conn->flags);
	old = override_creds(conn->srv->cred);
	while (budget-- && step == KHTTPD_STEP_PROGRESS)
		step = khttpd_conn_step(conn);
	revert_creds(old);
	if (step == KHTTPD_STEP_WAIT)
		khttpd_conn_buf_put(conn);

	/* Between requests: what a full server may close to make room. */
	if (step == KHTTPD_STEP_WAIT && conn->requests && !conn->rx_len &&
	    !conn->tx_busy && !conn->discard &&
	    !test_bit(KHTTPD_CONN_LINGER, &conn->flags))
		set_bit(KHTTPD_CONN_IDLE, &conn->flags);

	if (step == KHTTPD_STEP_CLOSE)
		khttpd_conn_schedule_release(conn);
	else if (step == KHTTPD_STEP_PROGRESS)
		/* Budget spent with work left: let other connections run first. */
		queue_work(conn->srv->wq, &conn->io_work);
}

static void khttpd_conns_link(struct khttpd_server *srv,
			      struct khttpd_conn *conn)
{
	lockdep_assert_held(&srv->conns_lock);
	list_add_tail(&conn->node, &srv->conns);
	srv->nconns++;
}

/* Returns whether conn was the last connection. */
static bool khttpd_conns_unlink(struct khttpd_server *srv,
				struct khttpd_conn *conn)
{
	lockdep_assert_held(&srv->conns_lock);
	list_del(&conn->node);
	return --srv->nconns == 0;
}

static void khttpd_conn_release_work(struct work_struct *work)
{
	struct khttpd_conn *conn = container_of(work, struct khttpd_conn,
						release_work);
	struct khttpd_server *srv = conn->srv;
	struct sock *sk = conn->sock->sk;
	bool last;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_user_data = NULL;
	sk->sk_data_ready = conn->saved_data_ready;
	sk->sk_write_space = conn->saved_write_space;
	sk->sk_state_change = conn->saved_state_change;
	write_unlock_bh(&sk->sk_callback_lock);

	/* No callback can queue io_work now; wait out a running one. */
	cancel_work_sync(&conn->io_work);
	if (conn->buf) {
		khttpd_tx_release(&conn->buf->tx);
		conn->tx_busy = false;
		conn->rx_len = 0;
		khttpd_conn_buf_put(conn);
	}
	fput(conn->sock_file);

	mutex_lock(&srv->conns_lock);
	last = khttpd_conns_unlink(srv, conn);
	mutex_unlock(&srv->conns_lock);

	trace_khttpd_conn_close(conn, conn->requests);
	kmem_cache_free(srv->conn_cache, conn);
	khttpd_stat_inc(KHTTPD_STAT_CLOSED);
	if (last)
		wake_up(&srv->conns_empty);
}

/*
 * max_conns is reached: close the oldest connection that is idle between
 * keep-alive requests, as nginx does when it runs out of connections, so
 * that idle clients cannot lock new ones out for a whole timeout. The new
 * connection is let in at once; the total is over max_conns only until the
 * release work has run. Returns whether one was closed.
 */
static bool khttpd_conns_close_idle(struct khttpd_server *srv)
{
	struct khttpd_conn *conn;

	lockdep_assert_held(&srv->conns_lock);
	/* srv->conns is in accept order: the oldest first. */
	list_for_each_entry(conn, &srv->conns, node) {
		if (test_bit(KHTTPD_CONN_IDLE, &conn->flags) &&
		    !test_bit(KHTTPD_CONN_CLOSING, &conn->flags)) {
			khttpd_conn_schedule_release(conn);
			return true;
		}
	}
	return false;
}

/*
 * Where the client is, as tracepoints print it: an IPv4 client of the
 * dual-stack listener reads as a v4-mapped IPv6 address and is shown as
 * the IPv4 address it is.
 */
static void khttpd_conn_peer(struct khttpd_conn *conn)
{
	const struct in6_addr *a6 = &conn->peer.in6.sin6_addr;

	memset(&conn->peer, 0, sizeof(conn->peer));
	if (kernel_getpeername(conn->sock, &conn->peer.sa) < 0)
		return;
	if (conn->peer.sa.sa_family == AF_INET6 && ipv6_addr_v4mapped(a6)) {
		__be16 port = conn->peer.in6.sin6_port;
		__be32 v4 = a6->s6_addr32[3];

		memset(&conn->peer, 0, sizeof(conn->peer));
		conn->peer.in.sin_family = AF_INET;
		conn->peer.in.sin_port = port;
		conn->peer.in.sin_addr.s_addr = v4;
	}
}

/* Called on the accept thread with a freshly accepted socket it hands over. */
void khttpd_conn_start(struct khttpd_server *srv, struct socket *sock)
{
	struct khttpd_conn *conn;
	struct sock *sk = sock->sk;
	struct file *file;

	conn = kmem_cache_alloc(srv->conn_cache, GFP_KERNEL);
	if (!conn) {
		sock_release(sock);
		return;
	}
	conn->srv = srv;
	conn->sock = sock;
	conn->flags = 0;
	conn->rx_len = 0;
	conn->rx_parsed = false;
	conn->discard = 0;
	conn->requests = 0;
	conn->tx_busy = false;
	INIT_WORK(&conn->io_work, khttpd_conn_io_work);
	INIT_WORK(&conn->release_work, khttpd_conn_release_work);
	khttpd_conn_touch(conn, srv->cfg.timeout_secs * HZ);
	khttpd_conn_peer(conn);

	/* The splice path needs the socket as a file; it owns sock from now. */
	file = sock_alloc_file(sock, O_NONBLOCK, NULL);
	if (IS_ERR(file)) {
		kmem_cache_free(srv->conn_cache, conn);
		return;
	}
	conn->sock_file = file;

	mutex_lock(&srv->conns_lock);
	if (srv->nconns >= srv->cfg.max_conns) {
		if (!khttpd_conns_close_idle(srv)) {
			mutex_unlock(&srv->conns_lock);
			khttpd_stat_inc(KHTTPD_STAT_REFUSED);
			pr_warn_ratelimited("max_conns=%u reached, refusing a connection\n",
					    srv->cfg.max_conns);
			fput(file);
			kmem_cache_free(srv->conn_cache, conn);
			return;
		}
		khttpd_stat_inc(KHTTPD_STAT_IDLE_CLOSED);
	}
	khttpd_conns_link(srv, conn);
	trace_khttpd_conn_open(conn, &conn->peer.sa, srv->nconns);
	mutex_unlock(&srv->conns_lock);
	khttpd_stat_inc(KHTTPD_STAT_ACCEPTED);

	/* The last segment of a response must not wait for an ACK. */
	tcp_sock_set_nodelay(sk);

	write_lock_bh(&sk->sk_callback_lock);
	conn->saved_data_ready = sk->sk_data_ready;
	conn->saved_write_space = sk->sk_write_space;
	conn->saved_state_change = sk->sk_state_change;
	sk->sk_user_data = conn;
	sk->sk_data_ready = khttpd_conn_data_ready;
	sk->sk_write_space = khttpd_conn_write_space;
	sk->sk_state_change = khttpd_conn_state_change;
	write_unlock_bh(&sk->sk_callback_lock);

	/* Bytes (or a FIN) may have arrived before the callbacks were set. */
	queue_work(srv->wq, &conn->io_work);
}

/* Queue the release of every connection, or of those past their deadline. */
static void khttpd_conns_release(struct khttpd_server *srv, bool expired_only)
{
	struct khttpd_conn *conn;
	unsigned long now = jiffies;

	mutex_lock(&srv->conns_lock);
	list_for_each_entry(conn, &srv->conns, node) {
		if (!expired_only) {
			khttpd_conn_schedule_release(conn);
		} else if (time_after(now, READ_ONCE(conn->expires))) {
			khttpd_stat_inc(KHTTPD_STAT_TIMED_OUT);
			khttpd_conn_schedule_release(conn);
		}
	}
	mutex_unlock(&srv->conns_lock);
}

/* Close connections idle past their deadline; see sweeper.c. */
void khttpd_conns_expire(struct khttpd_server *srv)
{
	khttpd_conns_release(srv, true);
}

void khttpd_conns_close_all(struct khttpd_server *srv)
{
	khttpd_conns_release(srv, false);

	/*
	 * Every release restores its socket's callbacks before it finishes,
	 * so once this returns nothing outside the workqueue can queue work on
	 * it, and destroying the workqueue cannot race a callback.
	 */
	wait_event(srv->conns_empty, READ_ONCE(srv->nconns) == 0);
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
/*
 * A connection returns to its cache holding no buffers (its release puts
 * them), the state this constructor gives a new object. Having one also
 * keeps the cache its own: SLUB merges a cache without a constructor into
 * a compatible one, where the module's connections would not show in
 * /proc/slabinfo and its sysfs name would outlive rmmod (measured on 6.1).
 */
static void khttpd_conn_ctor(void *obj)
{
	struct khttpd_conn *conn = obj;

	conn->buf = NULL;
}

static void khttpd_conn_buf_ctor(void *obj)
{
	struct khttpd_conn_buf *buf = obj;

	khttpd_tx_init(&buf->tx);
}

int khttpd_conns_init(struct khttpd_server *srv)
{
	mutex_init(&srv->conns_lock);
	INIT_LIST_HEAD(&srv->conns);
	srv->nconns = 0;
	init_waitqueue_head(&srv->conns_empty);

	srv->conn_cache = kmem_cache_create(KBUILD_MODNAME "_conn",
					    sizeof(struct khttpd_conn),
					    __alignof__(struct khttpd_conn), 0,
					    khttpd_conn_ctor);
	if (!srv->conn_cache)
		goto err_conn;
	srv->buf_cache = kmem_cache_create(KBUILD_MODNAME "_conn_buf",
					   sizeof(struct khttpd_conn_buf),
					   __alignof__(struct khttpd_conn_buf),
					   0, khttpd_conn_buf_ctor);
	if (!srv->buf_cache)
		goto err_buf;
	return 0;

err_buf:
	kmem_cache_destroy(srv->conn_cache);
err_conn:
	return -ENOMEM;
}

void khttpd_conns_exit(struct khttpd_server *srv)
{
	kmem_cache_destroy(srv->buf_cache);
	kmem_cache_destroy(srv->conn_cache);
}
