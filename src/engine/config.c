// SPDX-License-Identifier: GPL-2.0
/*
 * The parameters every server has: where it listens, how many connections
 * it keeps and for how long, where their work runs. They are the module's
 * parameters (this file is compiled into each module; Kbuild gives each
 * its KENGINE_DEFAULT_PORT and KENGINE_DEFAULT_DEFER_ACCEPT) and are read
 * once, at load. A value that cannot work fails insmod with one dmesg line
 * saying which parameter and why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/inet.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "compat.h"
#include "engine.h"

static unsigned int port = KENGINE_DEFAULT_PORT;
module_param(port, uint, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on, 1-65535 (default "
		 __stringify(KENGINE_DEFAULT_PORT) ")");

static char *bind_addr = "";
module_param_named(bind, bind_addr, charp, 0444);
MODULE_PARM_DESC(bind, "address to listen on, an IPv4 or IPv6 literal such as 127.0.0.1 or ::1 (default: every address, IPv6 and IPv4)");

static unsigned int backlog = 1024;
module_param(backlog, uint, 0444);
MODULE_PARM_DESC(backlog, "listen() backlog, 1-65535 (default 1024; capped by net.core.somaxconn)");

static unsigned int timeout = 60;
module_param(timeout, uint, 0444);
MODULE_PARM_DESC(timeout, "seconds an idle or stalled connection is kept, 1-3600 (default 60)");

static unsigned int max_conns = 10000;
module_param(max_conns, uint, 0444);
MODULE_PARM_DESC(max_conns, "connections served at once; more are closed on accept, 1-1000000 (default 10000)");

static bool unbound_wq;
module_param(unbound_wq, bool, 0444);
MODULE_PARM_DESC(unbound_wq, "run connections on an unbound workqueue instead of per-CPU (default 0; for measurement)");

static bool steer = true;
module_param(steer, bool, 0444);
MODULE_PARM_DESC(steer, "run a local client's work off the CPU the client runs on, on one where no client of ours runs, unless the client waits for each answer over one connection (default 1; 0: on the CPU that received its packets; for measurement)");

/*
 * HTTP clients speak first, so khttpd defers while it is busy (its accept
 * thread then answers the request it accepts; listener.c says when);
 * kecho accepts at connect, as the course's echo server does.
 */
static unsigned int defer_accept = KENGINE_DEFAULT_DEFER_ACCEPT;
module_param(defer_accept, uint, 0444);
MODULE_PARM_DESC(defer_accept, "seconds TCP holds a new connection until its first bytes arrive (TCP_DEFER_ACCEPT) while 3 or more others are in flight, 0-600 (default "
		 __stringify(KENGINE_DEFAULT_DEFER_ACCEPT) "; 0: off)");

static unsigned int tls_port;
module_param(tls_port, uint, 0444);
MODULE_PARM_DESC(tls_port, "TCP port for HTTPS-style TLS connections, 1-65535, handshakes done by a userspace agent (khttpd-tlsd) through the kernel's handshake upcall, records by kTLS (default 0: none; Linux 6.5+ with CONFIG_NET_HANDSHAKE)");

static unsigned int tls_timeout = 10;
module_param(tls_timeout, uint, 0444);
MODULE_PARM_DESC(tls_timeout, "seconds a TLS handshake may take, waiting for the agent included, 1-600 (default 10)");

int kengine_config_range(const char *name, unsigned int val,
			 unsigned int min, unsigned int max)
{
	if (val >= min && val <= max)
		return 0;
	pr_err("%s=%u is out of range (%u-%u)\n", name, val, min, max);
	return -EINVAL;
}

/*
 * bind= as a socket address with the port filled in. Empty means every
 * address (the listener then tries one dual-stack IPv6 socket first) and
 * the address only carries the port.
 */
static int kengine_config_addr(struct kengine_config *cfg, const char *str,
			       u16 port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg->addr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->addr;
	size_t len = str ? strlen(str) : 0;
	const char *end;

	memset(&cfg->addr, 0, sizeof(cfg->addr));
	cfg->addr_any = !len;
	if (!len) {
		sin->sin_port = htons(port);
		return 0;
	}
	if (in4_pton(str, len, (u8 *)&sin->sin_addr.s_addr, -1, &end) &&
	    end == str + len) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		cfg->addr_len = sizeof(*sin);
		return 0;
	}
	if (in6_pton(str, len, sin6->sin6_addr.s6_addr, -1, &end) &&
	    end == str + len) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		cfg->addr_len = sizeof(*sin6);
		return 0;
	}
	pr_err("bind=%s is not an IPv4 or IPv6 address literal (e.g. 127.0.0.1 or ::1)\n",
	       str);
	return -EINVAL;
}

/*
 * tls_port= needs the kernel's handshake upcall; without it (6.1, or a
 * kernel built without CONFIG_NET_HANDSHAKE) insmod fails rather than
 * serve a port where every handshake would fail.
 */
static int kengine_config_tls(struct kengine_config *cfg)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->tls_addr;
	int err;

	cfg->tls_port = tls_port;
	cfg->tls_timeout_secs = tls_timeout;
	if (!tls_port)
		return 0;
	err = kengine_config_range("tls_port", tls_port, 1, 65535) ?:
	      kengine_config_range("tls_timeout", tls_timeout, 1, 600);
	if (err)
		return err;
	if (tls_port == port) {
		pr_err("tls_port=%u is also port=: give TLS a port of its own\n",
		       tls_port);
		return -EINVAL;
	}
	if (!IS_ENABLED(KHTTPD_HAVE_TLS_HANDSHAKE)) {
		pr_err("tls_port=%u: this kernel has no TLS handshake upcall (Linux 6.5+ built with CONFIG_NET_HANDSHAKE)\n",
		       tls_port);
		return -EOPNOTSUPP;
	}
	/* The same address as port=; sin_port is sin6_port's place too. */
	cfg->tls_addr = cfg->addr;
	sin->sin_port = htons(tls_port);
	return 0;
}

int kengine_config_load(struct kengine_config *cfg)
{
	int err;

	err = kengine_config_range("port", port, 1, 65535) ?:
	      kengine_config_range("backlog", backlog, 1, 65535) ?:
	      kengine_config_range("timeout", timeout, 1, 3600) ?:
	      kengine_config_range("max_conns", max_conns, 1, 1000000) ?:
	      kengine_config_range("defer_accept", defer_accept, 0, 600);
	if (err)
		return err;
	err = kengine_config_addr(cfg, bind_addr, port);
	if (err)
		return err;
	err = kengine_config_tls(cfg);
	if (err)
		return err;
	cfg->port = port;
	cfg->backlog = backlog;
	cfg->timeout_secs = timeout;
	cfg->max_conns = max_conns;
	cfg->unbound_wq = unbound_wq;
	cfg->steer_local = steer;
	cfg->defer_accept_secs = defer_accept;
	return 0;
}
