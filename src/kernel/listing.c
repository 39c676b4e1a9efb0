// SPDX-License-Identifier: GPL-2.0
/*
 * Directory listings for directories without an index.html.
 *
 * The names are read with iterate_dir() into a list of small allocations
 * (never one large one, whatever the size of the directory), sorted with
 * list_sort(), directories first. The HTML is then produced a buffer at a
 * time as conn.c sends it, with chunked transfer coding for HTTP/1.1 (or
 * delimited by close for HTTP/1.0), and each entry is looked up for its
 * size and time only when its turn comes, so a 10,000-entry directory is
 * never held as one piece of HTML, nor stat()ed in one go.
 *
 * Like nginx's autoindex, names starting with '.' are not listed. Entries
 * that do not resolve beneath the root (a symlink pointing outside, a
 * dangling one) are left out rather than shown.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/list_sort.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/string.h>

#include "khttpd.h"

/* A bound on kernel memory one request can pin (about 64 bytes an entry). */
#define KHTTPD_LISTING_MAX_ENTRIES 200000
#define KHTTPD_LISTING_BUF 8192
/* "\r\n" after a chunk's data, then the last chunk "0\r\n\r\n". */
#define KHTTPD_LISTING_CHUNK_TAIL (2 + 5)

struct khttpd_listing_item {
	struct list_head node;
	u64 size;
	s64 mtime;
	bool is_dir;
	bool statted;		/* size, mtime and is_dir are from a lookup */
	bool hidden;		/* did not resolve beneath the root */
	bool type_unknown;	/* a symlink, or no d_type from the fs */
	u16 len;
	char name[];
};

enum khttpd_listing_state {
	KHTTPD_LISTING_BEGIN,
	KHTTPD_LISTING_ENTRIES,
	KHTTPD_LISTING_END,
	KHTTPD_LISTING_DONE,
};

struct khttpd_listing {
	struct khttpd_server *srv;
	struct list_head items;
	unsigned int nitems;
	struct list_head *cursor;	/* next item to emit */
	enum khttpd_listing_state state;
	bool chunked;
	char *path;			/* PATH_MAX scratch: "<dir>/<name>" */
	size_t dir_len;			/* path[0..dir_len) is the directory */
	char buf[KHTTPD_LISTING_BUF];
};

struct khttpd_listing_reader {
	struct dir_context ctx;
	struct khttpd_listing *listing;
	int err;
};

static bool khttpd_listing_actor(struct dir_context *ctx, const char *name,
				 int len, loff_t off, u64 ino,
				 unsigned int d_type)
{
	struct khttpd_listing_reader *rd =
		container_of(ctx, struct khttpd_listing_reader, ctx);
	struct khttpd_listing *l = rd->listing;
	struct khttpd_listing_item *item;

	if (name[0] == '.')	/* ".", ".." and hidden files */
		return true;
	if (l->nitems >= KHTTPD_LISTING_MAX_ENTRIES) {
		pr_warn_ratelimited("listing cut at %u entries\n",
				    KHTTPD_LISTING_MAX_ENTRIES);
		return false;
	}
	item = kmalloc(struct_size(item, name, len + 1), GFP_KERNEL);
	if (!item) {
		rd->err = -ENOMEM;
		return false;
	}
	memcpy(item->name, name, len);
	item->name[len] = '\0';
	item->len = len;
	item->is_dir = d_type == DT_DIR;
	/* Symlinks and file systems without d_type: ask before sorting. */
	item->type_unknown = d_type == DT_LNK || d_type == DT_UNKNOWN;
	item->statted = false;
	item->hidden = false;
	list_add_tail(&item->node, &l->items);
	l->nitems++;
	return true;
}

/* Looks the item up beneath the root for its size, time and type. */
static void khttpd_listing_stat(struct khttpd_listing *l,
				struct khttpd_listing_item *item)
{
	struct path path;
	struct kstat stat;
	size_t len = l->dir_len;

	if (item->statted)
		return;
	item->statted = true;
	item->hidden = true;
	if (len + 1 + item->len >= PATH_MAX)
		return;
	if (len)
		l->path[len++] = '/';
	memcpy(l->path + len, item->name, item->len + 1);
	if (khttpd_vfs_lookup_stat(&l->srv->root, l->path, &path, &stat))
		goto out;
	path_put(&path);
	item->hidden = false;
	item->is_dir = S_ISDIR(stat.mode);
	item->size = stat.size;
	item->mtime = stat.mtime.tv_sec;
out:
	l->path[l->dir_len] = '\0';
}

