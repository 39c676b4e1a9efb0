// SPDX-License-Identifier: GPL-2.0
/*
 * TLS on tls_port=: the handshake is done in userspace, the records in the
 * kernel. A connection accepted there is handed, before any byte of it is
 * read, to the kernel's handshake upcall (net/handshake): it multicasts
 * the request on the "handshake" generic netlink family, an agent
 * (tools/khttpd-tlsd) accepts it, gets the socket as a descriptor, runs
 * the handshake, installs the session's keys in kTLS and reports back. The
 * done callback queues the connection's work, which reads the result and,
 * on success, attaches the socket callbacks: from then on the connection
 * is like any other, its receives and sends (splice included) going
 * through kTLS. This is how the NVMe/TCP target and knfsd do TLS.
 *
 * Nothing waits for a handshake but the connection itself: its deadline is
 * tls_timeout (the sweeper closes it), and the agent gets the same timeout
 * for its side. The kernel keeps few requests queued for the agent (3 to
 * 50, by memory); when full, the connection waits its turn here and is
 * resubmitted every KENGINE_TLS_RETRY until its deadline.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include "compat.h"
#include "engine.h"

#ifdef KHTTPD_HAVE_TLS_HANDSHAKE
#include <linux/socket.h>
#include <linux/tls.h>
#include <linux/uio.h>
#include <net/handshake.h>

#define KENGINE_TLS_RETRY (HZ / 50)

/* RFC 8446: an alert record, warning level, close_notify. */
#define KENGINE_TLS_RECORD_ALERT 21
#define KENGINE_TLS_ALERT_WARNING 1
#define KENGINE_TLS_ALERT_CLOSE_NOTIFY 0

/*
 * The agent's report, in its netlink message's context. The connection
 * must stay until this returns: release waits for KENGINE_CONN_HANDSHAKE
 * to clear, and clearing it is the last touch of conn here.
 */
static void kengine_tls_done(void *data, int status, key_serial_t peerid)
{
	struct kengine_conn *conn = data;

	conn->tls_status = status;
	set_bit(KENGINE_CONN_HANDSHAKE_DONE, &conn->flags);
	queue_work(conn->eng->wq, &conn->io_work);
	clear_and_wake_up_bit(KENGINE_CONN_HANDSHAKE, &conn->flags);
}

/*
 * Hand the connection to the agent. On failure no callback will come, and
 * net/handshake leaves the socket's destructor pointing at its own, which
 * no longer finds a request and would skip TCP's: put TCP's back.
 */
static int kengine_tls_submit(struct kengine_conn *conn)
{
	struct sock *sk = conn->sk;
	void (*destruct)(struct sock *sk) = sk->sk_destruct;
	struct tls_handshake_args args = {
		.ta_sock = conn->sock,
		.ta_done = kengine_tls_done,
		.ta_data = conn,
		.ta_timeout_ms = conn->eng->cfg.tls_timeout_secs * MSEC_PER_SEC,
		/* No key serials: the agent serves its configured certificate. */
		.ta_keyring = TLS_NO_KEYRING,
		.ta_my_cert = TLS_NO_CERT,
		.ta_my_privkey = TLS_NO_PRIVKEY,
	};
	int err;

	set_bit(KENGINE_CONN_HANDSHAKE, &conn->flags);
	err = tls_server_hello_x509(&args, GFP_KERNEL);
	if (err) {
		sk->sk_destruct = destruct;
		clear_bit(KENGINE_CONN_HANDSHAKE, &conn->flags);
	}
	return err;
}

/* Submit, or queue for a retry, or close: what a refusal calls for. */
static void kengine_tls_try(struct kengine_conn *conn)
{
	struct kengine *eng = conn->eng;
	int err = kengine_tls_submit(conn);

	switch (err) {
	case 0:
		return;
	case -EAGAIN:
		kengine_stat_inc(KENGINE_STAT_TLS_QUEUE_FULL);
		set_bit(KENGINE_CONN_HANDSHAKE_RETRY, &conn->flags);
		mod_delayed_work(eng->wq, &eng->tls_retry_work,
				 KENGINE_TLS_RETRY);
		return;
	case -ESRCH:
		kengine_stat_inc(KENGINE_STAT_TLS_NO_AGENT);
		pr_warn_ratelimited("no TLS handshake agent is running (start khttpd-tlsd); closing a TLS connection\n");
		break;
	default:
		kengine_stat_inc(KENGINE_STAT_TLS_FAILED);
		pr_warn_ratelimited("cannot start a TLS handshake: %d\n", err);
		break;
	}
	kengine_conn_schedule_release(conn);
}

/* On the accept thread: the connection is linked, callbacks not attached. */
void kengine_tls_start(struct kengine_conn *conn)
{
	kengine_stat_inc(KENGINE_STAT_TLS_HANDSHAKES);
	kengine_tls_try(conn);
}

