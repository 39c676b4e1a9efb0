// SPDX-License-Identifier: GPL-2.0
/*
 * From a parsed request to a staged response (struct khttpd_tx): method
 * dispatch, what the path names (file, directory, nothing), redirects and
 * error responses. Protocol decisions (parsing, path normalisation, header
 * formatting) belong to the C++ core; file.c and listing.c build the
 * responses that have a body.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/stat.h>
#include <linux/string.h>

#include "khttpd.h"

#define KHTTPD_ALLOW "GET, HEAD, OPTIONS"
#define KHTTPD_INDEX "index.html"

static struct khttpd_str khttpd_cstr(const char *s)
{
	return (struct khttpd_str){ .ptr = s, .len = strlen(s) };
}

void khttpd_http_response_init(struct khttpd_response *resp, int status,
			       const struct khttpd_request *req)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = status;
	resp->keep_alive = req ? req->keep_alive : 0;
	resp->version_minor = req ? req->version_minor : 1;
	resp->last_modified = -1;
}

/* The Date of the response about to be written into tx->head. */
static void khttpd_http_date(struct khttpd_response *resp,
			     struct khttpd_tx *tx)
{
	khttpd_date_now(tx->date);
	resp->date_str = tx->date;
}

/* Record the status of the response staged in tx. */
static void khttpd_http_count(const struct khttpd_response *resp,
			      struct khttpd_tx *tx)
{
	tx->status = resp->status;
	if (resp->status >= 200 && resp->status < 600)
		khttpd_stat_inc(KHTTPD_STAT_STATUS_2XX +
				resp->status / 100 - 2);
}

/* Heads without a generated body; they always fit in tx->head. */
void khttpd_http_stage_head(struct khttpd_response *resp,
			    struct khttpd_tx *tx)
{
	long n;

	khttpd_http_date(resp, tx);
	n = khttpd_response_head(tx->head, sizeof(tx->head), resp);
	khttpd_http_count(resp, tx);

	if (WARN_ON_ONCE(n < 0))
		n = 0;
	tx->head_len = n;
	tx->head_off = 0;
	tx->close_after = !resp->keep_alive || !n;
}

void khttpd_http_stage_error(struct khttpd_response *resp,
			     const struct khttpd_request *req,
			     struct khttpd_tx *tx)
{
	bool head_only = req && req->method == KHTTPD_METHOD_HEAD;
	long n;

	if (resp->status == 405 || resp->status == 501)
		resp->allow = khttpd_cstr(KHTTPD_ALLOW);
	khttpd_http_date(resp, tx);
	n = khttpd_response_error(tx->head, sizeof(tx->head), resp, head_only);
	if (n < 0) {
		/* Only a huge Location can overflow; give up on it. */
		khttpd_http_response_init(resp, 500, NULL);
		khttpd_http_date(resp, tx);
		n = khttpd_response_error(tx->head, sizeof(tx->head), resp,
					  head_only);
	}
	khttpd_http_count(resp, tx);
	tx->head_len = n;
	tx->head_off = 0;
	/* After a malformed request the client cannot be trusted to resync. */
	tx->close_after = !resp->keep_alive || resp->status == 400;
}

void khttpd_http_error(int status, const struct khttpd_request *req,
		       struct khttpd_tx *tx)
{
	struct khttpd_response resp;

	khttpd_http_response_init(&resp, status, req);
	khttpd_http_stage_error(&resp, req, tx);
}

int khttpd_http_errno_status(int err)
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

/* 301 to the same target with a '/' after the path, query kept. */
static void khttpd_http_redirect_dir(const struct khttpd_request *req,
				     char *buf, size_t cap,
				     struct khttpd_tx *tx)
{
	struct khttpd_response resp;
	size_t len = req->path.len;

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
	khttpd_http_response_init(&resp, 301, req);
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

/*
 * A directory asked for with its trailing slash: its index.html, else a
 * listing. rel (with room for "/index.html") names the directory, dir is
 * it looked up; the reference on dir is consumed.
 */
static void khttpd_http_directory(struct khttpd_server *srv,
				  const struct khttpd_request *req, char *rel,
				  size_t len, struct path *dir,
				  struct khttpd_tx *tx)
{
	struct path path;
	struct kstat stat;
	int err;

	strcpy(rel + len, len ? "/" KHTTPD_INDEX : KHTTPD_INDEX);
	err = khttpd_vfs_lookup_stat(&srv->root, rel, &path, &stat);
	if (err == -ENOENT && srv->cfg.listing) {
		rel[len] = '\0';
		khttpd_listing_respond(srv, req, rel, dir, tx);
		path_put(dir);
		return;
	}
	path_put(dir);
	if (err == -ENOENT) {
		khttpd_http_error(403, req, tx);
		return;
	}
	if (err) {
		khttpd_http_error(khttpd_http_errno_status(err), req, tx);
		return;
	}
	khttpd_file_respond(srv, req, &path, &stat, rel, strlen(rel), tx);
}

static noinline void khttpd_http_get(struct khttpd_server *srv,
				     const struct khttpd_request *req,
				     char *rel, struct khttpd_tx *tx)
{
	struct path path;
	struct kstat stat;
	int dir_slash;
	long len;
	int err;

	/* Room for the suffixes file.c and the index lookup append. */
	len = khttpd_path_normalize(req->path.ptr, req->path.len, rel,
				    PATH_MAX - sizeof("/" KHTTPD_INDEX ".gz"),
				    &dir_slash);
	if (len < 0) {
		khttpd_http_error(-len, req, tx);
		return;
	}
	rel[len] = '\0';

	err = khttpd_vfs_lookup_stat(&srv->root, rel, &path, &stat);
	if (err) {
		khttpd_http_error(khttpd_http_errno_status(err), req, tx);
		return;
	}

	if (S_ISDIR(stat.mode)) {
		if (dir_slash) {
			khttpd_http_directory(srv, req, rel, len, &path, tx);
			return;
		}
		path_put(&path);
		khttpd_http_redirect_dir(req, rel, PATH_MAX, tx);
		return;
	}
	if (dir_slash) {
		/* "/file.txt/" names a directory that does not exist. */
		path_put(&path);
		khttpd_http_error(404, req, tx);
		return;
	}
	khttpd_file_respond(srv, req, &path, &stat, rel, len, tx);
}

void khttpd_http_handle(struct khttpd_server *srv,
			const struct khttpd_request *req, struct khttpd_tx *tx)
{
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

	khttpd_http_get(srv, req, tx->path, tx);
}
