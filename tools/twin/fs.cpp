// SPDX-License-Identifier: GPL-2.0
/*
 * The twin's file system, as the core asks for it (khttpd_fs_*): lookups
 * confined beneath the root (the module's vfs.c), opening a file for its
 * body and a directory for its listing (fs.c), and the listing's entries,
 * read with getdents64 and sorted (listing.c).
 */

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>

#include "twin.h"

namespace twin {

int openat2_beneath(const char *rel, uint64_t flags)
{
	struct open_how how = {};

	how.flags = flags | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH;
	int fd = int(syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how,
			     sizeof(how)));
	return fd < 0 ? -errno : fd;
}

namespace {

/*
 * khttpd_vfs_lookup_stat(): follows symlinks, fails with -EXDEV on
 * anything that would leave the root. O_PATH opens nothing: FIFOs and
 * devices are looked at, never opened.
 */
int vfs_lookup_stat(const char *rel, struct stat *st)
{
	int fd = openat2_beneath(rel, O_PATH);

	if (fd < 0)
		return fd;
	int err = fstat(fd, st) ? -errno : 0;
	close(fd);
	return err;
}

int node_type(mode_t mode)
{
	return S_ISREG(mode) ? KHTTPD_NODE_FILE :
	       S_ISDIR(mode) ? KHTTPD_NODE_DIR : KHTTPD_NODE_OTHER;
}

/* ---- listing.c --------------------------------------------------------- */

void look_up(listing *l, khttpd_dir_item *item)
{
	khttpd_dir_item_look_up(l, l->path, l->dir_len, item);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int listing_read(worker *w, listing *l, const char *rel)
{
	int dir = openat2_beneath(rel, O_RDONLY | O_DIRECTORY);

	if (dir < 0)
		return dir;
	for (;;) {
		long n = syscall(SYS_getdents64, dir, w->dents,
				 sizeof(w->dents));
		if (n < 0) {
			int err = -errno;
			close(dir);
			return err;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			auto *d = reinterpret_cast<linux_dirent64 *>(w->dents +
								     off);
			off += d->d_reclen;
			if (d->d_name[0] == '.')
				continue;
			if (l->items.size() >= KHTTPD_LISTING_MAX_ENTRIES)
				goto cut;
			khttpd_dir_item it{};
			size_t len = strlen(d->d_name);
			/* The name's pointer is set once names stops growing. */
			it.entry.name.len = len;
			it.entry.is_dir = d->d_type == DT_DIR;
			it.type_unknown = d->d_type == DT_LNK ||
					  d->d_type == DT_UNKNOWN;
			l->names.insert(l->names.end(), d->d_name,
					d->d_name + len + 1);
			l->items.push_back(it);
		}
	}
cut:
	close(dir);

	const char *name = l->names.data();
	for (auto &it : l->items) {
		it.entry.name.ptr = name;
		name += it.entry.name.len + 1;
		if (it.type_unknown)
			look_up(l, &it);
	}
	/* Names in a directory are unique: no ties, stability moot. */
	std::sort(l->items.begin(), l->items.end(),
		  [](const khttpd_dir_item &a, const khttpd_dir_item &b) {
			  return khttpd_dir_item_cmp(&a, &b) < 0;
		  });
	l->cursor = 0;
	return 0;
}

} // namespace
} // namespace twin

/* ---- the core's file system (the module's fs.c) ------------------------ */

using namespace twin;

static_assert(KHTTPD_EPERM == EPERM && KHTTPD_ENOENT == ENOENT &&
	      KHTTPD_ENOMEM == ENOMEM && KHTTPD_EACCES == EACCES &&
	      KHTTPD_EXDEV == EXDEV && KHTTPD_ENOTDIR == ENOTDIR &&
	      KHTTPD_ENAMETOOLONG == ENAMETOOLONG && KHTTPD_ELOOP == ELOOP);
static_assert(KHTTPD_PATH_MAX == PATH_MAX);

