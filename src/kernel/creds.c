// SPDX-License-Identifier: GPL-2.0
/*
 * The credential every filesystem access made for a client runs under.
 *
 * Workers are kernel threads with every capability; a request must get
 * exactly what a userspace server running as user=/group= would get. So
 * the connection's work overrides its credentials (override_creds()) while
 * it serves, and the VFS itself then applies search permission on every
 * directory of the path, read permission on the file, ACLs and LSMs, and
 * files whose contents depend on the opener's capabilities (some sysfs
 * and procfs files) answer as they would to that user. This is what ksmbd
 * does around every VFS call for its users.
 *
 * Built once, at load, from insmod's own credentials: the ids replaced,
 * supplementary groups and every capability dropped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/uidgid.h>

#include "khttpd.h"

int khttpd_creds_init(struct khttpd_server *srv)
{
	struct group_info *groups;
	struct cred *cred;

	cred = prepare_creds();
	if (!cred)
		return -ENOMEM;
	groups = groups_alloc(0);
	if (!groups) {
		abort_creds(cred);
		return -ENOMEM;
	}
	set_groups(cred, groups);
	put_group_info(groups);

	cred->uid = cred->euid = cred->suid = cred->fsuid = srv->cfg.uid;
	cred->gid = cred->egid = cred->sgid = cred->fsgid = srv->cfg.gid;
	cap_clear(cred->cap_inheritable);
	cap_clear(cred->cap_permitted);
	cap_clear(cred->cap_effective);
	cap_clear(cred->cap_bset);
	cap_clear(cred->cap_ambient);
	cred->securebits = 0;
	srv->eng.cred = cred;
	return 0;
}

void khttpd_creds_exit(struct khttpd_server *srv)
{
	put_cred(srv->eng.cred);
	srv->eng.cred = NULL;
}
