// SPDX-License-Identifier: GPL-2.0
/*
 * One echo connection, on the engine (src/engine): the engine accepts it,
 * runs its work from the socket's callbacks, keeps its deadline and closes
 * it; this file is the protocol. A step either sends back what the last
 * receive took, or, when nothing is pending, receives. Nothing is read
 * while an echo is unsent, so a client that stops reading stops being
 * read: TCP's windows push back on it, and the server holds at most one
 * buffer for it (backpressure). Bytes go back as they arrive, not by line.
 *
 * Memory: the buffer is taken when bytes arrive and given back once they
 * are echoed, so an idle connection holds none.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/net.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "kecho.h"

#define CREATE_TRACE_POINTS
#include "kecho_trace.h"

struct kecho_conn {
	struct kengine_conn conn;	/* first: the engine allocates it */

	/* Only the connection's work touches these (engine.h). */
	char *buf;			/* set while len: buf[off..len) unsent */
	size_t len;
	size_t off;
	bool eof;			/* the client shut its side */
	u64 bytes;			/* echoed on this connection */
};

static struct kecho_conn *kecho_conn(struct kengine_conn *conn)
{
	return container_of(conn, struct kecho_conn, conn);
}

static void kecho_conn_touch(struct kecho_conn *ec)
{
	kengine_conn_touch(&ec->conn, ec->conn.eng->cfg.timeout_secs * HZ);
}

static void kecho_conn_buf_put(struct kecho_conn *ec)
{
	if (!ec->buf || ec->len)
		return;
	kfree(ec->buf);
	ec->buf = NULL;
}

static noinline enum kengine_step kecho_conn_send(struct kecho_conn *ec)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec iov = {
		.iov_base = ec->buf + ec->off,
		.iov_len = ec->len - ec->off,
	};
	int ret;

	ret = kernel_sendmsg(ec->conn.sock, &msg, &iov, 1, iov.iov_len);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;	/* write space requeues us */
	if (ret <= 0)
		return KENGINE_STEP_CLOSE;
	ec->off += ret;
	ec->bytes += ret;
	kecho_stat_add(KECHO_STAT_BYTES_ECHOED, ret);
	trace_kecho_echo(ec, ret, ec->len - ec->off);
	kecho_conn_touch(ec);
	if (ec->off == ec->len)
		ec->off = ec->len = 0;
	return KENGINE_STEP_PROGRESS;
}

enum kengine_step kengine_proto_step(struct kengine_conn *conn)
{
	struct kecho_conn *ec = kecho_conn(conn);
	int ret;

	if (ec->len)
		return kecho_conn_send(ec);
	/*
	 * The client shut its side and has every byte back: close. Nothing
	 * unread is left, so the close is a FIN, not a reset.
	 */
	if (ec->eof)
		return KENGINE_STEP_CLOSE;

	if (!ec->buf) {
		ec->buf = kmalloc(KECHO_BUF_SIZE, GFP_KERNEL);
		if (!ec->buf) {
			kecho_stat_add(KECHO_STAT_NO_MEMORY, 1);
			return KENGINE_STEP_CLOSE;
		}
	}
	ret = kengine_conn_recv(conn, ec->buf, KECHO_BUF_SIZE, 0);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	if (ret < 0)
		return KENGINE_STEP_CLOSE;
	if (!ret) {
		ec->eof = true;
		return KENGINE_STEP_PROGRESS;
	}
	ec->len = ret;
	kecho_stat_add(KECHO_STAT_BYTES_RECEIVED, ret);
	kecho_conn_touch(ec);
	return KENGINE_STEP_PROGRESS;
}

bool kengine_proto_wait(struct kengine_conn *conn)
{
	struct kecho_conn *ec = kecho_conn(conn);

	kecho_conn_buf_put(ec);
	/* Nothing owed to the client: a full server may close it for room. */
	return !ec->len;
}

void kengine_proto_conn_init(struct kengine_conn *conn)
{
	struct kecho_conn *ec = kecho_conn(conn);

	ec->len = 0;
	ec->off = 0;
	ec->eof = false;
	ec->bytes = 0;
}

void kengine_proto_conn_release(struct kengine_conn *conn)
{
	struct kecho_conn *ec = kecho_conn(conn);

	ec->len = 0;
	kecho_conn_buf_put(ec);
}

void kengine_proto_conn_opened(struct kengine_conn *conn, unsigned int nconns)
{
	trace_kecho_conn_open(kecho_conn(conn), &conn->peer.sa, nconns);
}

void kengine_proto_conn_closed(struct kengine_conn *conn)
{
	struct kecho_conn *ec = kecho_conn(conn);

	trace_kecho_conn_close(ec, ec->bytes);
}

void kengine_proto_tls_done(struct kengine_conn *conn, int status,
			    unsigned int usecs)
{
	trace_kecho_tls_handshake(kecho_conn(conn), &conn->peer.sa, status,
				  usecs);
}

/* A connection returns to its cache holding no buffer (release puts it). */
static void kecho_conn_ctor(void *obj)
{
	struct kecho_conn *ec = obj;

	ec->buf = NULL;
}

void kecho_conns_config(struct kengine_config *cfg)
{
	cfg->conn_size = sizeof(struct kecho_conn);
	cfg->conn_ctor = kecho_conn_ctor;
	cfg->io_budget = 64;
	cfg->linger_secs = 5;
}
