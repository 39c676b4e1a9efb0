// SPDX-License-Identifier: GPL-2.0
/*
 * One client connection, driven by work items the way the nvme-tcp target
 * drives its queues: the socket callbacks only queue io_work; io_work runs
 * the protocol's steps (non-blocking receive, parse, send) until one would
 * block or the budget is spent, then returns. No worker ever sleeps waiting
 * for a client, so idle connections cost memory, not workers.
 *
 * Lifetime: a connection is on eng->conns from kengine_conn_start() until
 * it is released. Release happens at most once, by whoever sets
 * KENGINE_CONN_CLOSING: mostly a release work, which waits for the accept
 * thread to let go of the connection (KENGINE_CONN_FIRST_RUN), restores
 * the socket callbacks under sk_callback_lock, so no callback can queue
 * io_work afterwards, cancels io_work, lets the protocol free what it
 * holds, and frees; or the accept thread itself, for a connection it
 * answered and closed before ever setting the callbacks.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/lockdep.h>
#include <linux/net.h>
#include <linux/percpu.h>
#include <linux/uio.h>
#include <linux/netdevice.h>
#include <net/dst.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "engine.h"

/* Most a lingering close drops in one receive. */
#define KENGINE_DISCARD_MAX (64 << 10)

void kengine_conn_touch(struct kengine_conn *conn, unsigned long timeout)
{
	WRITE_ONCE(conn->expires, jiffies + timeout);
}

void kengine_conn_schedule_release(struct kengine_conn *conn)
{
	if (!test_and_set_bit(KENGINE_CONN_CLOSING, &conn->flags))
		queue_work(conn->eng->wq, &conn->release_work);
}

/*
 * Where a connection's work runs. The per-CPU workqueue runs it on the CPU
 * whose softirq saw the packets, which keeps the socket and buffers
 * cache-hot; with a NIC spreading flows over CPUs (RSS) that is right. A
 * client on this machine is different: its own send runs the loopback
 * softirq on its CPU, on its back, so the work would queue behind the
 * client while another CPU idles, and a single-threaded client (ab, wrk
 * -t1, httperf) would have the server share its one CPU. So when the
 * softirq runs in a user task's context, a local connection's work goes
 * to its home CPU, or the next one when that is this CPU. Measured in the
 * 2-vCPU guest (1 KiB file, requests/s): ab -k -c16 4320 -> 6981, wrk -t1
 * 3393 -> 6613, ab -c1 548 -> 657.
 *
 * Not to a CPU where a client of ours runs too, though: with a client
 * thread on every CPU (htstress -t 2, wrk -t 2) every request would cross
 * CPUs both ways, each a wake-up by interrupt, and its work would still
 * share a CPU with a client. Each CPU notes the jiffy in which a local
 * client last sent from it (clients->seen); work is steered only to a CPU
 * that has had none for KENGINE_CLIENT_QUIET, and otherwise stays with its
 * client. Measured with htstress -k -c 4 and -c 32, two threads: README,
 * "Where a connection's work runs".
 *
 * The quiet time is in milliseconds: it was measured as two jiffies at
 * Debian's HZ=250, and two jiffies at HZ=1000 (x86's defconfig, which the
 * sanitizer kernel builds, and Ubuntu's since 24.04) are a quarter of it.
 * There a client thread's CPU looked quiet between its own requests under
 * TCG, and the work of a client on each CPU crossed to the other in 21%
 * of its queueings.
 */
#define KENGINE_CLIENT_QUIET	msecs_to_jiffies(8)