extern "C" int khttpd_fs_lookup(struct khttpd_fs *fs, int slot,
				const char *rel, struct khttpd_node *node)
{
	/* O_PATH opens nothing: FIFOs and devices are looked at, never opened. */
	int fd = openat2_beneath(rel, O_PATH);

	if (fd < 0)
		return fd;
	struct stat &st = fs->st[slot];
	if (fstat(fd, &st)) {
		int err = -errno;
		close(fd);
		return err;
	}
	fs->fd[slot] = fd;
	*node = khttpd_node{};
	node->type = node_type(st.st_mode);
	/* The kernel's own check (mode, ACLs, LSMs), as the module makes. */
	node->readable = !faccessat(root_fd, *rel ? rel : ".", R_OK, 0);
	struct statfs sfs;
	node->fs_magic = fstatfs(fd, &sfs) ? 0 : uint64_t(sfs.f_type);
	node->ino = uint64_t(st.st_ino);
	node->size = uint64_t(st.st_size);
	node->mtime_sec = int64_t(st.st_mtim.tv_sec);
	node->mtime_nsec = uint32_t(st.st_mtim.tv_nsec);
	return 0;
}

extern "C" void khttpd_fs_put(struct khttpd_fs *fs, int slot)
{
	close(fs->fd[slot]);
	fs->fd[slot] = -1;
}

extern "C" int khttpd_fs_open(struct khttpd_fs *fs, int slot,
			      const char *key, size_t key_len,
			      const struct khttpd_node *,
			      const struct khttpd_range *range)
{
	const struct stat &st = fs->st[slot];
	tx *t = &fs->c->tx;
	file_cache &cache = fs->c->w->cache;
	std::string_view name(key, key_len);
	std::shared_ptr<const blob> mem;

	khttpd_fs_put(fs, slot);
	if (cfg.cache_file_max)
		mem = cache.find(name, st);
	if (!mem) {
		int fd = openat2_beneath(key, O_RDONLY | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return fd;
		/* The same file as was looked at, or it changed in between. */
		struct stat now;
		if (fstat(fd, &now) || now.st_ino != st.st_ino ||
		    now.st_dev != st.st_dev) {
			close(fd);
			return -ENOENT;
		}
		if (cfg.cache_file_max)
			mem = cache.insert(name, fd, st);
		if (mem)
			close(fd);
		else
			t->file = fd;
	}
	t->body = mem ? KHTTPD_BODY_CACHED : KHTTPD_BODY_FILE;
	t->mem = std::move(mem);
	t->pos = range->first;
	t->end = range->last + 1;
	return t->body;
}

extern "C" int khttpd_fs_opendir(struct khttpd_fs *fs, int slot,
				 const char *rel)
{
	conn *c = fs->c;

	khttpd_fs_put(fs, slot);
	if (!c->lst) {
		c->lst.reset(new (std::nothrow) khttpd_fs_dir);
		if (!c->lst)
			return -ENOMEM;
	}
	listing *l = c->lst.get();
	l->items.clear();
	l->names.clear();
	l->dir_len = strlen(rel);
	memcpy(l->path, rel, l->dir_len + 1);
	int err = listing_read(c->w, l, rel);
	if (err)
		return err;
	c->tx.body = KHTTPD_BODY_LISTING;
	return 0;
}

extern "C" int khttpd_fs_dir_peek(struct khttpd_fs_dir *l,
				  struct khttpd_listing_entry *entry)
{
	for (; l->cursor < l->items.size(); l->cursor++) {
		khttpd_dir_item *it = &l->items[l->cursor];
		look_up(l, it);
		if (!it->hidden) {
			*entry = it->entry;
			return 1;
		}
	}
	return 0;
}

extern "C" int khttpd_fs_dir_lookup(struct khttpd_fs_dir *, const char *rel,
				    struct khttpd_node *node)
{
	struct stat st;
	int err = vfs_lookup_stat(rel, &st);

	if (err)
		return err;
	*node = khttpd_node{};
	node->type = node_type(st.st_mode);
	node->size = uint64_t(st.st_size);
	node->mtime_sec = int64_t(st.st_mtim.tv_sec);
	return 0;
}

extern "C" void khttpd_fs_dir_advance(struct khttpd_fs_dir *l)
{
	if (l->cursor < l->items.size())
		l->cursor++;
}
