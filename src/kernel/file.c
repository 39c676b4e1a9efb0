// SPDX-License-Identifier: GPL-2.0
/*
 * Responses whose body is a file: validators (ETag, Last-Modified) and
 * conditional requests, byte ranges, and precompressed ".gz" variants. The
 * rules themselves are the core's (khttpd_conditional,
 * khttpd_range_evaluate); this file gathers the file's attributes, picks the
 * variant, and opens what conn.c will splice out.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/stat.h>
#include <linux/string.h>

#include "khttpd.h"

/*
 * The kernel's pseudo filesystems report sizes their files do not have (a
 * sysfs attribute says 4096 and yields 23 bytes, most procfs files say 0)
 * and generate contents on each read: a Content-Length taken from them
 * would be a lie. Their files are not served (403).
 */
static bool khttpd_file_size_is_real(const struct path *path)
{
	switch (path->mnt->mnt_sb->s_magic) {
	case SYSFS_MAGIC:
	case PROC_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case BPF_FS_MAGIC:
	case PSTOREFS_MAGIC:
	case EFIVARFS_MAGIC:
		return false;
	default:
		return true;
	}
}

/*
 * Only regular files (FIFOs and devices are never opened), and only those
 * the serving credential may read. The check is the VFS's own, the one
 * open(2) makes (mode bits, ACLs, LSMs); it has to be made here because
 * dentry_open() makes none, and a response from the cache opens nothing.
 */
static bool khttpd_file_servable(const struct path *path,
				 const struct kstat *stat)
{
	return S_ISREG(stat->mode) && khttpd_file_size_is_real(path) &&
	       !path_permission(path, MAY_READ);
}

/*
 * If "<rel>.gz" exists beside rel and is servable, make it the file to
 * send: *path and *stat are swapped for it, and rel gets the suffix (it
 * has room for it).
 */
static bool khttpd_file_gzip_variant(struct khttpd_server *srv, char *rel,
				     size_t len, struct path *path,
				     struct kstat *stat)
{
	struct path gz_path;
	struct kstat gz_stat;
	int err;

	strcpy(rel + len, ".gz");
	err = khttpd_vfs_lookup_stat(&srv->root, rel, &gz_path, &gz_stat);
	if (!err && !khttpd_file_servable(&gz_path, &gz_stat)) {
		path_put(&gz_path);
		err = -EACCES;
	}
	if (err) {
		rel[len] = '\0';
		return false;
	}
	path_put(path);
	*path = gz_path;
	*stat = gz_stat;
	return true;
}

/* Stage range of a small file from the response cache, if it fits there. */
static bool khttpd_file_stage_cached(struct khttpd_server *srv,
				     const char *key, size_t len,
				     const struct path *path,
				     const struct kstat *stat,
				     const struct khttpd_range *range,
				     struct khttpd_tx *tx)
{
	struct khttpd_cache_entry *e;

	if (stat->size > srv->cache.max_file)
		return false;
	e = khttpd_cache_get(&srv->cache, key, len, path, stat);
	if (e) {
		khttpd_stat_inc(KHTTPD_STAT_CACHE_HITS);
	} else {
		khttpd_stat_inc(KHTTPD_STAT_CACHE_MISSES);
		e = khttpd_cache_fill(&srv->cache, key, len, path, stat);
		if (!e)
			return false;
	}
	tx->cached = e;
	if (stat->size <= PAGE_SIZE) {
		/* One page: copied out with the head in one sendmsg. */
		unsigned int off;

		tx->piece = page_address(khttpd_cache_page(e, range->first,
							    &off)) + off;
		tx->piece_len = range->last - range->first + 1;
		tx->piece_off = 0;
	} else {
		tx->pos = range->first;
		tx->end = range->last + 1;
	}
	return true;
}

/* 412 and 416 carry an error page, not the file. */
static void khttpd_file_error(int status, const struct khttpd_request *req,
			      u64 size, struct khttpd_tx *tx)
{
	struct khttpd_response resp;

	khttpd_http_response_init(&resp, status, req);
	if (status == 416) {
		resp.content_range = 1;
		resp.complete_length = size;
	}
	khttpd_http_stage_error(&resp, req, tx);
}

/* Takes over the reference on *path. rel (len bytes) names the file. */
void khttpd_file_respond(struct khttpd_server *srv,
			 const struct khttpd_request *req, struct path *path,
			 struct kstat *stat, char *rel, size_t len,
			 struct khttpd_tx *tx)
{
	char etag[KHTTPD_ETAG_MAX];
	struct khttpd_response resp;
	struct khttpd_file_meta meta;
	struct khttpd_range range;
	struct file *file;
	int status;

	if (!khttpd_file_servable(path, stat)) {
		path_put(path);
		khttpd_http_error(403, req, tx);
		return;
	}

	khttpd_http_response_init(&resp, 200, req);
	/* The type is the original's, also when the .gz variant is sent. */
	resp.content_type = khttpd_mime_type(rel, len);
	if (req->accept_gzip &&
	    khttpd_file_gzip_variant(srv, rel, len, path, stat)) {
		resp.content_encoding = (struct khttpd_str){ "gzip", 4 };
		resp.vary_accept_encoding = 1;
		len += 3;
	}

	meta = (struct khttpd_file_meta){
		.ino = stat->ino,
		.size = stat->size,
		.mtime_sec = stat->mtime.tv_sec,
		.mtime_nsec = stat->mtime.tv_nsec,
	};
	resp.etag.ptr = etag;
	resp.etag.len = khttpd_etag_format(&meta, etag);
	resp.last_modified = stat->mtime.tv_sec;

	status = khttpd_conditional(req, resp.etag, resp.last_modified);
	if (status == 304) {
		path_put(path);
		resp.status = 304;
		khttpd_http_stage_head(&resp, tx);
		return;
	}
	if (status != 200) {
		path_put(path);
		khttpd_file_error(status, req, stat->size, tx);
		return;
	}

	resp.accept_ranges = 1;
	resp.has_body_length = 1;
	status = khttpd_range_evaluate(req, stat->size, resp.etag,
				       resp.last_modified, &range);
	if (status == 416) {
		path_put(path);
		khttpd_file_error(416, req, stat->size, tx);
		return;
	}
	if (status == 206) {
		resp.status = 206;
		resp.content_range = 1;
		resp.complete_length = stat->size;
	} else {
		range = (struct khttpd_range){ 0, stat->size - 1 };
	}
	resp.range = range;
	resp.content_length = stat->size ? range.last - range.first + 1 : 0;

	if (req->method == KHTTPD_METHOD_HEAD || !resp.content_length) {
		path_put(path);
		khttpd_http_stage_head(&resp, tx);
		return;
	}

	/* rel now names the file actually sent: the cache key. */
	if (khttpd_file_stage_cached(srv, rel, len, path, stat, &range, tx)) {
		path_put(path);
		khttpd_http_stage_head(&resp, tx);
		return;
	}

	file = dentry_open(path, O_RDONLY | O_LARGEFILE, current_cred());
	path_put(path);
	if (IS_ERR(file)) {
		khttpd_http_error(khttpd_http_errno_status(PTR_ERR(file)), req,
				  tx);
		return;
	}
	khttpd_http_stage_head(&resp, tx);
	tx->file = file;
	tx->pos = range.first;
	tx->end = range.last + 1;
}