static int khttpd_listing_cmp(void *priv, const struct list_head *a,
			      const struct list_head *b)
{
	const struct khttpd_listing_item *ia =
		list_entry(a, struct khttpd_listing_item, node);
	const struct khttpd_listing_item *ib =
		list_entry(b, struct khttpd_listing_item, node);

	if (ia->is_dir != ib->is_dir)
		return ia->is_dir ? -1 : 1;
	return strcmp(ia->name, ib->name);
}

static int khttpd_listing_read(struct khttpd_listing *l,
			       const struct path *path)
{
	struct khttpd_listing_reader rd = {
		.ctx.actor = khttpd_listing_actor,
		.listing = l,
	};
	struct khttpd_listing_item *item;
	struct file *dir;
	unsigned int before;
	int err;

	dir = dentry_open(path, O_RDONLY | O_DIRECTORY, current_cred());
	if (IS_ERR(dir))
		return PTR_ERR(dir);
	/* As getdents does: a file system may return a directory in parts. */
	do {
		before = l->nitems;
		err = iterate_dir(dir, &rd.ctx);
	} while (!err && !rd.err && l->nitems != before);
	fput(dir);
	if (err || rd.err)
		return err ?: rd.err;

	list_for_each_entry(item, &l->items, node)
		if (item->type_unknown)
			khttpd_listing_stat(l, item);
	list_sort(NULL, &l->items, khttpd_listing_cmp);
	l->cursor = l->items.next;
	return 0;
}

void khttpd_listing_free(struct khttpd_listing *l)
{
	struct khttpd_listing_item *item, *tmp;

	list_for_each_entry_safe(item, tmp, &l->items, node)
		kfree(item);
	__putname(l->path);
	kfree(l);
}

/*
 * The page's beginning into buf[0..cap), or -1 if it does not fit. The
 * heading shows the decoded path, "/" or "/dir/": it is built in the
 * scratch path, which is not in use then, and the directory put back.
 */
static long khttpd_listing_put_begin(struct khttpd_listing *l, char *buf,
				     size_t cap)
{
	size_t title_len = l->dir_len ? l->dir_len + 2 : 1;
	long n;

	memmove(l->path + 1, l->path, l->dir_len);
	l->path[0] = '/';
	l->path[title_len - 1] = '/';
	n = khttpd_listing_begin(buf, cap,
				 (struct khttpd_str){ l->path, title_len },
				 !l->dir_len);
	memmove(l->path, l->path + 1, l->dir_len);
	l->path[l->dir_len] = '\0';
	return n;
}

/* Write as much of the page as fits into buf[pos..cap); returns the new pos. */
static size_t khttpd_listing_fill(struct khttpd_listing *l, size_t pos,
				  size_t cap)
{
	struct khttpd_listing_entry entry;
	struct khttpd_listing_item *item;
	long n;

	if (l->state == KHTTPD_LISTING_BEGIN) {
		n = khttpd_listing_put_begin(l, l->buf + pos, cap - pos);
		if (n < 0)
			return pos;
		pos += n;
		l->state = KHTTPD_LISTING_ENTRIES;
	}

	while (l->state == KHTTPD_LISTING_ENTRIES) {
		if (l->cursor == &l->items) {
			l->state = KHTTPD_LISTING_END;
			break;
		}
		item = list_entry(l->cursor, struct khttpd_listing_item, node);
		khttpd_listing_stat(l, item);
		if (!item->hidden) {
			entry = (struct khttpd_listing_entry){
				.name = { item->name, item->len },
				.is_dir = item->is_dir,
				.size = item->size,
				.mtime = item->mtime,
			};
			n = khttpd_listing_entry(l->buf + pos, cap - pos,
						 &entry);
			if (n < 0)
				return pos;
			pos += n;
		}
		l->cursor = l->cursor->next;
	}

	if (l->state == KHTTPD_LISTING_END) {
		n = khttpd_listing_end(l->buf + pos, cap - pos);
		if (n < 0)
			return pos;
		pos += n;
		l->state = KHTTPD_LISTING_DONE;
	}
	return pos;
}

