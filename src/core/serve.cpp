// SPDX-License-Identifier: GPL-2.0
/*
 * What khttpd answers: from a parsed request to a response plan
 * (include/khttpd/serve.h). Every status and header decision lives here,
 * once, for the module and the twin alike; the file system is asked for
 * facts through the transport's khttpd_fs_* functions.
 *
 * Slots: a lookup holds its path in a transport slot until it is put,
 * opened or listed. Every path out of a function below leaves no slot
 * held, except through khttpd_fs_open()/khttpd_fs_opendir(), which
 * consume theirs.
 */
#include "khttpd/serve.h"
#include "util.h"

namespace {

constexpr char index_name[] = "index.html";
/* What the path scratch must keep free after a normalised path. */
constexpr size_t path_suffix_room = lit_len("/index.html.gz") + 1;
/* The scratch's first byte is kept for the '/' of a listing's title. */
constexpr size_t path_room = KHTTPD_PATH_MAX - 1 - path_suffix_room;

struct call {
	const khttpd_serve_env *env;
	const khttpd_request *req;
	khttpd_plan *plan;
	/* Decided before the answer, so that its head says so. */
	bool close;
};

void response_init(const call &c, khttpd_response *resp, int status)
{
	*resp = khttpd_response{};
	resp->status = status;
	resp->keep_alive = c.req && !c.close ? c.req->keep_alive : 0;
	resp->version_minor = c.req ? c.req->version_minor : 1;
	resp->date = c.env->date;
	resp->last_modified = -1;
}

/* A head without a generated body; it always fits. */
void plan_head(const call &c, const khttpd_response *resp)
{
	long n = khttpd_response_head(c.env->head, KHTTPD_HEAD_SIZE, resp);

	c.plan->status = resp->status;
	c.plan->head_len = n > 0 ? static_cast<size_t>(n) : 0;
	c.plan->close_after = !resp->keep_alive || n <= 0;
}

void plan_error_response(const call &c, khttpd_response *resp)
{
	const int head_only = c.req && c.req->method == KHTTPD_METHOD_HEAD;
	/*
	 * After a malformed request the client cannot be trusted to resync;
	 * out of memory, a new connection is the cheapest thing to refuse.
	 * Either way the head says so.
	 */
	if (resp->status == 400 || resp->status == 503)
		resp->keep_alive = 0;
	long n = khttpd_response_error(c.env->head, KHTTPD_HEAD_SIZE, resp,
				       head_only);

	if (n < 0) {
		/*
		 * Only a Location can overflow the head, and a Location is
		 * the request's own target and a little more: the target is
		 * longer than this server will redirect, which is a 414 (as
		 * redirect_dir answers past KHTTPD_PATH_MAX), not a fault.
		 */
		response_init(c, resp, 414);
		n = khttpd_response_error(c.env->head, KHTTPD_HEAD_SIZE, resp,
					  head_only);
	}
	c.plan->status = resp->status;
	c.plan->head_len = n > 0 ? static_cast<size_t>(n) : 0;
	c.plan->body = KHTTPD_BODY_NONE;
	c.plan->close_after = !resp->keep_alive || n <= 0;
}

void plan_error(const call &c, int status)
{
	khttpd_response resp;

	response_init(c, &resp, status);
	plan_error_response(c, &resp);
}

/* The status for a failed file system call; a surprise is a 500. */
int errno_status(const call &c, int err)
{
	switch (-err) {
	case KHTTPD_ENOENT:
	case KHTTPD_ENOTDIR:
	case KHTTPD_EXDEV:	/* would leave the root: do not say it exists */
	case KHTTPD_ELOOP:
		return 404;
	case KHTTPD_EACCES:
	case KHTTPD_EPERM:
		return 403;
	case KHTTPD_ENAMETOOLONG:
		return 414;
	case KHTTPD_ENOMEM:
		return 503;
	default:
		c.plan->fs_error = err;
		return 500;
	}
}

/*
 * The kernel's pseudo file systems report sizes their files do not have (a
 * sysfs attribute says 4096 and yields 23 bytes, most procfs files say 0)
 * and generate contents on each read: a Content-Length taken from them
 * would be a lie. (The numbers are include/uapi/linux/magic.h's.)
 */
constexpr bool size_is_real(uint64_t fs_magic)
{
	switch (fs_magic) {
	case 0x62656572:	/* SYSFS_MAGIC */
	case 0x9fa0:		/* PROC_SUPER_MAGIC */
	case 0x64626720:	/* DEBUGFS_MAGIC */
	case 0x74726163:	/* TRACEFS_MAGIC */
	case 0x73636673:	/* SECURITYFS_MAGIC */
	case 0x27e0eb:		/* CGROUP_SUPER_MAGIC */
	case 0x63677270:	/* CGROUP2_SUPER_MAGIC */
	case 0xcafe4a11:	/* BPF_FS_MAGIC */
	case 0x6165676c:	/* PSTOREFS_MAGIC */
	case 0xde5e81e4:	/* EFIVARFS_MAGIC */
		return false;
	default:
		return true;
	}
}

bool servable(const khttpd_node &node)
{
	return node.type == KHTTPD_NODE_FILE && node.readable &&
	       size_is_real(node.fs_magic);
}

/* 412 and 416 carry an error page, not the file. */
void plan_file_error(const call &c, int status, uint64_t size)
{
	khttpd_response resp;

	response_init(c, &resp, status);
	if (status == 416) {
		resp.content_range = 1;
		resp.complete_length = size;
	}
	plan_error_response(c, &resp);
}

/*
 * If "<rel>.gz" exists beside rel and is servable, it becomes the file to
 * send: its slot is returned and *node describes it, and rel keeps the
 * suffix (it has room for it). Otherwise slot, unchanged.
 */
int gzip_variant(const call &c, int slot, char *rel, size_t len,
		 khttpd_node *node)
{
	const int gz_slot = !slot;
	khttpd_node gz;

	copy_bytes(rel + len, ".gz", 4);
	int err = khttpd_fs_lookup(c.env->fs, gz_slot, rel, &gz);
	if (!err && servable(gz)) {
		khttpd_fs_put(c.env->fs, slot);
		*node = gz;
		return gz_slot;
	}
	if (!err)
		khttpd_fs_put(c.env->fs, gz_slot);
	rel[len] = '\0';
	return slot;
}

/* The file in slot (node), named rel (len bytes, room for ".gz"). */
void serve_file(const call &c, int slot, khttpd_node node, char *rel,
		size_t len)
{
	khttpd_fs *fs = c.env->fs;
	const khttpd_request *req = c.req;
	char etag[KHTTPD_ETAG_MAX];
	khttpd_response resp;
	khttpd_range range;

	if (!servable(node)) {
		khttpd_fs_put(fs, slot);
		plan_error(c, 403);
		return;
	}

	response_init(c, &resp, 200);
	/* The type is the original's, also when the .gz variant is sent. */
	resp.content_type = khttpd_mime_type(rel, len);
	if (req->accept_gzip) {
		int gz_slot = gzip_variant(c, slot, rel, len, &node);
		if (gz_slot != slot) {
			slot = gz_slot;
			resp.content_encoding = lit_str("gzip");
			resp.vary_accept_encoding = 1;
			len += lit_len(".gz");
		}
	}

	const khttpd_file_meta meta = {
		.ino = node.ino,
		.size = node.size,
		.mtime_sec = node.mtime_sec,
		.mtime_nsec = node.mtime_nsec,
	};
	resp.etag = make_str(etag, khttpd_etag_format(&meta, etag));
	resp.last_modified = node.mtime_sec < c.env->now ? node.mtime_sec
							  : c.env->now;

	int status = khttpd_conditional(req, resp.etag, resp.last_modified);
	if (status == 304) {
		khttpd_fs_put(fs, slot);
		resp.status = 304;
		plan_head(c, &resp);
		return;
	}
	if (status != 200) {
		khttpd_fs_put(fs, slot);
		plan_file_error(c, status, node.size);
		return;
	}

	resp.accept_ranges = 1;
	resp.has_body_length = 1;
	/*
	 * An If-Range date is only a validator when strong (RFC 9110 13.1.5):
	 * while the second of the last change is not over, the file can
	 * change again with the same Last-Modified (8.8.2.2), so the date
	 * then matches nothing and the whole file goes.
	 */
	const int64_t strong_date = resp.last_modified < c.env->now
					    ? resp.last_modified
					    : -1;
	status = khttpd_range_evaluate(req, node.size, resp.etag, strong_date,
				       &range);
	if (status == 416) {
		khttpd_fs_put(fs, slot);
		plan_file_error(c, 416, node.size);
		return;
	}
	if (status == 206) {
		resp.status = 206;
		resp.content_range = 1;
		resp.complete_length = node.size;
	} else {
		range = khttpd_range{ 0, node.size - 1 };
	}
	resp.range = range;
	resp.content_length = node.size ? range.last - range.first + 1 : 0;

	if (req->method == KHTTPD_METHOD_HEAD || !resp.content_length) {
		khttpd_fs_put(fs, slot);
		plan_head(c, &resp);
		return;
	}

	/* rel now names the file actually sent: the cache's key. */
	const int body = khttpd_fs_open(fs, slot, rel, len, &node, &range);
	if (body < 0) {
		plan_error(c, errno_status(c, body));
		return;
	}
	plan_head(c, &resp);
	c.plan->body = body;
	c.plan->range = range;
}

/*
 * The directory in slot 0 (node), named rel (len bytes) with the path
 * scratch's first byte free before it, has no index.html: list it.
 */
void serve_listing(const call &c, const khttpd_node &node, char *rel,
		   size_t len)
{
	khttpd_response resp;

	/* Listing needs read permission, as readdir(3) does. */
	if (!node.readable) {
		khttpd_fs_put(c.env->fs, 0);
		plan_error(c, 403);
		return;
	}

	response_init(c, &resp, 200);
	resp.content_type = lit_str("text/html; charset=utf-8");
	/* HTTP/1.0 has no chunked coding: the body ends when we close. */
	if (c.req->version_minor >= 1)
		resp.chunked = 1;
	else
		resp.keep_alive = 0;

	if (c.req->method == KHTTPD_METHOD_HEAD) {
		khttpd_fs_put(c.env->fs, 0);
		plan_head(c, &resp);
		return;
	}

	int err = khttpd_fs_opendir(c.env->fs, 0, rel);
	if (err) {
		plan_error(c, errno_status(c, err));
		return;
	}
	plan_head(c, &resp);
	/* The title, "/" or "/<rel>/", in place around rel. */
	char *title = rel - 1;
	title[0] = '/';
	if (len)
		rel[len] = '/';
	c.plan->body = KHTTPD_BODY_LISTING;
	c.plan->listing = khttpd_listing_writer{
		.state = 0,
		.chunked = resp.chunked,
		.title = make_str(title, len ? len + 2 : 1),
	};
}

/* A directory asked for with its trailing slash, in slot 0 (node). */
void serve_directory(const call &c, const khttpd_node &node, char *rel,
		     size_t len)
{
	khttpd_node index;

	if (len) {
		rel[len] = '/';
		copy_bytes(rel + len + 1, index_name, sizeof(index_name));
	} else {
		copy_bytes(rel, index_name, sizeof(index_name));
	}
	int err = khttpd_fs_lookup(c.env->fs, 1, rel, &index);
	if (err == -KHTTPD_ENOENT && c.env->listing) {
		rel[len] = '\0';
		serve_listing(c, node, rel, len);
		return;
	}
	khttpd_fs_put(c.env->fs, 0);
	if (err == -KHTTPD_ENOENT) {
		plan_error(c, 403);
		return;
	}
	if (err) {
		plan_error(c, errno_status(c, err));
		return;
	}
	size_t index_len = len ? len + 1 + lit_len(index_name)
			       : lit_len(index_name);
	serve_file(c, 1, index, rel, index_len);
}

/* 301 to the same target with a '/' after the path, query kept. */
void redirect_dir(const call &c)
{
	const khttpd_request *req = c.req;
	char *buf = c.env->path;
	size_t len = req->path.len;
	khttpd_response resp;

	if (len + 2 + req->query.len > KHTTPD_PATH_MAX) {
		plan_error(c, 414);
		return;
	}
	copy_bytes(buf, req->path.ptr, len);
	buf[len++] = '/';
	if (req->query.len) {
		buf[len++] = '?';
		copy_bytes(buf + len, req->query.ptr, req->query.len);
		len += req->query.len;
	}
	response_init(c, &resp, 301);
	resp.location = make_str(buf, len);
	plan_error_response(c, &resp);
}

void serve_get(const call &c)
{
	const khttpd_request *req = c.req;
	char *rel = c.env->path + 1;
	khttpd_node node;
	int dir_slash;

	long len = khttpd_path_normalize(req->path.ptr, req->path.len, rel,
					 path_room, &dir_slash);
	if (len < 0) {
		plan_error(c, static_cast<int>(-len));
		return;
	}
	rel[len] = '\0';

	int err = khttpd_fs_lookup(c.env->fs, 0, rel, &node);
	if (err) {
		plan_error(c, errno_status(c, err));
		return;
	}
	if (node.type == KHTTPD_NODE_DIR) {
		if (dir_slash) {
			serve_directory(c, node, rel, static_cast<size_t>(len));
			return;
		}
		khttpd_fs_put(c.env->fs, 0);
		redirect_dir(c);
		return;
	}
	if (dir_slash) {
		/* "/file.txt/" names a directory that does not exist. */
		khttpd_fs_put(c.env->fs, 0);
		plan_error(c, 404);
		return;
	}
	serve_file(c, 0, node, rel, static_cast<size_t>(len));
}

void serve_options(const call &c)
{
	khttpd_response resp;

	response_init(c, &resp, 200);
	resp.allow = khttpd_allow;
	resp.has_body_length = 1;
	plan_head(c, &resp);
}

void serve(const call &c)
{
	/*
	 * A chunked body cannot be skipped without decoding it, and must not
	 * be read as the next request: refuse it (serve_next closes).
	 */
	if (c.req->chunked) {
		plan_error(c, 501);
		return;
	}
	switch (c.req->method) {
	case KHTTPD_METHOD_GET:
	case KHTTPD_METHOD_HEAD:
		serve_get(c);
		return;
	case KHTTPD_METHOD_OPTIONS:
		serve_options(c);
		return;
	case KHTTPD_METHOD_UNKNOWN:
		plan_error(c, 501);
		return;
	default:
		plan_error(c, 405);
		return;
	}
}

} /* namespace */

