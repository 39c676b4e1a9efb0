// SPDX-License-Identifier: GPL-2.0
/*
 * Reading a directory for a listing (the core's khttpd_fs_opendir(),
 * khttpd_fs_dir_peek() and khttpd_fs_dir_advance()); the core writes the
 * HTML from the entries, a piece at a time, as tx.c sends it.
 *
 * The names are read with iterate_dir() into a list of small allocations
 * (never one large one, whatever the size of the directory), sorted with
 * list_sort(), directories first. Each entry is looked up for its size and
 * time only when its turn comes, so a 10,000-entry directory is never
 * stat()ed in one go.
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

struct khttpd_listing_item {
	struct list_head node;
	struct khttpd_dir_item dir_item;
	char name[];
};

/* Bounding kernel memory one request can pin: about 64 bytes an entry. */
struct khttpd_fs_dir {
	struct khttpd_server *srv;
	struct list_head items;
	unsigned int nitems;
	struct list_head *cursor;	/* next item to hand out */
	char *path;			/* PATH_MAX scratch: "<dir>/<name>" */
	size_t dir_len;			/* path[0..dir_len) is the directory */
	char buf[KHTTPD_LISTING_BUF];	/* the piece being sent */
};

struct khttpd_listing_reader {
	struct dir_context ctx;
	struct khttpd_fs_dir *listing;
	int err;
};

static bool khttpd_listing_actor(struct dir_context *ctx, const char *name,
				 int len, loff_t off, u64 ino,
				 unsigned int d_type)
{
	struct khttpd_listing_reader *rd =
		container_of(ctx, struct khttpd_listing_reader, ctx);
	struct khttpd_fs_dir *l = rd->listing;
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
	item->dir_item = (struct khttpd_dir_item){
		.entry.name = { item->name, len },
		.entry.is_dir = d_type == DT_DIR,
		/* Symlinks and file systems without d_type: ask before sorting. */
		.type_unknown = d_type == DT_LNK || d_type == DT_UNKNOWN,
	};
	list_add_tail(&item->node, &l->items);
	l->nitems++;
	return true;
}

int khttpd_fs_dir_lookup(struct khttpd_fs_dir *l, const char *rel,
			 struct khttpd_node *node)
{
	struct path path;
	struct kstat stat;
	int err;

	err = khttpd_vfs_lookup_stat(&l->srv->root, rel, &path, &stat);
	if (err)
		return err;
	path_put(&path);
	*node = (struct khttpd_node){
		.type = khttpd_node_type(stat.mode),
		.size = stat.size,
		.mtime_sec = stat.mtime.tv_sec,
	};
	return 0;
}

static void khttpd_listing_look_up(struct khttpd_fs_dir *l,
				   struct khttpd_listing_item *item)
{
	khttpd_dir_item_look_up(l, l->path, l->dir_len, &item->dir_item);
}

static int khttpd_listing_cmp(void *priv, const struct list_head *a,
			      const struct list_head *b)
{
	return khttpd_dir_item_cmp(
		&list_entry(a, struct khttpd_listing_item, node)->dir_item,
		&list_entry(b, struct khttpd_listing_item, node)->dir_item);
}

static int khttpd_listing_read_items(struct khttpd_fs_dir *l,
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
		if (item->dir_item.type_unknown)
			khttpd_listing_look_up(l, item);
	list_sort(NULL, &l->items, khttpd_listing_cmp);
	l->cursor = l->items.next;
	return 0;
}

void khttpd_listing_free(struct khttpd_fs_dir *l)
{
	struct khttpd_listing_item *item, *tmp;

	list_for_each_entry_safe(item, tmp, &l->items, node)
		kfree(item);
	__putname(l->path);
	kfree(l);
}

/*
 * The directory at path, named rel beneath the root, read and sorted for
 * a listing; an ERR_PTR on failure.
 */
struct khttpd_fs_dir *khttpd_listing_read(struct khttpd_server *srv,
					  const struct path *path,
					  const char *rel)
{
	struct khttpd_fs_dir *l;
	int err;

	l = kmalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return ERR_PTR(-ENOMEM);
	l->path = __getname();
	if (!l->path) {
		kfree(l);
		return ERR_PTR(-ENOMEM);
	}
	l->srv = srv;
	INIT_LIST_HEAD(&l->items);
	l->nitems = 0;
	l->dir_len = strscpy(l->path, rel, PATH_MAX);
	err = khttpd_listing_read_items(l, path);
	if (err) {
		khttpd_listing_free(l);
		return ERR_PTR(err);
	}
	return l;
}

int khttpd_fs_dir_peek(struct khttpd_fs_dir *l,
		       struct khttpd_listing_entry *entry)
{
	struct khttpd_listing_item *item;

	for (; l->cursor != &l->items; l->cursor = l->cursor->next) {
		item = list_entry(l->cursor, struct khttpd_listing_item, node);
		khttpd_listing_look_up(l, item);
		if (!item->dir_item.hidden) {
			*entry = item->dir_item.entry;
			return 1;
		}
	}
	return 0;
}

void khttpd_fs_dir_advance(struct khttpd_fs_dir *l)
{
	if (l->cursor != &l->items)
		l->cursor = l->cursor->next;
}

/* The listing's next piece, in the listing's buffer; false once all is out. */
bool khttpd_listing_next(struct khttpd_fs_dir *l,
			 struct khttpd_listing_writer *w, const char **piece,
			 size_t *len)
{
	*len = khttpd_listing_write(w, l, l->buf, piece);
	return *len;
}
