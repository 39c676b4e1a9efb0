// SPDX-License-Identifier: GPL-2.0
/*
 * The listening sockets and the kthreads that accept on them: port= and,
 * with tls_port=, a second one whose connections begin with a handshake.
 *
 * Accepting is the one place a server blocks on the network, so each
 * listener has a thread of its own; everything after accept() is
 * event-driven work on the workqueue (conn.c). The thread sleeps in a plain
 * blocking accept(): to stop it, the socket is shut down first, which takes
 * it out of LISTEN and makes accept() return -EINVAL, then kthread_stop()
 * collects the thread.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/sockptr.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <uapi/linux/sched/types.h>

#include "compat.h"
#include "engine.h"

/*
 * With defer_accept, TCP_DEFER_ACCEPT is on only while the server is busy.
 * Deferring hands a connection to accept() with its request, so the
 * accept thread answers it at once: one wake-up per connection instead
 * of two, and with a loaded client's CPU paying for wake-ups, 11-15% more
 * connections per second. But it also starts the thread's wake-up only
 * once the request is there, where without it the wake-up (an IPI to an
 * idle CPU, 30-50 us in the QEMU guest) overlaps the client writing its
 * request: a client that makes one connection at a time waits for it,
 * and httperf lost up to 16%. How many other connections are in flight
 * says which kind of load this is: those open here, and those TCP still
 * holds for the listener, in the accept queue or (deferred ones among
 * them) half-open. Counting only the open ones would not do: deferring
 * itself keeps them few, as a connection is accepted with its request
 * and answered at once. Under ab -c 16 the listener then switched 167
 * times in 445 looks at /proc/khttpd 2 ms apart; counting all, 9 times.
 * The gap between the two marks keeps a load at the boundary from
 * switching at every accept.
 */
#define KENGINE_DEFER_BUSY	3	/* others in flight: start deferring */
#define KENGINE_DEFER_IDLE	1	/* others in flight: stop */

static void kengine_listener_adapt(struct kengine_listener *l)
{
	struct sock *sk = l->sock->sk;
	unsigned int in_flight = READ_ONCE(l->eng->nconns) +
				 READ_ONCE(sk->sk_ack_backlog) +
				 inet_csk_reqsk_queue_len(sk);
	bool busy;
	int secs;
	int err;

	if (!l->eng->cfg.defer_accept_secs)
		return;
	if (in_flight >= KENGINE_DEFER_BUSY)
		busy = true;
	else if (in_flight <= KENGINE_DEFER_IDLE)
		busy = false;
	else
		return;
	if (busy == l->deferring)
		return;
	secs = busy ? l->eng->cfg.defer_accept_secs : 0;
	err = l->sock->ops->setsockopt(l->sock, SOL_TCP, TCP_DEFER_ACCEPT,
				       KERNEL_SOCKPTR(&secs), sizeof(secs));
	if (err) {
		pr_warn_ratelimited("cannot set TCP_DEFER_ACCEPT: %d\n", err);
		return;
	}
	WRITE_ONCE(l->deferring, busy);
}

static int kengine_listener_thread(void *data)
{
	struct kengine_listener *l = data;
	struct socket *sock;
	int err;

	while (!kthread_should_stop()) {
		err = kernel_accept(l->sock, &sock, 0);
		if (!err) {
			kengine_listener_adapt(l);
			kengine_conn_start(l, sock);
			continue;
		}
		if (err == -EINVAL) {
			/* Shut down by kengine_listener_stop(): wait for it. */
			set_current_state(TASK_INTERRUPTIBLE);
			if (!kthread_should_stop())
				schedule();
			__set_current_state(TASK_RUNNING);
			continue;
		}
		/* Out of memory or files: back off rather than spin. */
		pr_warn_ratelimited("accept failed: %d\n", err);
		if (err == -ENOMEM || err == -ENFILE || err == -EMFILE)
			schedule_timeout_interruptible(HZ / 50);
	}
	return 0;
}

/*
 * A connection is ready to accept. The socket's own callback wakes the
 * accept thread as a synchronous wake-up, a hint that the waker (the
 * client, whose connect() runs the loopback softirq that lands here) is
 * about to sleep, so the scheduler puts the thread on the client's CPU;
 * the client does not sleep, and the two share that CPU while the other
 * idles. A plain wake-up lets it run where it ran last, or where it is
 * idle.
 */
static void kengine_listener_data_ready(struct sock *sk)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, EPOLLIN | EPOLLRDNORM);
	rcu_read_unlock();
}

/*
 * An accepted socket starts as a copy of the listener (sk_clone_lock()),
 * our sk_data_ready included. Give it back the kernel's, so that once it is
 * released, orphaned and still closing, it holds no pointer into a module
 * that rmmod may have unloaded. Called before the connection's own
 * callbacks are set, which save and restore what is there.
 */
void kengine_listener_disown(struct kengine_listener *l, struct sock *sk)
{
	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_data_ready == kengine_listener_data_ready)
		sk->sk_data_ready = l->default_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
}

/*
 * Without bind=, one IPv6 socket with IPV6_V6ONLY cleared takes IPv4 as
 * well (as v4-mapped addresses), whatever net.ipv6.bindv6only says. On a
 * kernel booted with ipv6.disable=1 there is no IPv6 socket to be had, and
 * the listener falls back to IPv4 alone.
 */