namespace {

/* Around a chunk's data: CRLF after it, and "0" CRLF CRLF after the last. */
constexpr size_t chunk_tail = lit_len("\r\n0\r\n\r\n");

enum listing_state { BEGIN = 0, ENTRIES, END, DONE };

/*
 * As much of the page as fits buf[pos..cap). A part that does not fit
 * waits for the next piece, except an entry that would not fit even an
 * empty buffer, which is skipped: so each piece holds at least one part.
 */
size_t listing_fill(struct khttpd_listing_writer *w,
			   struct khttpd_fs_dir *dir, char *buf, size_t start,
			   size_t cap)
{
	size_t pos = start;
	long n;

	if (w->state == BEGIN) {
		n = khttpd_listing_begin(buf + pos, cap - pos, w->title,
					 w->title.len == 1);
		if (n < 0)
			return pos;
		pos += static_cast<size_t>(n);
		w->state = ENTRIES;
	}
	while (w->state == ENTRIES) {
		struct khttpd_listing_entry entry;

		if (!khttpd_fs_dir_peek(dir, &entry)) {
			w->state = END;
			break;
		}
		n = khttpd_listing_entry(buf + pos, cap - pos, &entry);
		if (n < 0 && pos > start)
			return pos;
		if (n > 0)
			pos += static_cast<size_t>(n);
		khttpd_fs_dir_advance(dir);
	}
	if (w->state == END) {
		n = khttpd_listing_end(buf + pos, cap - pos);
		if (n < 0)
			return pos;
		pos += static_cast<size_t>(n);
		w->state = DONE;
	}
	return pos;
}

} /* namespace */

