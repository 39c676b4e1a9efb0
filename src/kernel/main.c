// SPDX-License-Identifier: GPL-2.0
/*
 * khttpd: an HTTP/1.1 static-file server inside the kernel.
 *
 * This file only orders start-up and shutdown; exit is init in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "khttpd.h"

static struct khttpd_server khttpd_server;

static int __init khttpd_init(void)
{
	struct khttpd_server *srv = &khttpd_server;
	int err;

	err = khttpd_config_load(&srv->cfg);
	if (err)
		return err;
	err = khttpd_creds_init(srv);
	if (err)
		return err;
	err = khttpd_vfs_root_open(srv->cfg.root, srv->cred, &srv->root);
	if (err)
		goto err_creds;
	err = khttpd_cache_init(&srv->cache, srv->cfg.cache_bytes,
				srv->cfg.cache_file_max);
	if (err)
		goto err_root;
	err = khttpd_conns_init(srv);
	if (err)
		goto err_cache;

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
	srv->wq = alloc_workqueue(KBUILD_MODNAME,
				  srv->cfg.unbound_wq ? WQ_UNBOUND :
							KHTTPD_WQ_PERCPU, 0);
	if (!srv->wq) {
		err = -ENOMEM;
		goto err_conns;
	}
	err = khttpd_stats_init(srv);
	if (err)
		goto err_wq;
	khttpd_sweeper_start(srv);
	err = khttpd_listener_start(srv);
	if (err)
		goto err_sweeper;

	pr_info("serving %s on %pISpc%s\n", srv->cfg.root, &srv->listen_addr,
		srv->cfg.addr_any && srv->listen_addr.ss_family == AF_INET6 ?
		" (IPv6 and IPv4)" : "");
	return 0;

err_sweeper:
	khttpd_sweeper_stop(srv);
	khttpd_stats_exit();
err_wq:
	destroy_workqueue(srv->wq);
err_conns:
	khttpd_conns_exit(srv);
err_cache:
	khttpd_cache_exit(&srv->cache);
err_root:
	path_put(&srv->root);
err_creds:
	khttpd_creds_exit(srv);
	return err;
}

static void __exit khttpd_exit(void)
{
	struct khttpd_server *srv = &khttpd_server;

	khttpd_listener_stop(srv);
	khttpd_sweeper_stop(srv);
	khttpd_conns_close_all(srv);
	khttpd_stats_exit();
	destroy_workqueue(srv->wq);
	khttpd_conns_exit(srv);
	khttpd_cache_exit(&srv->cache);
	path_put(&srv->root);
	khttpd_creds_exit(srv);
	pr_info("stopped\n");
}

module_init(khttpd_init);
module_exit(khttpd_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("HTTP/1.1 static-file server in the kernel");
MODULE_AUTHOR("khttpd developers");
/* Kept equal to PACKAGE_VERSION in dkms.conf (tests/host check it). */
MODULE_VERSION("0.3.0");
