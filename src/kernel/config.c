// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters. They are read once, at load time, into a
 * struct khttpd_config; a value that cannot work fails insmod with one
 * dmesg line saying which parameter and why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "khttpd.h"

static unsigned int port = 8081;
module_param(port, uint, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on, 1-65535 (default 8081)");

static char *bind_addr = "";
module_param_named(bind, bind_addr, charp, 0444);
MODULE_PARM_DESC(bind, "address to serve on, an IPv4 or IPv6 literal such as 127.0.0.1 or ::1 (default: every address, IPv6 and IPv4)");

static unsigned int backlog = 1024;
module_param(backlog, uint, 0444);
MODULE_PARM_DESC(backlog, "listen() backlog, 1-65535 (default 1024; capped by net.core.somaxconn)");

static char *root = "/var/www";
module_param(root, charp, 0444);
MODULE_PARM_DESC(root, "document root, an existing directory (default /var/www)");

static unsigned int user = 65534;
module_param(user, uint, 0444);
MODULE_PARM_DESC(user, "numeric user id files are read as (default 65534, nobody)");

static unsigned int group = 65534;
module_param(group, uint, 0444);
MODULE_PARM_DESC(group, "numeric group id files are read as (default 65534, nogroup)");

static unsigned int timeout = 60;
module_param(timeout, uint, 0444);
MODULE_PARM_DESC(timeout, "seconds an idle or stalled connection is kept, 1-3600 (default 60)");

static unsigned int max_conns = 10000;
module_param(max_conns, uint, 0444);
MODULE_PARM_DESC(max_conns, "connections served at once; more are closed on accept, 1-1000000 (default 10000)");

static bool listing = true;
module_param(listing, bool, 0444);
MODULE_PARM_DESC(listing, "list directories without index.html (default 1; 0: answer 403)");

static unsigned int cache_size = 64;
module_param(cache_size, uint, 0444);
MODULE_PARM_DESC(cache_size, "response cache size in MiB, 0-65536 (default 64; 0 disables it)");

static unsigned int cache_file_max = 64;
module_param(cache_file_max, uint, 0444);
MODULE_PARM_DESC(cache_file_max, "largest file kept in the response cache, in KiB, 0-16384 (default 64)");

static bool unbound_wq;
module_param(unbound_wq, bool, 0444);
MODULE_PARM_DESC(unbound_wq, "run connections on an unbound workqueue instead of per-CPU (default 0; for measurement)");

static bool steer = true;
module_param(steer, bool, 0444);
MODULE_PARM_DESC(steer, "run a local client's work off the CPU the client runs on (default 1; 0: on the CPU that received its packets; for measurement)");

static unsigned int defer_accept;
module_param(defer_accept, uint, 0444);
MODULE_PARM_DESC(defer_accept, "seconds TCP holds a new connection until its request arrives (TCP_DEFER_ACCEPT), 0-600 (default 0: off)");

int khttpd_config_load(struct khttpd_server *srv)
{
	struct kengine_config *ecfg = &srv->eng.cfg;
	struct khttpd_config *cfg = &srv->cfg;
	int err;

	err = kengine_config_range("port", port, 1, 65535) ?:
	      kengine_config_range("backlog", backlog, 1, 65535) ?:
	      kengine_config_range("timeout", timeout, 1, 3600) ?:
	      kengine_config_range("max_conns", max_conns, 1, 1000000) ?:
	      kengine_config_range("defer_accept", defer_accept, 0, 600) ?:
	      kengine_config_range("cache_size", cache_size, 0, 65536) ?:
	      kengine_config_range("cache_file_max", cache_file_max, 0, 16384);
	if (err)
		return err;
	err = kengine_config_addr(ecfg, bind_addr, port);
	if (err)
		return err;
	/*
	 * Ids as the initial namespace numbers them (insmod runs there); the
	 * kernel cannot resolve names, so they are numbers. -1 is no id.
	 */
	cfg->uid = make_kuid(&init_user_ns, user);
	cfg->gid = make_kgid(&init_user_ns, group);
	if (!uid_valid(cfg->uid)) {
		pr_err("user=%u is not a valid user id\n", user);
		return -EINVAL;
	}
	if (!gid_valid(cfg->gid)) {
		pr_err("group=%u is not a valid group id\n", group);
		return -EINVAL;
	}
	if (!user)
		pr_warn("user=0: files are read with root's permissions (no capabilities)\n");
	if (!root || !*root) {
		pr_err("root= is empty; give the document root directory\n");
		return -EINVAL;
	}

	ecfg->port = port;
	ecfg->backlog = backlog;
	ecfg->timeout_secs = timeout;
	ecfg->max_conns = max_conns;
	ecfg->unbound_wq = unbound_wq;
	ecfg->steer_local = steer;
	ecfg->defer_accept_secs = defer_accept;
	khttpd_conns_config(ecfg);
	cfg->root = root;
	cfg->listing = listing;
	cfg->cache_bytes = (size_t)cache_size << 20;
	/*
	 * The cache is reclaimable (it has a shrinker), but pages in flight
	 * are not: keep it to a quarter of the machine's memory.
	 */
	if (cfg->cache_bytes > (totalram_pages() << PAGE_SHIFT) / 4) {
		cfg->cache_bytes = (totalram_pages() << PAGE_SHIFT) / 4;
		pr_warn("cache_size=%u MiB is over a quarter of this machine's memory; using %zu MiB\n",
			cache_size, cfg->cache_bytes >> 20);
	}
	cfg->cache_file_max = (size_t)cache_file_max << 10;
	return 0;
}
