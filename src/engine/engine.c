// SPDX-License-Identifier: GPL-2.0
/*
 * Starting and stopping a server: everything a connection needs is up
 * before the listener lets the first one in, and stopping is starting in
 * reverse, with every connection closed and waited for before the
 * workqueue they run on goes.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/workqueue.h>

#include "compat.h"
#include "engine.h"

int kengine_start(struct kengine *eng)
{
	int err;

	err = kengine_conns_init(eng);
	if (err)
		return err;
	/*
	 * Per-CPU: a connection's work runs on the CPU whose softirq saw its
	 * packets, which keeps its socket and buffers cache-hot. Measured in
	 * the 2-vCPU guest (wrk -t2 -c32, keep-alive, 3 runs each, medians):
	 * per-CPU 27.2k req/s on 1 KiB and 13.1k on 16 KiB, unbound 22.6k and
	 * 10.8k (unbound_wq=1 switches, for measuring again elsewhere).
	 * Workers never block on clients, so the default max_active is plenty:
	 * a worker runs until its budget is spent, and concurrency management
	 * only starts another when one sleeps (in a VFS lookup, say).
	 */
	eng->wq = alloc_workqueue(KBUILD_MODNAME,
				  eng->cfg.unbound_wq ? WQ_UNBOUND :
							KHTTPD_WQ_PERCPU, 0);
	if (!eng->wq) {
		err = -ENOMEM;
		goto err_conns;
	}
	err = kengine_stats_init(eng);
	if (err)
		goto err_wq;
	err = kengine_tls_init(eng);
	if (err)
		goto err_stats;
	kengine_sweeper_start(eng);
	err = kengine_listener_start(eng, &eng->listener, &eng->cfg.addr,
				     false);
	if (err)
		goto err_sweeper;
	if (eng->cfg.tls_port) {
		err = kengine_listener_start(eng, &eng->tls_listener,
					     &eng->cfg.tls_addr, true);
		if (err)
			goto err_listener;
		pr_info("TLS on %pISpc: handshakes by the userspace agent (khttpd-tlsd), records by kTLS\n",
			&eng->tls_listener.addr);
	}
	return 0;

err_listener:
	kengine_listener_stop(&eng->listener);
	/* Connections it accepted meanwhile. */
	kengine_conns_close_all(eng);
err_sweeper:
	kengine_sweeper_stop(eng);
	kengine_tls_exit(eng);
err_stats:
	kengine_stats_exit();
err_wq:
	destroy_workqueue(eng->wq);
err_conns:
	kengine_conns_exit(eng);
	return err;
}

void kengine_stop(struct kengine *eng)
{
	kengine_listener_stop(&eng->tls_listener);
	kengine_listener_stop(&eng->listener);
	kengine_sweeper_stop(eng);
	kengine_conns_close_all(eng);
	kengine_tls_exit(eng);
	kengine_stats_exit();
	destroy_workqueue(eng->wq);
	kengine_conns_exit(eng);
}
