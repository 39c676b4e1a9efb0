// SPDX-License-Identifier: GPL-2.0
/*
 * Path resolution confined to the document root. Every function here runs
 * under the serving credential (creds.c), so the walk needs search
 * permission on each directory, as it would for a userspace server.
 *
 * A client path never reaches filp_open(): it has already been decoded and
 * normalised by the core (no ".." left), and is then walked from the root
 * with LOOKUP_BENEATH, which makes the walk fail with -EXDEV on anything that
 * would still leave the root, i.e. absolute symlinks and symlinks climbing
 * out with "..". This is how ksmbd confines SMB paths to a share. Paths
 * with nothing for that confinement to judge take a cheaper lookup first
 * (khttpd_vfs_lookup_plain()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/stat.h>

#include "compat.h"
#include "khttpd.h"

/*
 * The root is resolved, and must be searchable, as the serving credential:
 * a root that user= cannot enter would answer 403 to everything, so it
 * fails insmod instead.
 */
int khttpd_vfs_root_open(const char *name, const struct cred *cred,
			 struct path *root)
{
	const struct cred *old;
	struct kstat stat;
	int err;

	if (*name != '/') {
		pr_err("root=%s: not an absolute path\n", name);
		return -EINVAL;
	}
	old = override_creds(cred);
	err = kern_path(name, LOOKUP_FOLLOW, root);
	if (err) {
		revert_creds(old);
		pr_err("root=%s: cannot open as user %u (error %d)\n", name,
		       from_kuid(&init_user_ns, cred->fsuid), err);
		return err;
	}
	err = vfs_getattr(root, &stat, STATX_TYPE, AT_STATX_SYNC_AS_STAT);
	if (!err && !S_ISDIR(stat.mode))
		err = -ENOTDIR;
	if (err) {
		pr_err("root=%s: not a directory\n", name);
		goto err_put;
	}
	err = path_permission(root, MAY_EXEC);
	if (err) {
		pr_err("root=%s: user %u may not search it (error %d)\n",
		       name, from_kuid(&init_user_ns, cred->fsuid), err);
		goto err_put;
	}
	revert_creds(old);
	return 0;

err_put:
	revert_creds(old);
	path_put(root);
	return err;
}

/*
 * Whether the dcache alone may look name up: an empty or over-long name,
 * "." and ".." go to the walk.
 */
static bool khttpd_vfs_plain_name(const char *name, size_t len)
{
	if (!len || len > NAME_MAX)
		return false;
	return !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

/*
 * The lookup most requests need, done without vfs_path_lookup(), which
 * copies the name into a 4 KiB struct filename: kernels that zero every
 * allocation (init_on_alloc, Debian's default) clear it on each request,
 * 10% of the server's CPU on small keep-alive requests (docs/profiling.md).
 * Here the dcache looks each name up in its directory, checking search
 * permission on the directory as the walk does. Only plain names through
 * plain directories: anything the walk's confinement has to judge, a
 * symlink, a mount point or automount, ".", ".." or an empty name, returns
 * -EAGAIN, and the walk does the whole path again. So a path this resolves
 * never leaves root: each step goes one name down into a directory, on
 * root's mount.
 */
static int khttpd_vfs_lookup_plain(const struct path *root, const char *rel,
				   struct path *out)
{
	struct dentry *dir = dget(root->dentry);
	const char *name = rel;

	for (;;) {
		const char *end = strchrnul(name, '/');
		size_t len = end - name;
		struct dentry *d;

		if (!khttpd_vfs_plain_name(name, len)) {
			dput(dir);
			return -EAGAIN;
		}
		d = khttpd_compat_lookup_positive(root->mnt, dir, name, len);
		dput(dir);
		if (IS_ERR(d))
			return PTR_ERR(d);
		if (d_managed(d) || d_is_symlink(d)) {
			dput(d);
			return -EAGAIN;
		}
		if (!*end) {
			out->mnt = mntget(root->mnt);
			out->dentry = d;
			return 0;
		}
		if (!d_can_lookup(d)) {
			dput(d);
			return -ENOTDIR;
		}
		dir = d;
		name = end + 1;
	}
}

/* rel is relative to root, NUL-terminated, "" for the root itself. */
static int khttpd_vfs_lookup(const struct path *root, const char *rel,
			     struct path *out)
{
	int err;

	if (!*rel) {
		/* What the walk of "." checks: search permission on root. */
		err = path_permission(root, MAY_EXEC);
		if (err)
			return err;
		*out = *root;
		path_get(out);
		return 0;
	}
	err = khttpd_vfs_lookup_plain(root, rel, out);
	if (err != -EAGAIN)
		return err;
	return vfs_path_lookup(root->dentry, root->mnt, rel,
			       LOOKUP_FOLLOW | LOOKUP_BENEATH, out);
}

/* khttpd_vfs_lookup() and the attributes; *out is held only on success. */
int khttpd_vfs_lookup_stat(const struct path *root, const char *rel,
			   struct path *out, struct kstat *stat)
{
	int err;

	err = khttpd_vfs_lookup(root, rel, out);
	if (err)
		return err;
	err = vfs_getattr(out, stat, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
	if (err)
		path_put(out);
	return err;
}