/* Room for the page's parts once the chunk framing is set aside. */
#define KHTTPD_LISTING_ROOM \
	(KHTTPD_LISTING_BUF - KHTTPD_CHUNK_HEAD_MAX - KHTTPD_LISTING_CHUNK_TAIL)

/*
 * The next piece of the body: 1 with a piece, valid until the next call;
 * 0 once it has all been handed out; -EMSGSIZE if a part of the page does
 * not fit in an empty buffer, which would otherwise hand out empty pieces
 * for ever (names are at most 255 bytes, so only a pathological title can;
 * khttpd_listing_respond() answers 500 for that before anything is sent).
 */
int khttpd_listing_next(struct khttpd_listing *l, const char **buf,
			size_t *len)
{
	char head[KHTTPD_CHUNK_HEAD_MAX];
	size_t start, end, head_len;

	if (l->state == KHTTPD_LISTING_DONE)
		return 0;
	if (!l->chunked) {
		*len = khttpd_listing_fill(l, 0, sizeof(l->buf));
		*buf = l->buf;
		return *len ? 1 : -EMSGSIZE;
	}

	/* Leave room in front for the chunk size and behind for the tail. */
	start = KHTTPD_CHUNK_HEAD_MAX;
	end = khttpd_listing_fill(l, start,
				  sizeof(l->buf) - KHTTPD_LISTING_CHUNK_TAIL);
	if (end == start && l->state != KHTTPD_LISTING_DONE)
		return -EMSGSIZE;
	head_len = khttpd_chunk_head(end - start, head);
	memcpy(l->buf + start - head_len, head, head_len);
	memcpy(l->buf + end, "\r\n", 2);
	end += 2;
	if (l->state == KHTTPD_LISTING_DONE) {
		memcpy(l->buf + end, "0\r\n\r\n", 5);
		end += 5;
	}
	*buf = l->buf + start - head_len;
	*len = end - (start - head_len);
	return 1;
}

/*
 * rel (NUL-terminated, "" for the root) names a directory beneath root;
 * dir is that directory, already looked up.
 */
void khttpd_listing_respond(struct khttpd_server *srv,
			    const struct khttpd_request *req,
			    const char *rel, const struct path *dir,
			    struct khttpd_tx *tx)
{
	struct khttpd_response resp;
	struct khttpd_listing *l;
	int err;

	/*
	 * dentry_open() makes no permission check (open(2) makes it before):
	 * a directory the serving user may not read is not listed.
	 */
	err = path_permission(dir, MAY_READ);
	if (err) {
		khttpd_http_error(khttpd_http_errno_status(err), req, tx);
		return;
	}

	khttpd_http_response_init(&resp, 200, req);
	resp.content_type = (struct khttpd_str){ "text/html; charset=utf-8",
						 24 };
	/* HTTP/1.0 has no chunked coding: the body ends when we close. */
	if (req->version_minor >= 1)
		resp.chunked = 1;
	else
		resp.keep_alive = 0;

	if (req->method == KHTTPD_METHOD_HEAD) {
		khttpd_http_stage_head(&resp, tx);
		return;
	}

	l = kmalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		goto err_nomem;
	l->path = __getname();
	if (!l->path) {
		kfree(l);
		goto err_nomem;
	}
	l->srv = srv;
	INIT_LIST_HEAD(&l->items);
	l->nitems = 0;
	l->state = KHTTPD_LISTING_BEGIN;
	l->chunked = resp.chunked;
	l->dir_len = strscpy(l->path, rel, PATH_MAX);
	/* A heading that can never be sent: say so now, not mid-body. */
	if (khttpd_listing_put_begin(l, l->buf, KHTTPD_LISTING_ROOM) < 0) {
		khttpd_listing_free(l);
		khttpd_http_error(500, req, tx);
		return;
	}

	err = khttpd_listing_read(l, dir);
	if (err) {
		khttpd_listing_free(l);
		khttpd_http_error(khttpd_http_errno_status(err), req, tx);
		return;
	}
	khttpd_http_stage_head(&resp, tx);
	tx->listing = l;
	return;

err_nomem:
	khttpd_http_error(503, req, tx);
	tx->close_after = true;
}
