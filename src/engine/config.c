// SPDX-License-Identifier: GPL-2.0
/*
 * Checks of the parameters every server has. A value that cannot work
 * fails insmod with one dmesg line saying which parameter and why.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/inet.h>
#include <linux/in.h>
#include <linux/in6.h>

#include "engine.h"

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
 * address; the listener then tries one dual-stack IPv6 socket first.
 */
int kengine_config_addr(struct kengine_config *cfg, const char *str, u16 port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg->addr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->addr;
	size_t len = str ? strlen(str) : 0;
	const char *end;

	memset(&cfg->addr, 0, sizeof(cfg->addr));
	cfg->addr_any = !len;
	if (!len)
		return 0;
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