/*
 * Resubmit the connections the full queue turned away. conns_lock keeps
 * them alive here, and makes a release wait for a pass that may be
 * submitting for its connection (kengine_tls_cancel()).
 */
static void kengine_tls_retry_work(struct work_struct *work)
{
	struct kengine *eng = container_of(to_delayed_work(work),
					   struct kengine, tls_retry_work);
	struct kengine_conn *conn;

	mutex_lock(&eng->conns_lock);
	list_for_each_entry(conn, &eng->conns, node) {
		if (test_bit(KENGINE_CONN_CLOSING, &conn->flags) ||
		    !test_and_clear_bit(KENGINE_CONN_HANDSHAKE_RETRY,
					&conn->flags))
			continue;
		kengine_tls_try(conn);
	}
	mutex_unlock(&eng->conns_lock);
}

/*
 * io_work's first run after the agent's report. Returns whether the
 * connection goes on, now with kTLS under it and our callbacks attached.
 */
bool kengine_tls_finish(struct kengine_conn *conn)
{
	struct kengine *eng = conn->eng;
	unsigned long started;
	int status = conn->tls_status;

	clear_bit(KENGINE_CONN_HANDSHAKE_DONE, &conn->flags);
	started = READ_ONCE(conn->expires) - eng->cfg.tls_timeout_secs * HZ;
	kengine_proto_tls_done(conn, status,
			       jiffies_to_usecs(jiffies - started));
	/* Unless the sweeper, closing it meanwhile, counted it timed out. */
	if (!test_and_set_bit(KENGINE_CONN_HANDSHAKE_COUNTED, &conn->flags))
		kengine_stat_inc(status ? KENGINE_STAT_TLS_FAILED :
					  KENGINE_STAT_TLS_OK);
	if (status)
		return false;
	kengine_conn_touch(conn, eng->cfg.timeout_secs * HZ);
	return kengine_conn_attach(conn);
}

/*
 * Release: a handshake still owed to the connection is called off; if the
 * agent's report is already being delivered, wait for the callback to
 * finish with conn.
 */
void kengine_tls_cancel(struct kengine_conn *conn)
{
	if (!test_bit(KENGINE_CONN_TLS, &conn->flags))
		return;
	mutex_lock(&conn->eng->conns_lock);	/* a retry pass is done */
	mutex_unlock(&conn->eng->conns_lock);
	if (!test_bit(KENGINE_CONN_HANDSHAKE, &conn->flags))
		return;
	if (tls_handshake_cancel(conn->sk))
		clear_bit(KENGINE_CONN_HANDSHAKE, &conn->flags);
	else
		wait_on_bit(&conn->flags, KENGINE_CONN_HANDSHAKE,
			    TASK_UNINTERRUPTIBLE);
}

/*
 * Before a TLS connection's FIN: a client must be able to tell the end of
 * the response from a truncation attack, and OpenSSL 3 reports a FIN
 * without close_notify as an error ("unexpected eof"). kTLS sends a
 * record of another type when the type comes in a control message.
 * (6.12's tls_handshake_close() does the same, but not every kernel with
 * the upcall has it.)
 */
void kengine_tls_close_notify(struct kengine_conn *conn)
{
	u8 type = KENGINE_TLS_RECORD_ALERT;
	u8 alert[2] = { KENGINE_TLS_ALERT_WARNING,
			KENGINE_TLS_ALERT_CLOSE_NOTIFY };
	u8 control[CMSG_SPACE(sizeof(type))] = {};
	struct kvec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr msg = {
		.msg_control = control,
		.msg_controllen = sizeof(control),
		.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL,
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cmsg), &type, sizeof(type));
	/* Best effort: if it cannot go now, the FIN still follows. */
	kernel_sendmsg(conn->sock, &msg, &iov, 1, iov.iov_len);
}

int kengine_tls_init(struct kengine *eng)
{
	INIT_DELAYED_WORK(&eng->tls_retry_work, kengine_tls_retry_work);
	return 0;
}

/* After every connection is gone: nothing can queue a retry any more. */
void kengine_tls_exit(struct kengine *eng)
{
	cancel_delayed_work_sync(&eng->tls_retry_work);
}

#else /* !KHTTPD_HAVE_TLS_HANDSHAKE: tls_port= is refused at load (config.c) */

void kengine_tls_start(struct kengine_conn *conn)
{
	kengine_conn_schedule_release(conn);
}

bool kengine_tls_finish(struct kengine_conn *conn)
{
	return false;
}

void kengine_tls_cancel(struct kengine_conn *conn)
{
}

void kengine_tls_close_notify(struct kengine_conn *conn)
{
}

int kengine_tls_init(struct kengine *eng)
{
	return 0;
}

void kengine_tls_exit(struct kengine *eng)
{
}

#endif
