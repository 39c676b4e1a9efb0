// SPDX-License-Identifier: GPL-2.0
/*
 * From a parsed request to a staged response (struct khttpd_tx). Protocol
 * decisions (parsing, path normalisation, header formatting, MIME types)
 * belong to the C++ core; this file only asks the VFS what the path names
 * and opens the file that conn.c will splice out.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/stat.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "khttpd.h"

#define KHTTPD_ALLOW "GET, HEAD, OPTIONS"
#define KHTTPD_INDEX "index.html"

static struct khttpd_str khttpd_cstr(const char *s)
{
	return (struct khttpd_str){ .ptr = s, .len = strlen(s) };
}

static void khttpd_http_response_init(struct khttpd_response *resp,
				      int status,
				      const struct khttpd_request *req)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = status;
	resp->keep_alive = req ? req->keep_alive : 0;
	resp->version_minor = req ? req->version_minor : 1;
	resp->date = ktime_get_real_seconds();
	resp->last_modified = -1;
}

static void khttpd_http_stage_error(struct khttpd_response *resp,
				    const struct khttpd_request *req,
				    struct khttpd_tx *tx)
{
	bool head_only = req && req->method == KHTTPD_METHOD_HEAD;
	long n;

	if (resp->status == 405 || resp->status == 501)
		resp->allow = khttpd_cstr(KHTTPD_ALLOW);
	n = khttpd_response_error(tx->head, sizeof(tx->head), resp, head_only);
	if (n < 0) {
		/* Only a huge Location can overflow; give up on it. */
		khttpd_http_response_init(resp, 500, NULL);
		n = khttpd_response_error(tx->head, sizeof(tx->head), resp,
					  head_only);
	}
	tx->head_len = n;
	tx->head_off = 0;
	/* After a malformed request the client cannot be trusted to resync. */
	tx->close_after = !resp->keep_alive || resp->status == 400;
}

/* Heads without a generated body; they always fit in tx->head. */
static void khttpd_http_stage_head(const struct khttpd_response *resp,
				   struct khttpd_tx *tx)
{
	long n = khttpd_response_head(tx->head, sizeof(tx->head), resp);

	if (WARN_ON_ONCE(n < 0))
		n = 0;
	tx->head_len = n;
	tx->head_off = 0;
	tx->close_after = !resp->keep_alive || !n;
}

void khttpd_http_error(int status, const struct khttpd_request *req,
		       struct khttpd_tx *tx)
{
	struct khttpd_response resp;

	khttpd_http_response_init(&resp, status, req);
	khttpd_http_stage_error(&resp, req, tx);
}

static int khttpd_http_errno_status(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -EXDEV:	/* would leave the root: do not say it exists */
	case -ELOOP:
		return 404;
	case -EACCES:
	case -EPERM:
		return 403;
	case -ENAMETOOLONG:
		return 414;
	default:
		pr_warn_ratelimited("lookup failed: %d\n", err);
		return 500;
	}
}

/*
 * Resolve rel (NUL-terminated, with room for "/index.html") to an open
 * regular file. Returns 0 and fills *filep / *stat, or an HTTP status; 301
 * means rel is a directory asked for without its trailing slash.
 */
static noinline int khttpd_http_open(struct khttpd_server *srv, char *rel,
				     size_t len, bool dir_slash,
				     struct file **filep, struct kstat *stat)
{
	struct path path;
	struct file *file;
	int err;

