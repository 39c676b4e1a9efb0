// SPDX-License-Identifier: GPL-2.0
/*
 * khttpd: an HTTP/1.1 static-file server inside the kernel.
 *
 * This file only orders start-up and shutdown; exit is init in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "khttpd.h"

static struct khttpd_server khttpd_server;

static int __init khttpd_init(void)
{
	struct khttpd_server *srv = &khttpd_server;
	int err;

	err = khttpd_config_load(srv);
	if (err)
		return err;
	err = khttpd_creds_init(srv);
	if (err)
		return err;
	err = khttpd_vfs_root_open(srv->cfg.root, srv->eng.cred, &srv->root);
	if (err)
		goto err_creds;
	err = khttpd_cache_init(&srv->cache, srv->cfg.cache_bytes,
				srv->cfg.cache_file_max);
	if (err)
		goto err_root;
	err = khttpd_conns_init(srv);
	if (err)
		goto err_cache;
	/* Last: from here on, clients are served. */
	err = kengine_start(&srv->eng);
	if (err)
		goto err_conns;

	pr_info("serving %s on %pISpc%s\n", srv->cfg.root,
		&srv->eng.listener.addr,
		srv->eng.cfg.addr_any &&
		srv->eng.listener.addr.ss_family == AF_INET6 ?
		" (IPv6 and IPv4)" : "");
	return 0;

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

	kengine_stop(&srv->eng);
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