static int kengine_listener_socket(const struct kengine_config *cfg,
				   struct socket **sockp,
				   const struct sockaddr_storage *bind_addr,
				   struct sockaddr_storage *addr, int *addr_len)
{
	struct sockaddr_in6 *any6 = (struct sockaddr_in6 *)addr;
	struct sockaddr_in *any4 = (struct sockaddr_in *)addr;
	/* The port is the same field in both families. */
	u16 port = ntohs(((const struct sockaddr_in *)bind_addr)->sin_port);
	int off = 0;
	int err;

	if (!cfg->addr_any) {
		*addr = *bind_addr;
		*addr_len = cfg->addr_len;
		return sock_create_kern(&init_net, addr->ss_family, SOCK_STREAM,
					IPPROTO_TCP, sockp);
	}

	memset(addr, 0, sizeof(*addr));
	err = sock_create_kern(&init_net, PF_INET6, SOCK_STREAM, IPPROTO_TCP,
			       sockp);
	if (!err) {
		any6->sin6_family = AF_INET6;
		any6->sin6_port = htons(port);
		*addr_len = sizeof(*any6);
		err = (*sockp)->ops->setsockopt(*sockp, SOL_IPV6, IPV6_V6ONLY,
						KERNEL_SOCKPTR(&off),
						sizeof(off));
		if (err) {
			sock_release(*sockp);
			*sockp = NULL;
		}
		return err;
	}
	if (err != -EAFNOSUPPORT)
		return err;
	pr_info("IPv6 is disabled; listening on IPv4 only\n");
	any4->sin_family = AF_INET;
	any4->sin_port = htons(port);
	any4->sin_addr.s_addr = htonl(INADDR_ANY);
	*addr_len = sizeof(*any4);
	return sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
				sockp);
}

/*
 * The TLS accept thread only hands each connection to the handshake agent
 * (tls.c). It is woken from the softirq of the client's send, on loopback
 * on the client's CPU, and as a normal task it preempted the client there
 * when the client was busy with other connections (a waiting client has
 * given up its CPU already). A SCHED_BATCH task does not preempt the task
 * it is woken beside: it goes to an idle CPU if there is one, as a normal
 * task would, and otherwise runs when a CPU frees up. Under ab -l -c 16
 * that was 3-4% more handshakes per second, one connection at a time
 * level (docs/bench/changes.md). The plain thread stays normal: it
 * answers each connection's first request itself, and a client with a
 * thread on every CPU then waited for it (htstress -t 2, 6% fewer
 * connections per second).
 */
static void kengine_listener_yield_to_clients(struct task_struct *thread)
{
	struct sched_attr attr = { .sched_policy = SCHED_BATCH };
	int err;

	err = sched_setattr_nocheck(thread, &attr);
	if (err)
		pr_warn("the TLS accept thread keeps its scheduling policy: %d\n",
			err);
}

/*
 * bind_addr carries the port (and, with bind=, the address); without
 * bind= the listener takes every address.
 */
int kengine_listener_start(struct kengine *eng, struct kengine_listener *l,
			   const struct sockaddr_storage *bind_addr,
			   bool tls)
{
	struct sockaddr_storage addr;
	struct socket *sock;
	int addr_len;
	int err;

	l->eng = eng;
	l->tls = tls;
	l->deferring = false;
	err = kengine_listener_socket(&eng->cfg, &sock, bind_addr, &addr,
				      &addr_len);
	if (err) {
		pr_err("cannot create the listening socket: %d\n", err);
		return err;
	}
	/* Lets insmod follow rmmod at once despite TIME_WAIT connections. */
	sock_set_reuseaddr(sock->sk);

	err = khttpd_compat_bind(sock, &addr, addr_len);
	if (err) {
		if (err == -EADDRNOTAVAIL)
			pr_err("cannot bind %pISpc: no interface has that address\n",
			       &addr);
		else
			pr_err("cannot bind %pISpc: %d%s\n", &addr, err,
			       err == -EADDRINUSE ? " (address in use)" : "");
		goto err_release;
	}
	write_lock_bh(&sock->sk->sk_callback_lock);
	l->default_data_ready = sock->sk->sk_data_ready;
	sock->sk->sk_data_ready = kengine_listener_data_ready;
	write_unlock_bh(&sock->sk->sk_callback_lock);

	err = kernel_listen(sock, eng->cfg.backlog);
	if (err) {
		pr_err("cannot listen on %pISpc: %d\n", &addr, err);
		goto err_release;
	}
	l->sock = sock;
	l->addr = addr;

	/* A task's name keeps 15 characters: "khttpd-accept-tls" lost its s. */
	l->thread = kthread_run(kengine_listener_thread, l,
				tls ? KBUILD_MODNAME "-tls" :
				      KBUILD_MODNAME "-accept");
	if (IS_ERR(l->thread)) {
		err = PTR_ERR(l->thread);
		pr_err("cannot start the accept thread: %d\n", err);
		goto err_release;
	}
	if (tls)
		kengine_listener_yield_to_clients(l->thread);
	return 0;

err_release:
	l->sock = NULL;
	sock_release(sock);
	return err;
}

void kengine_listener_stop(struct kengine_listener *l)
{
	if (!l->sock)
		return;
	kernel_sock_shutdown(l->sock, SHUT_RDWR);
	kthread_stop(l->thread);
	sock_release(l->sock);
	l->sock = NULL;
}