	err = khttpd_vfs_lookup(&srv->root, rel, &path);
	if (err)
		return khttpd_http_errno_status(err);
	err = vfs_getattr(&path, stat, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
	if (err)
		goto err_put;

	if (S_ISDIR(stat->mode)) {
		path_put(&path);
		if (!dir_slash)
			return 301;
		strcpy(rel + len, len ? "/" KHTTPD_INDEX : KHTTPD_INDEX);
		err = khttpd_vfs_lookup(&srv->root, rel, &path);
		if (err == -ENOENT)
			return 403;	/* no index and no listings (yet) */
		if (err)
			return khttpd_http_errno_status(err);
		err = vfs_getattr(&path, stat, STATX_BASIC_STATS,
				  AT_STATX_SYNC_AS_STAT);
		if (err)
			goto err_put;
	} else if (dir_slash) {
		/* "/file.txt/" names a directory that does not exist. */
		path_put(&path);
		return 404;
	}

	/*
	 * Workers run with full privileges: serve only what any local user
	 * could read, as a web server under its own user id would.
	 */
	if (!S_ISREG(stat->mode) || !(stat->mode & S_IROTH)) {
		path_put(&path);
		return 403;
	}
	file = dentry_open(&path, O_RDONLY | O_LARGEFILE, current_cred());
	path_put(&path);
	if (IS_ERR(file))
		return khttpd_http_errno_status(PTR_ERR(file));
	*filep = file;
	return 0;

err_put:
	path_put(&path);
	return khttpd_http_errno_status(err);
}

/* 301 to the same target with a '/' after the path, query kept. */
static void khttpd_http_redirect_dir(const struct khttpd_request *req,
				     char *buf, size_t cap,
				     struct khttpd_tx *tx)
{
	struct khttpd_response resp;
	size_t len = req->path.len;

	khttpd_http_response_init(&resp, 301, req);
	if (len + 2 + req->query.len > cap) {
		khttpd_http_error(414, req, tx);
		return;
	}
	memcpy(buf, req->path.ptr, len);
	buf[len++] = '/';
	if (req->query.len) {
		buf[len++] = '?';
		memcpy(buf + len, req->query.ptr, req->query.len);
		len += req->query.len;
	}
	resp.location = (struct khttpd_str){ .ptr = buf, .len = len };
	khttpd_http_stage_error(&resp, req, tx);
}

static void khttpd_http_options(const struct khttpd_request *req,
				struct khttpd_tx *tx)
{
	struct khttpd_response resp;

	khttpd_http_response_init(&resp, 200, req);
	resp.allow = khttpd_cstr(KHTTPD_ALLOW);
	resp.has_body_length = 1;
	khttpd_http_stage_head(&resp, tx);
}

static noinline void khttpd_http_get(struct khttpd_server *srv,
				     const struct khttpd_request *req,
				     char *rel, struct khttpd_tx *tx)
{
	struct khttpd_response resp;
	struct file *file = NULL;
	struct kstat stat;
	int dir_slash;
	long len;
	int status;

	len = khttpd_path_normalize(req->path.ptr, req->path.len, rel,
				    PATH_MAX - sizeof("/" KHTTPD_INDEX),
				    &dir_slash);
	if (len < 0) {
		khttpd_http_error(-len, req, tx);
		return;
	}
	rel[len] = '\0';

	status = khttpd_http_open(srv, rel, len, dir_slash, &file, &stat);
	if (status == 301) {
		khttpd_http_redirect_dir(req, rel, PATH_MAX, tx);
		return;
	}
	if (status) {
		khttpd_http_error(status, req, tx);
		return;
	}

	khttpd_http_response_init(&resp, 200, req);
	resp.has_body_length = 1;
	resp.content_length = stat.size;
	resp.content_type = khttpd_mime_type(rel, strlen(rel));
	resp.last_modified = stat.mtime.tv_sec;
	khttpd_http_stage_head(&resp, tx);
	if (req->method == KHTTPD_METHOD_HEAD || !stat.size) {
		fput(file);
		return;
	}
	tx->file = file;
	tx->pos = 0;
	tx->end = stat.size;
}

void khttpd_http_handle(struct khttpd_server *srv,
			const struct khttpd_request *req, struct khttpd_tx *tx)
{
	char *rel;

	/*
	 * A chunked body cannot be skipped without decoding it, and must not
	 * be read as the next request: refuse it and close.
	 */
	if (req->chunked) {
		khttpd_http_error(501, req, tx);
		tx->close_after = true;
		return;
	}

	switch (req->method) {
	case KHTTPD_METHOD_GET:
	case KHTTPD_METHOD_HEAD:
		break;
	case KHTTPD_METHOD_OPTIONS:
		khttpd_http_options(req, tx);
		return;
	case KHTTPD_METHOD_UNKNOWN:
		khttpd_http_error(501, req, tx);
		return;
	default:
		khttpd_http_error(405, req, tx);
		return;
	}

	rel = __getname();
	if (!rel) {
		khttpd_http_error(503, req, tx);
		tx->close_after = true;
		return;
	}
	khttpd_http_get(srv, req, rel, tx);
	__putname(rel);
}
