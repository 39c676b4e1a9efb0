// SPDX-License-Identifier: GPL-2.0
/*
 * kecho's module parameters, read once at load. A value that cannot work
 * fails insmod with one dmesg line saying which parameter and why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "kecho.h"

static unsigned int port = 12345;
module_param(port, uint, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on, 1-65535 (default 12345)");

static char *bind_addr = "";
module_param_named(bind, bind_addr, charp, 0444);
MODULE_PARM_DESC(bind, "address to listen on, an IPv4 or IPv6 literal (default: every address, IPv6 and IPv4)");

static unsigned int backlog = 1024;
module_param(backlog, uint, 0444);
MODULE_PARM_DESC(backlog, "listen() backlog, 1-65535 (default 1024; capped by net.core.somaxconn)");

static unsigned int timeout = 60;
module_param(timeout, uint, 0444);
MODULE_PARM_DESC(timeout, "seconds a connection may stay silent, or stop reading its echo, 1-3600 (default 60)");

static unsigned int max_conns = 10000;
module_param(max_conns, uint, 0444);
MODULE_PARM_DESC(max_conns, "connections served at once; more are closed on accept, 1-1000000 (default 10000)");

int kecho_config_load(struct kecho_server *srv)
{
	struct kengine_config *cfg = &srv->eng.cfg;
	int err;

	err = kengine_config_range("port", port, 1, 65535) ?:
	      kengine_config_range("backlog", backlog, 1, 65535) ?:
	      kengine_config_range("timeout", timeout, 1, 3600) ?:
	      kengine_config_range("max_conns", max_conns, 1, 1000000);
	if (err)
		return err;
	err = kengine_config_addr(cfg, bind_addr, port);
	if (err)
		return err;
	cfg->port = port;
	cfg->backlog = backlog;
	cfg->timeout_secs = timeout;
	cfg->max_conns = max_conns;
	cfg->steer_local = true;
	kecho_conns_config(cfg);
	return 0;
}
