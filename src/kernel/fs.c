// SPDX-License-Identifier: GPL-2.0
/*
 * The module's side of the core's file system interface (khttpd_fs_* in
 * include/khttpd/serve.h): the core decides what to answer, and asks here
 * for the facts (lookups beneath the root) and for the body it chose (a
 * file opened for splicing, a response cache entry, a directory read for
 * a listing). Everything runs as the serving credential (creds.c), so the
 * VFS checks are the ones a userspace server running as user= gets.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/stat.h>

#include "khttpd.h"

/* The core tells errors apart by Linux's numbers; so do we. */
static_assert(KHTTPD_EPERM == EPERM && KHTTPD_ENOENT == ENOENT &&
	      KHTTPD_ENOMEM == ENOMEM && KHTTPD_EACCES == EACCES &&
	      KHTTPD_EXDEV == EXDEV && KHTTPD_ENOTDIR == ENOTDIR &&
	      KHTTPD_ENAMETOOLONG == ENAMETOOLONG && KHTTPD_ELOOP == ELOOP);
static_assert(KHTTPD_PATH_MAX == PATH_MAX);

/* The core's list of pseudo file systems, checked against the kernel's. */
static_assert(SYSFS_MAGIC == 0x62656572 && PROC_SUPER_MAGIC == 0x9fa0 &&
	      DEBUGFS_MAGIC == 0x64626720 && TRACEFS_MAGIC == 0x74726163 &&
	      SECURITYFS_MAGIC == 0x73636673 &&
	      CGROUP_SUPER_MAGIC == 0x27e0eb &&
	      CGROUP2_SUPER_MAGIC == 0x63677270 &&
	      BPF_FS_MAGIC == 0xcafe4a11 && PSTOREFS_MAGIC == 0x6165676c &&
	      EFIVARFS_MAGIC == 0xde5e81e4);

int khttpd_fs_lookup(struct khttpd_fs *fs, int slot, const char *rel,
		     struct khttpd_node *node)
{
	struct path *path = &fs->path[slot];
	struct kstat *stat = &fs->stat[slot];
	int err;

	err = khttpd_vfs_lookup_stat(&fs->srv->root, rel, path, stat);
	if (err)
		return err;
	*node = (struct khttpd_node){
		.type = khttpd_node_type(stat->mode),
		/*
		 * dentry_open() makes no permission check (open(2) makes it
		 * before calling it), and a response from the cache opens
		 * nothing: the check open(2) would make is made here.
		 */
		.readable = !path_permission(path, MAY_READ),
		.fs_magic = path->mnt->mnt_sb->s_magic,
		.ino = stat->ino,
		.size = stat->size,
		.mtime_sec = stat->mtime.tv_sec,
		.mtime_nsec = stat->mtime.tv_nsec,
	};
	return 0;
}

void khttpd_fs_put(struct khttpd_fs *fs, int slot)
{
	path_put(&fs->path[slot]);
}

/* The range from the response cache, if the file fits there. */
static bool khttpd_fs_open_cached(struct khttpd_fs *fs, int slot,
				  const char *key, size_t key_len,
				  const struct khttpd_range *range)
{
	struct khttpd_cache *cache = &fs->srv->cache;
	const struct path *path = &fs->path[slot];
	const struct kstat *stat = &fs->stat[slot];
	struct khttpd_tx *tx = fs->tx;
	struct khttpd_cache_entry *e;

	if (stat->size > cache->max_file)
		return false;
	e = khttpd_cache_get(cache, key, key_len, path, stat);
	if (e) {
		khttpd_stat_inc(KHTTPD_STAT_CACHE_HITS);
	} else {
		khttpd_stat_inc(KHTTPD_STAT_CACHE_MISSES);
		e = khttpd_cache_fill(cache, key, key_len, path, stat);
		if (!e)
			return false;
	}
	tx->body = KHTTPD_BODY_CACHED;
	tx->cached.entry = e;
	tx->cached.pos = range->first;
	tx->cached.end = range->last + 1;
	if (stat->size <= PAGE_SIZE) {
		/* One page: copied out with the head in one sendmsg. */
		unsigned int off;

		tx->piece = page_address(khttpd_cache_page(e, range->first,
							    &off)) + off;
		tx->piece_len = tx->cached.end - tx->cached.pos;
		tx->piece_off = 0;
		tx->cached.pos = tx->cached.end;
	}
	return true;
}

int khttpd_fs_open(struct khttpd_fs *fs, int slot, const char *key,
		   size_t key_len, const struct khttpd_node *node,
		   const struct khttpd_range *range)
{
	struct khttpd_tx *tx = fs->tx;
	struct file *file;

	if (khttpd_fs_open_cached(fs, slot, key, key_len, range)) {
		path_put(&fs->path[slot]);
		return KHTTPD_BODY_CACHED;
	}
	file = dentry_open(&fs->path[slot], O_RDONLY | O_LARGEFILE,
			   current_cred());
	path_put(&fs->path[slot]);
	if (IS_ERR(file))
		return PTR_ERR(file);
	tx->body = KHTTPD_BODY_FILE;
	tx->file.file = file;
	tx->file.pos = range->first;
	tx->file.end = range->last + 1;
	return KHTTPD_BODY_FILE;
}

int khttpd_fs_opendir(struct khttpd_fs *fs, int slot, const char *rel)
{
	struct khttpd_fs_dir *dir;

	dir = khttpd_listing_read(fs->srv, &fs->path[slot], rel);
	path_put(&fs->path[slot]);
	if (IS_ERR(dir))
		return PTR_ERR(dir);
	fs->tx->body = KHTTPD_BODY_LISTING;
	fs->tx->listing.dir = dir;
	return 0;
}
