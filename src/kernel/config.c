// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP's module parameters (the engine has those of every server: port=,
 * bind=, ... in src/engine/config.c). They are read once, at load time,
 * into a struct khttpd_config; a value that cannot work fails insmod with
 * one dmesg line saying which parameter and why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "khttpd.h"

static char *root = "/var/www";
module_param(root, charp, 0444);
MODULE_PARM_DESC(root, "document root, an existing directory (default /var/www)");

static unsigned int user = 65534;
module_param(user, uint, 0444);
MODULE_PARM_DESC(user, "numeric user id files are read as (default 65534, nobody)");

static unsigned int group = 65534;
module_param(group, uint, 0444);
MODULE_PARM_DESC(group, "numeric group id files are read as (default 65534, nogroup)");

static bool listing = true;
module_param(listing, bool, 0444);
MODULE_PARM_DESC(listing, "list directories without index.html (default 1; 0: answer 403)");

static unsigned int cache_size = 64;
module_param(cache_size, uint, 0444);
MODULE_PARM_DESC(cache_size, "response cache size in MiB, 0-65536 (default 64; 0 disables it)");

static unsigned int cache_file_max = 1024;
module_param(cache_file_max, uint, 0444);
MODULE_PARM_DESC(cache_file_max, "largest file kept in the response cache, in KiB, 0-16384 (default 1024)");

int khttpd_config_load(struct khttpd_server *srv)
{
	struct kengine_config *ecfg = &srv->eng.cfg;
	struct khttpd_config *cfg = &srv->cfg;
	int err;

	err = kengine_config_load(ecfg) ?:
	      kengine_config_range("cache_size", cache_size, 0, 65536) ?:
	      kengine_config_range("cache_file_max", cache_file_max, 0, 16384);
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