extern "C" void khttpd_dir_item_look_up(struct khttpd_fs_dir *dir, char *path,
					size_t dir_len,
					struct khttpd_dir_item *item)
{
	const khttpd_str name = item->entry.name;
	size_t len = dir_len;
	khttpd_node node;

	if (item->looked_up)
		return;
	item->looked_up = 1;
	item->hidden = 1;
	if (len + 1 + name.len >= KHTTPD_PATH_MAX)
		return;
	if (len)
		path[len++] = '/';
	copy_bytes(path + len, name.ptr, name.len);
	path[len + name.len] = '\0';
	if (!khttpd_fs_dir_lookup(dir, path, &node)) {
		item->hidden = 0;
		item->entry.is_dir = node.type == KHTTPD_NODE_DIR;
		item->entry.size = node.size;
		item->entry.mtime = node.mtime_sec;
	}
	path[dir_len] = '\0';
}

extern "C" int khttpd_dir_item_cmp(const struct khttpd_dir_item *a,
				   const struct khttpd_dir_item *b)
{
	const khttpd_str x = a->entry.name, y = b->entry.name;
	const size_t n = x.len < y.len ? x.len : y.len;

	if (a->entry.is_dir != b->entry.is_dir)
		return a->entry.is_dir ? -1 : 1;
	for (size_t i = 0; i < n; i++) {
		const auto cx = static_cast<unsigned char>(x.ptr[i]);
		const auto cy = static_cast<unsigned char>(y.ptr[i]);

		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
	return x.len < y.len ? -1 : x.len > y.len;
}

extern "C" size_t khttpd_listing_write(struct khttpd_listing_writer *w,
				       struct khttpd_fs_dir *dir, char *buf,
				       const char **piece)
{
	char head[KHTTPD_CHUNK_HEAD_MAX];

	if (w->state == DONE)
		return 0;
	if (!w->chunked) {
		*piece = buf;
		return listing_fill(w, dir, buf, 0, KHTTPD_LISTING_BUF);
	}

	/* Room in front for the chunk's size line and behind for the tail. */
	const size_t start = KHTTPD_CHUNK_HEAD_MAX;
	size_t end = listing_fill(w, dir, buf, start,
				  KHTTPD_LISTING_BUF - chunk_tail);
	const size_t head_len = khttpd_chunk_head(end - start, head);

	copy_bytes(buf + start - head_len, head, head_len);
	copy_bytes(buf + end, "\r\n", 2);
	end += 2;
	if (w->state == DONE) {
		copy_bytes(buf + end, "0\r\n\r\n", 5);
		end += 5;
	}
	*piece = buf + start - head_len;
	return end - (start - head_len);
}

extern "C" void khttpd_serve_error(const struct khttpd_serve_env *env,
				   const struct khttpd_request *req,
				   int status, struct khttpd_plan *plan)
{
	*plan = khttpd_plan{};
	plan_error(call{ env, req, plan, false }, status);
}

extern "C" size_t khttpd_serve_next(const struct khttpd_serve_env *env,
				    const char *rx, size_t len, size_t cap,
				    struct khttpd_request *req,
				    struct khttpd_plan *plan)
{
	long n = khttpd_parse_request(rx, len, req);

	if (n == 0) {
		if (len < cap)
			return 0;
		n = -khttpd_parse_overflow_status(rx, len);
	}
	*plan = khttpd_plan{};
	if (n < 0) {
		/* The stream cannot be resynchronised: answer and close. */
		*req = khttpd_request{};
		plan_error(call{ env, nullptr, plan, true },
			   static_cast<int>(-n));
		plan->close_after = 1;
		plan->linger = 1;
		plan->bad_request = 1;
		return len;
	}
	/*
	 * The response does not wait for a body (nor send 100 Continue for
	 * one): the body is read and dropped after it, or, when it is too
	 * large to be worth reading or cannot be skipped (chunked), the
	 * connection closes after it, and the head says "Connection: close".
	 */
	const bool close = req->chunked ||
			   req->content_length > KHTTPD_DISCARD_MAX;

	serve(call{ env, req, plan, close });
	if (close)
		plan->close_after = 1;
	else
		plan->discard = req->content_length;
	plan->linger = plan->close_after &&
		       (req->keep_alive || req->chunked || req->content_length);
	return static_cast<size_t>(n);
}