/*
 * Except for a client that waits for each answer before it sends again
 * (ab -c 1, with or without -k): it sleeps right after its send, so the
 * work takes nothing from it on its CPU, and there it needs no wake-up by
 * interrupt of another CPU and no wake-up of the client from there; the
 * answer is ready when the client next looks. Measured in the 2-vCPU
 * guest, steering every request against keeping the work on the client's
 * CPU: ab -k -c 1 7199 / 10342 req/s, ab -c 1 1808 / 1952. Two things say
 * a client is one: it has at most this connection with us, beside one
 * still closing (KENGINE_SERIAL_CONNS), and its task slept in the last
 * KENGINE_CLIENT_QUIET, as its voluntary context switches tell. httperf
 * passes the first test and not the second: it never sleeps, it polls,
 * and work queued behind it waits for the scheduler to preempt it
 * (httperf one connection at a time 3403 steered, 1772 not). Only for
 * input: a response larger than the socket takes is pushed on by room to
 * send, and there the server's sends and the client's copies overlap on
 * two CPUs.
 */
#define KENGINE_SERIAL_CONNS	2

/*
 * Whether the user task running this softirq on this CPU is a client that
 * sleeps until answered. Its voluntary switches are read here, in the
 * softirq of its send; a different task (or the same pid reused) only
 * starts the count again.
 */
static bool kengine_client_waits(struct kengine *eng, unsigned long now)
{
	struct kengine_cpu_clients *c;
	unsigned long nvcsw;

	/* Softirqs on one CPU do not nest: c is ours alone here. */
	lockdep_assert_in_softirq();
	c = this_cpu_ptr(eng->clients);
	nvcsw = READ_ONCE(current->nvcsw);
	if (c->task != current->pid) {
		c->task = current->pid;
		c->nvcsw = nvcsw;
		return false;
	}
	if (c->nvcsw != nvcsw) {
		c->nvcsw = nvcsw;
		c->slept = now;
	}
	return time_before(now, c->slept + KENGINE_CLIENT_QUIET) &&
	       READ_ONCE(eng->nconns) <= KENGINE_SERIAL_CONNS;
}

/*
 * With more than two CPUs the home may have a client of its own while
 * others are quiet (wrk's two threads on an 8-CPU machine): look a few
 * CPUs further, and make the one found the new home, so the search is
 * paid once, not on every packet. A few, because each look reads another
 * CPU's line, in the softirq of every request, when all have clients.
 */
#define KENGINE_STEER_LOOKS	4

/* The online CPU after cpu, wrapping. */
static int kengine_next_cpu(int cpu)
{
	cpu = cpumask_next(cpu, cpu_online_mask);
	return cpu < nr_cpu_ids ? cpu : cpumask_first(cpu_online_mask);
}

static bool kengine_cpu_quiet(struct kengine *eng, int cpu, unsigned long now)
{
	return time_after(now, READ_ONCE(per_cpu_ptr(eng->clients, cpu)->seen) +
				       KENGINE_CLIENT_QUIET);
}

/*
 * home_cpu is a hint: the socket's callbacks, which run under its lock,
 * move it; a stale read only sends one run to the old home. input: bytes,
 * a FIN or an error arrived (not room to send).
 */
static void kengine_conn_queue(struct kengine_conn *conn, bool input)
{
	struct kengine *eng = conn->eng;
	int home = READ_ONCE(conn->home_cpu), cpu = home;
	unsigned long now;
	int here, looks;

	if (cpu >= 0 && in_serving_softirq() && current->mm &&
	    !(current->flags & PF_KTHREAD)) {
		now = jiffies;
		/* Once a jiffy: the other CPUs read this line. */
		if (this_cpu_read(eng->clients->seen) != now)
			this_cpu_write(eng->clients->seen, now);
		if (input && kengine_client_waits(eng, now)) {
			kengine_stat_inc(KENGINE_STAT_STAYED);
			queue_work(eng->wq, &conn->io_work);
			return;
		}
		here = raw_smp_processor_id();
		/* With one CPU online there is nowhere to look. */
		looks = min_t(int, KENGINE_STEER_LOOKS, num_online_cpus() - 1);
		while (looks-- > 0) {
			if (cpu == here)
				cpu = kengine_next_cpu(cpu);
			if (cpu_online(cpu) && kengine_cpu_quiet(eng, cpu, now)) {
				if (cpu != home)
					WRITE_ONCE(conn->home_cpu, cpu);
				kengine_stat_inc(KENGINE_STAT_STEERED);
				queue_work_on(cpu, eng->wq, &conn->io_work);
				return;
			}
			if (looks)
				cpu = kengine_next_cpu(cpu);
		}
	}
	queue_work(eng->wq, &conn->io_work);
}

