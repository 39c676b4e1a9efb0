// SPDX-License-Identifier: GPL-2.0
/*
 * The listening socket and the kthread that accepts on it.
 *
 * Accepting is the one place khttpd blocks on the network, so it has a
 * thread of its own; everything after accept() is event-driven work on the
 * workqueue (conn.c). The thread sleeps in a plain blocking accept(): to stop
 * it, the socket is shut down first, which takes it out of LISTEN and makes
 * accept() return -EINVAL, then kthread_stop() collects the thread.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <net/sock.h>

#include "compat.h"
#include "khttpd.h"

static int khttpd_listener_thread(void *data)
{
	struct khttpd_server *srv = data;
	struct socket *sock;
	int err;

	while (!kthread_should_stop()) {
		err = kernel_accept(srv->listen_sock, &sock, 0);
		if (!err) {
			khttpd_conn_start(srv, sock);
			continue;
		}
		if (err == -EINVAL) {
			/* Shut down by khttpd_listener_stop(): wait for it. */
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

int khttpd_listener_start(struct khttpd_server *srv)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(srv->cfg.port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (err) {
		pr_err("cannot create the listening socket: %d\n", err);
		return err;
	}
	/* Lets insmod follow rmmod at once despite TIME_WAIT connections. */
	sock_set_reuseaddr(sock->sk);

	err = khttpd_compat_bind(sock, &addr, sizeof(addr));
	if (err) {
		pr_err("cannot bind port %u: %d%s\n", srv->cfg.port, err,
		       err == -EADDRINUSE ? " (address in use)" : "");
		goto err_release;
	}
	err = kernel_listen(sock, srv->cfg.backlog);
	if (err) {
		pr_err("cannot listen on port %u: %d\n", srv->cfg.port, err);
		goto err_release;
	}
	srv->listen_sock = sock;

	srv->accept_thread = kthread_run(khttpd_listener_thread, srv,
					 KBUILD_MODNAME "-accept");
	if (IS_ERR(srv->accept_thread)) {
		err = PTR_ERR(srv->accept_thread);
		pr_err("cannot start the accept thread: %d\n", err);
		goto err_release;
	}
	return 0;

err_release:
	srv->listen_sock = NULL;
	sock_release(sock);
	return err;
}

void khttpd_listener_stop(struct khttpd_server *srv)
{
	kernel_sock_shutdown(srv->listen_sock, SHUT_RDWR);
	kthread_stop(srv->accept_thread);
	sock_release(srv->listen_sock);
	srv->listen_sock = NULL;
}
