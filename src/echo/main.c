// SPDX-License-Identifier: GPL-2.0
/*
 * kecho: an echo server inside the kernel, on khttpd's engine.
 *
 * This file only orders start-up and shutdown; exit is init in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "kecho.h"

static struct kecho_server kecho_server;

static int __init kecho_init(void)
{
	struct kecho_server *srv = &kecho_server;
	int err;

	err = kengine_config_load(&srv->eng.cfg);
	if (err)
		return err;
	kecho_conns_config(&srv->eng.cfg);
	err = kengine_start(&srv->eng);
	if (err)
		return err;

	pr_info("echoing on %pISpc%s\n", &srv->eng.listener.addr,
		srv->eng.cfg.addr_any &&
		srv->eng.listener.addr.ss_family == AF_INET6 ?
		" (IPv6 and IPv4)" : "");
	return 0;
}

static void __exit kecho_exit(void)
{
	struct kecho_server *srv = &kecho_server;

	kengine_stop(&srv->eng);
	pr_info("stopped\n");
}

module_init(kecho_init);
module_exit(kecho_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TCP echo server in the kernel, on khttpd's engine");
MODULE_AUTHOR("khttpd developers");
MODULE_VERSION("0.3.0");