/*
 * Socket callbacks: softirq context, sk_callback_lock keeps conn alive.
 *
 * On a TLS connection the callbacks we replaced are kTLS's (the agent
 * installed it before we attached): its data_ready feeds the record
 * parser, its write_space pushes records TCP could not take yet. They run
 * first, as nvmet-tcp chains them.
 */

static void kengine_conn_data_ready(struct sock *sk)
{
	struct kengine_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (likely(conn)) {
		if (test_bit(KENGINE_CONN_TLS, &conn->flags))
			conn->saved_data_ready(sk);
		kengine_conn_queue(conn, true);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void kengine_conn_write_space(struct sock *sk)
{
	struct kengine_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (likely(conn) && test_bit(KENGINE_CONN_TLS, &conn->flags))
		conn->saved_write_space(sk);
	if (likely(conn) && sk_stream_is_writeable(sk)) {
		clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		kengine_conn_queue(conn, false);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/*
 * Whether the socket has something for a work run: bytes, the peer's FIN
 * (EOF on the next receive) or an error.
 */
static bool kengine_conn_readable(const struct sock *sk)
{
	return !skb_queue_empty_lockless(&sk->sk_receive_queue) ||
	       (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) ||
	       READ_ONCE(sk->sk_err);
}

/*
 * The same, under the socket's lock: TCP queues a segment and calls the
 * callback under it, so under it either the segment is there or the
 * callback it calls will be ours.
 */
static bool kengine_conn_readable_locked(struct sock *sk)
{
	bool slow = lock_sock_fast(sk);
	bool readable = kengine_conn_readable(sk);

	unlock_sock_fast(sk, slow);
	return readable;
}

/*
 * TCP reports every change of state, but only the peer's FIN, a reset or
 * an error gives the connection work. The rest would each cost a work run
 * that finds nothing, and a wake-up on whichever CPU the packet came in
 * on: ours is the FIN of every closing connection being acknowledged
 * (FIN_WAIT1 -> FIN_WAIT2), which a local client's ACK delivers on its own
 * CPU, one of four work runs per connection-per-request before this.
 */
static void kengine_conn_state_change(struct sock *sk)
{
	if (kengine_conn_readable(sk))
		kengine_conn_data_ready(sk);
}

/*
 * On a TLS connection kTLS hands back only application data: any other
 * record (the client's close_notify alert, say) fails the receive with
 * -EIO, as there is no room for its record type, and the connection closes.
 */
noinline int kengine_conn_recv(struct kengine_conn *conn, void *buf,
			       size_t len, int flags)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | flags };
	int ret;

	ret = kernel_recvmsg(conn->sock, &msg, &iov, 1, len,
			     MSG_DONTWAIT | flags);
	if (ret > 0 && test_bit(KENGINE_CONN_TLS, &conn->flags))
		kengine_stat_add(KENGINE_STAT_TLS_BYTES_RECEIVED, ret);
	return ret;
}

/*
 * The last byte is out and the connection must close. Closing over unread
 * input makes TCP answer with a reset, which can destroy what was sent
 * before the client reads it. So when more input may come (the protocol
 * says so, or bytes are already waiting), shut the write side and drain
 * until the client hangs up or the linger deadline passes. When none
 * should (a client that asked to close, with nothing unread), close at
 * once, as nginx does: TCP sends what is left and the FIN from an orphaned
 * socket, and the client's FIN ends it in its softirq. Lingering there
 * would cost a work run and, on a local client's CPU, a wake-up for that
 * FIN, on every connection-per-request (docs/bench/changes.md). On TLS
 * the same holds after our close_notify: a client answers it with its own
 * only once it has read everything before it, so the reset that alert
 * draws from the orphaned socket cannot cost it a byte.
 *
 * Returns whether the connection lingers; if not, the caller closes it.
 */
bool kengine_conn_linger(struct kengine_conn *conn, bool more_input)
{
	bool tls = test_bit(KENGINE_CONN_TLS, &conn->flags);
	struct sock *sk = conn->sk;

	if (tls)
		kengine_tls_close_notify(conn);
	/*
	 * The FIN goes now either way: a worker's fput() is deferred by a
	 * tick or two, which each closing client would wait for.
	 */
	kernel_sock_shutdown(conn->sock, SHUT_WR);
	if (!more_input && skb_queue_empty_lockless(&sk->sk_receive_queue))
		return false;
	set_bit(KENGINE_CONN_LINGER, &conn->flags);
	kengine_conn_touch(conn, conn->eng->cfg.linger_secs * HZ);
	return true;
}

static enum kengine_step kengine_conn_drain(struct kengine_conn *conn)
{
	char buf[256];
	int ret;

	/*
	 * TCP drops what MSG_TRUNC reads: no buffer needed. kTLS has no such
	 * mode; its records are decrypted into a small buffer and dropped.
	 */
	if (test_bit(KENGINE_CONN_TLS, &conn->flags))
		ret = kengine_conn_recv(conn, buf, sizeof(buf), 0);
	else
		ret = kengine_conn_recv(conn, NULL, KENGINE_DISCARD_MAX,
					MSG_TRUNC);

	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	return ret > 0 ? KENGINE_STEP_PROGRESS : KENGINE_STEP_CLOSE;
}

static enum kengine_step kengine_conn_step(struct kengine_conn *conn)
{
	if (test_bit(KENGINE_CONN_LINGER, &conn->flags))
		return kengine_conn_drain(conn);
	return kengine_proto_step(conn);
}

/*
 * The protocol's steps until one would block, the budget is spent or a
 * release is queued; returns the last one. Called by io_work, and by the
 * accept thread for a request already there at accept.
 */
static enum kengine_step kengine_conn_run(struct kengine_conn *conn)
{
	const struct cred *cred = conn->eng->cred;
	enum kengine_step step = KENGINE_STEP_PROGRESS;
	unsigned int budget = conn->eng->cfg.io_budget;
	const struct cred *old = NULL;

	clear_bit(KENGINE_CONN_IDLE, &conn->flags);
	/*
	 * A server that touches files for its clients (khttpd) does it all
	 * as its unprivileged user, not as the worker's root.
	 */
	if (cred)
		old = override_creds(cred);
	/*
	 * A release queued meanwhile (rmmod, a deadline) waits for this run
	 * to end: stop after the step in hand rather than spend the budget
	 * (up to 64 sends of a file) on a connection that is going.
	 */
	while (budget-- && step == KENGINE_STEP_PROGRESS &&
	       !test_bit(KENGINE_CONN_CLOSING, &conn->flags))
		step = kengine_conn_step(conn);
	if (cred)
		revert_creds(old);

	/*
	 * Nothing is read or sent after a close: what the connection holds
	 * goes back now, for the next connection on this CPU, not when the
	 * release work runs (later, maybe elsewhere). Held until then,
	 * khttpd's 14 KiB request buffers kept SLUB, which holds only a couple
	 * of free objects that large per CPU, giving back slabs and allocating
	 * (and, with init_on_alloc, zeroing) new ones.
	 */
	if (step == KENGINE_STEP_CLOSE)
		kengine_proto_conn_release(conn);
	if (step == KENGINE_STEP_WAIT && kengine_proto_wait(conn) &&
	    !test_bit(KENGINE_CONN_LINGER, &conn->flags))
		set_bit(KENGINE_CONN_IDLE, &conn->flags);
	return step;
}

static void kengine_conn_io_work(struct work_struct *work)
{
	struct kengine_conn *conn = container_of(work, struct kengine_conn,
						 io_work);
	enum kengine_step step;

	if (test_bit(KENGINE_CONN_CLOSING, &conn->flags))
		return;
	/* A TLS connection's first run: its handshake's result. */
	if (unlikely(test_bit(KENGINE_CONN_HANDSHAKE_DONE, &conn->flags)) &&
	    !kengine_tls_finish(conn)) {
		kengine_conn_schedule_release(conn);
		return;
	}
	step = kengine_conn_run(conn);
	if (step == KENGINE_STEP_CLOSE)
		kengine_conn_schedule_release(conn);
	else if (step == KENGINE_STEP_PROGRESS &&
		 !test_bit(KENGINE_CONN_CLOSING, &conn->flags))
		/* Budget spent with work left: let other connections run first. */
		queue_work(conn->eng->wq, &conn->io_work);
}

static void kengine_conns_link(struct kengine *eng, struct kengine_conn *conn)
{
	lockdep_assert_held(&eng->conns_lock);
	list_add_tail(&conn->node, &eng->conns);
	eng->nconns++;
}

/* Returns whether conn was the last connection. */
static bool kengine_conns_unlink(struct kengine *eng,
				 struct kengine_conn *conn)
{
	lockdep_assert_held(&eng->conns_lock);
	list_del(&conn->node);
	return --eng->nconns == 0;
}

/*
 * Give the socket its callbacks back; a connection still in its handshake
 * or its first run on the accept thread has not had ours yet, and one
 * whose callbacks are already back is left alone. Returns whether they
 * were ours.
 */
static bool kengine_conn_detach(struct kengine_conn *conn)
{
	struct sock *sk = conn->sk;
	bool attached;

	write_lock_bh(&sk->sk_callback_lock);
	attached = sk->sk_user_data == conn;
	if (attached) {
		sk->sk_user_data = NULL;
		sk->sk_data_ready = conn->saved_data_ready;
		sk->sk_write_space = conn->saved_write_space;
		sk->sk_state_change = conn->saved_state_change;
	}
	write_unlock_bh(&sk->sk_callback_lock);
	return attached;
}

/* Close the socket: through its file once it has one, which owns it. */
static void kengine_conn_put_sock(struct kengine_conn *conn)
{
	if (conn->sock_file)
		fput(conn->sock_file);
	else if (conn->sock)
		sock_release(conn->sock);
	sock_put(conn->sk);
}

/*
 * The socket as a file, the target splice needs to send a file's pages
 * (sendfile's path). Made on first use, not at accept: a struct file and
 * its dentry (384 bytes on 6.12) were most of what an idle connection
 * held beyond its socket, and a connection answered from the response
 * cache, or kecho's, never needs one. Called from the connection's work.
 *
 * sock_alloc_file() releases the socket when it fails, and an orphaned
 * socket must not keep our callbacks (write_space reads sk_socket), so they
 * come off while it runs. What arrives meanwhile is not lost: the work
 * goes on to send or receive, and waits only after an attempt made with
 * them back. Returns NULL, the socket gone, if there was no memory: the
 * connection must close.
 */
struct file *kengine_conn_sock_file(struct kengine_conn *conn)
{
	struct file *file;
	bool attached;

	if (likely(conn->sock_file))
		return conn->sock_file;
	attached = kengine_conn_detach(conn);
	file = sock_alloc_file(conn->sock, O_NONBLOCK, NULL);
	if (IS_ERR(file)) {
		conn->sock = NULL;
		pr_warn_ratelimited("no file for a connection's socket (%ld): closed\n",
				    PTR_ERR(file));
		return NULL;
	}
	conn->sock_file = file;
	/*
	 * Not again if a release was queued meanwhile (it is waiting for us),
	 * nor yet on the accept thread's first run: they go on after it.
	 */
	if (attached)
		kengine_conn_attach(conn);
	return file;
}

/* Called once, by whoever set KENGINE_CONN_CLOSING, with the first run over. */
static void kengine_conn_release(struct kengine_conn *conn)
{
	struct kengine *eng = conn->eng;
	bool last;

	/* A handshake still under way is called off, or waited for. */
	kengine_tls_cancel(conn);
	kengine_conn_detach(conn);

	/* No callback can queue io_work now; wait out a running one. */
	cancel_work_sync(&conn->io_work);
	kengine_proto_conn_release(conn);
	kengine_conn_put_sock(conn);

	mutex_lock(&eng->conns_lock);
	last = kengine_conns_unlink(eng, conn);
	mutex_unlock(&eng->conns_lock);

	kengine_proto_conn_closed(conn);
	kmem_cache_free(eng->conn_cache, conn);
	kengine_stat_inc(KENGINE_STAT_CLOSED);
	if (last)
		wake_up(&eng->conns_empty);
}

static void kengine_conn_release_work(struct work_struct *work)
{
	struct kengine_conn *conn = container_of(work, struct kengine_conn,
						 release_work);

	wait_on_bit(&conn->flags, KENGINE_CONN_FIRST_RUN, TASK_UNINTERRUPTIBLE);
	kengine_conn_release(conn);
}

/*
 * max_conns is reached: close the oldest connection that is idle between
 * requests, as nginx does when it runs out of connections, so that idle
 * clients cannot lock new ones out for a whole timeout. The new connection
 * is let in at once; the total is over max_conns only until the release
 * work has run. Returns whether one was closed.
 */
static bool kengine_conns_close_idle(struct kengine *eng)
{
	struct kengine_conn *conn;

	lockdep_assert_held(&eng->conns_lock);
	/* eng->conns is in accept order: the oldest first. */
	list_for_each_entry(conn, &eng->conns, node) {
		if (test_bit(KENGINE_CONN_IDLE, &conn->flags) &&
		    !test_bit(KENGINE_CONN_CLOSING, &conn->flags)) {
			kengine_conn_schedule_release(conn);
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
static void kengine_conn_peer(struct kengine_conn *conn)
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

/*
 * A client on this machine reaches us through the loopback device, whatever
 * address it used (127.0.0.1, ::1, or one of our own): its work is given a
 * home CPU, round-robin, so that local clients spread over the CPUs.
 */
static void kengine_conn_home(struct kengine_conn *conn)
{
	struct kengine *eng = conn->eng;
	struct dst_entry *dst;
	bool local = false;

	conn->home_cpu = -1;
	if (!eng->cfg.steer_local || eng->cfg.unbound_wq)
		return;
	dst = sk_dst_get(conn->sk);
	if (dst) {
		local = dst->dev && (dst->dev->flags & IFF_LOOPBACK);
		dst_release(dst);
	}
	if (!local)
		return;
	/* Only the accept thread moves next_cpu. */
	eng->next_cpu = kengine_next_cpu(eng->next_cpu);
	conn->home_cpu = eng->next_cpu;
}

/*
 * From here on the socket's events drive the connection. For a TLS
 * connection that is after its handshake, with kTLS in place, on its
 * work, which a release may already be waiting for: a release queued
 * before this (KENGINE_CONN_CLOSING, tested under the lock its restore
 * takes) would not see callbacks set after its restore, so they are not
 * set. Returns whether they were.
 */
bool kengine_conn_attach(struct kengine_conn *conn)
{
	struct sock *sk = conn->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (test_bit(KENGINE_CONN_CLOSING, &conn->flags)) {
		write_unlock_bh(&sk->sk_callback_lock);
		return false;
	}
	conn->saved_data_ready = sk->sk_data_ready;
	conn->saved_write_space = sk->sk_write_space;
	conn->saved_state_change = sk->sk_state_change;
	sk->sk_user_data = conn;
	sk->sk_data_ready = kengine_conn_data_ready;
	sk->sk_write_space = kengine_conn_write_space;
	sk->sk_state_change = kengine_conn_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	return true;
}

/* Called on a listener's thread with a freshly accepted socket it hands over. */
void kengine_conn_start(struct kengine_listener *l, struct socket *sock)
{
	struct kengine *eng = l->eng;
	struct kengine_conn *conn;
	enum kengine_step step = KENGINE_STEP_WAIT;
	struct sock *sk = sock->sk;
	bool ran = false;
	struct file *file;

	kengine_listener_disown(l, sk);
	conn = kmem_cache_alloc(eng->conn_cache, GFP_KERNEL);
	if (!conn) {
		sock_release(sock);
		return;
	}
	conn->eng = eng;
	conn->sock = sock;
	conn->sk = sk;
	sock_hold(sk);
	conn->sock_file = NULL;
	conn->flags = l->tls ? BIT(KENGINE_CONN_TLS) :
			       BIT(KENGINE_CONN_FIRST_RUN);
	INIT_WORK(&conn->io_work, kengine_conn_io_work);
	INIT_WORK(&conn->release_work, kengine_conn_release_work);
	kengine_conn_touch(conn, (l->tls ? eng->cfg.tls_timeout_secs :
					   eng->cfg.timeout_secs) * HZ);
	kengine_conn_peer(conn);
	kengine_conn_home(conn);
	kengine_proto_conn_init(conn);

	/*
	 * The handshake upcall hands the socket to the agent as a descriptor:
	 * a TLS connection needs its file at once (the others, on first use).
	 */
	if (l->tls) {
		file = sock_alloc_file(sock, O_NONBLOCK, NULL);
		if (IS_ERR(file)) {
			sock_put(sk);
			kmem_cache_free(eng->conn_cache, conn);
			return;
		}
		conn->sock_file = file;
	}

	mutex_lock(&eng->conns_lock);
	if (eng->nconns >= eng->cfg.max_conns) {
		if (!kengine_conns_close_idle(eng)) {
			mutex_unlock(&eng->conns_lock);
			kengine_stat_inc(KENGINE_STAT_REFUSED);
			pr_warn_ratelimited("max_conns=%u reached, refusing a connection\n",
					    eng->cfg.max_conns);
			kengine_conn_put_sock(conn);
			kmem_cache_free(eng->conn_cache, conn);
			return;
		}
		kengine_stat_inc(KENGINE_STAT_IDLE_CLOSED);
	}
	kengine_conns_link(eng, conn);
	kengine_proto_conn_opened(conn, eng->nconns);
	mutex_unlock(&eng->conns_lock);
	kengine_stat_inc(KENGINE_STAT_ACCEPTED);

	/* The last segment of an answer must not wait for an ACK. */
	tcp_sock_set_nodelay(sk);

	if (l->tls) {
		kengine_tls_start(conn);
		return;
	}
	/*
	 * A request already here (always, while the listener defers) is
	 * answered on this thread, in the run that accepted it: the first
	 * request of a connection then costs no worker's wake-up. A client
	 * on this machine pays for those wake-ups on its own CPU, in the
	 * softirq its send runs (docs/bench/changes.md). Not when more
	 * connections wait to be accepted, which would wait for this one: a
	 * worker on this CPU answers it once the thread sleeps again. Until
	 * this thread clears KENGINE_CONN_FIRST_RUN, release waits for it,
	 * and the callbacks are not set, so no io_work runs beside this one.
	 * A request this unlocked look misses is found by the locked one
	 * after the attach.
	 */
	if (reqsk_queue_empty(&inet_csk(l->sock->sk)->icsk_accept_queue) &&
	    kengine_conn_readable(sk)) {
		step = kengine_conn_run(conn);
		ran = true;
	}
	if (step == KENGINE_STEP_CLOSE) {
		/*
		 * Answered and closed here, its callbacks never set: nothing
		 * else can reach the connection but a release queued by the
		 * sweeper or rmmod, and that waits for this run. Released on
		 * this thread, not by a release work, which would wake a worker
		 * on this CPU for every connection of a client that makes one
		 * at a time (ab -c 1: 786 wake-ups per 1000 connections).
		 */
		if (!test_and_set_bit(KENGINE_CONN_CLOSING, &conn->flags)) {
			kengine_conn_release(conn);
			return;
		}
	} else if (kengine_conn_attach(conn)) {
		/*
		 * Bytes (or a FIN) that arrived before the callbacks were set
		 * queued nothing, and neither did room to send that came
		 * during the run; what comes from now on will. So the work is
		 * queued here for what may already be there: unread bytes, or
		 * what a run that did not end idle left (its budget spent,
		 * output pending, a lingering close).
		 */
		if ((ran && !test_bit(KENGINE_CONN_IDLE, &conn->flags)) ||
		    kengine_conn_readable_locked(sk))
			kengine_conn_queue(conn, true);
	}
	/* Our last touch: from here conn may be released at any time. */
	clear_and_wake_up_bit(KENGINE_CONN_FIRST_RUN, &conn->flags);
}

/*
 * Whether a TLS connection's handshake is not over for it yet: owed to the
 * agent, waiting to be resubmitted, or reported but not yet read by
 * io_work (the agent's own timeout is tls_timeout too, so its report of
 * it and the sweeper come together; closed before io_work read it, the
 * connection would be counted neither failed nor timed out).
 */
static bool kengine_conn_in_handshake(const struct kengine_conn *conn)
{
	return test_bit(KENGINE_CONN_HANDSHAKE, &conn->flags) ||
	       test_bit(KENGINE_CONN_HANDSHAKE_RETRY, &conn->flags) ||
	       test_bit(KENGINE_CONN_HANDSHAKE_DONE, &conn->flags);
}

/* Queue the release of every connection, or of those past their deadline. */
static void kengine_conns_release(struct kengine *eng, bool expired_only)
{
	struct kengine_conn *conn;
	unsigned long now = jiffies;

	mutex_lock(&eng->conns_lock);
	list_for_each_entry(conn, &eng->conns, node) {
		if (!expired_only) {
			kengine_conn_schedule_release(conn);
		} else if (time_after(now, READ_ONCE(conn->expires))) {
			kengine_stat_inc(KENGINE_STAT_TIMED_OUT);
			if (kengine_conn_in_handshake(conn) &&
			    !test_and_set_bit(KENGINE_CONN_HANDSHAKE_COUNTED,
					      &conn->flags))
				kengine_stat_inc(KENGINE_STAT_TLS_TIMED_OUT);
			kengine_conn_schedule_release(conn);
		}
	}
	mutex_unlock(&eng->conns_lock);
}

/* Close connections idle past their deadline; see sweeper.c. */
void kengine_conns_expire(struct kengine *eng)
{
	kengine_conns_release(eng, true);
}

void kengine_conns_close_all(struct kengine *eng)
{
	kengine_conns_release(eng, false);

	/*
	 * Every release restores its socket's callbacks before it finishes,
	 * so once this returns nothing outside the workqueue can queue work on
	 * it, and destroying the workqueue cannot race a callback.
	 */
	wait_event(eng->conns_empty, READ_ONCE(eng->nconns) == 0);
}

int kengine_conns_init(struct kengine *eng)
{
	mutex_init(&eng->conns_lock);
	INIT_LIST_HEAD(&eng->conns);
	eng->nconns = 0;
	eng->next_cpu = -1;
	init_waitqueue_head(&eng->conns_empty);
	eng->clients = alloc_percpu(struct kengine_cpu_clients);
	if (!eng->clients)
		return -ENOMEM;

	/*
	 * The protocol's constructor also keeps the cache its own: SLUB merges
	 * a cache without one into a compatible cache, where the module's
	 * connections would not show in /proc/slabinfo and its sysfs name
	 * would outlive rmmod (measured on 6.1).
	 */
	eng->conn_cache = kmem_cache_create(KBUILD_MODNAME "_conn",
					    eng->cfg.conn_size,
					    __alignof__(struct kengine_conn), 0,
					    eng->cfg.conn_ctor);
	if (!eng->conn_cache)
		goto err_clients;
	return 0;

err_clients:
	free_percpu(eng->clients);
	return -ENOMEM;
}

void kengine_conns_exit(struct kengine *eng)
{
	kmem_cache_destroy(eng->conn_cache);
	free_percpu(eng->clients);
}
