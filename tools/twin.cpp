// SPDX-License-Identifier: GPL-2.0
/*
 * twin - the userspace twin of khttpd.
 *
 *	twin [-p PORT] [-r ROOT] [-t THREADS] [--no-listing] [--timeout SECS]
 *	     [-b ADDR] [--cache-size MIB] [--cache-file-max KIB]
 *
 * An epoll, non-blocking HTTP/1.1 static-file server on the same
 * freestanding C++ core as the module: khttpd_serve_next() decides every
 * answer for both, and this file only implements the core's file system
 * interface (khttpd_fs_*, the module's src/kernel/fs.c) and moves bytes,
 * so both answer every request with the same status and the same header
 * fields in the same order (Date values aside). Comparing the two then
 * isolates what running in the kernel buys. The connection steps keep the
 * module's names without the khttpd_ prefix.
 *
 * Shape, nginx-like: one worker thread per CPU, each with its own
 * SO_REUSEPORT listener and its own epoll set; connections never move
 * between threads, so nothing on the request path takes a lock. A
 * connection is registered once, edge-triggered, for both directions; its
 * io() runs the module's step function until a syscall would block, with
 * the same per-run budget (a connection that spends it goes to the back of
 * the thread's run queue). Idle timeouts are the module's sweeper: once a
 * second each thread closes its connections past their deadline.
 *
 * Differences that do not show on the wire:
 *  - paths are confined with openat2(RESOLVE_BENEATH) from a directory fd
 *    of the root, the userspace spelling of LOOKUP_BENEATH (-EXDEV alike);
 *  - file bodies go out with sendfile(2) (the module's do_splice_direct()
 *    is the same machinery); small files may instead come from a per-thread
 *    cache validated on every request by (dev, ino, size, mtime, ctime),
 *    sent with the head in one sendmsg;
 *  - started as root, the twin becomes -u/-g (default 65534, as the
 *    module's user=/group=) before it opens the root, so both servers read
 *    files with the same permissions.
 *
 * Memory: a connection (receive buffer, response head) is allocated once
 * and recycled through a per-thread free list; a listing's buffers belong
 * to the connection and keep their capacity. A GET of a cached file, or of
 * any file with sendfile, allocates nothing.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "khttpd/serve.h"

namespace {

/* The module's constants (src/kernel/khttpd.h, conn.c, listing.c). */

struct config {
	unsigned port = 8081;
	std::string root = ".";
	unsigned threads = 0;
	bool listing = true;
	unsigned timeout_secs = 60;
	std::string bind_addr = "0.0.0.0";
	size_t cache_file_max = 64 * 1024;	/* 0: no cache */
	size_t cache_max = 0;			/* per thread: --cache-size / threads */
	uid_t uid = 65534;			/* when started as root */
	gid_t gid = 65534;
};

config cfg;
int root_fd = -1;
int stop_fd = -1;	/* eventfd: readable once shutdown begins */

int64_t now_ms()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}


/* ---- vfs.c: lookups confined beneath the root ------------------------- */

int openat2_beneath(const char *rel, uint64_t flags)
{
	struct open_how how = {};

	how.flags = flags | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH;
	int fd = int(syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how,
			     sizeof(how)));
	return fd < 0 ? -errno : fd;
}

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

/* ---- the small-file cache --------------------------------------------- */

struct blob {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	std::unique_ptr<char[]> data;
	/*
	 * Its thread's count of cached bytes alive, lowered when it goes;
	 * shared so that a blob outliving its cache (at exit) stays safe.
	 */
	std::shared_ptr<size_t> live;

	blob() = default;
	blob(const blob &) = delete;
	blob &operator=(const blob &) = delete;
	~blob()
	{
		if (live)
			*live -= size_t(size);
	}
};

struct sv_hash {
	using is_transparent = void;
	size_t operator()(std::string_view s) const noexcept
	{
		return std::hash<std::string_view>{}(s);
	}
};

bool same_file(const blob &b, const struct stat &st)
{
	return b.dev == st.st_dev && b.ino == st.st_ino &&
	       b.size == st.st_size && b.mtime.tv_sec == st.st_mtim.tv_sec &&
	       b.mtime.tv_nsec == st.st_mtim.tv_nsec &&
	       b.ctime.tv_sec == st.st_ctim.tv_sec &&
	       b.ctime.tv_nsec == st.st_ctim.tv_nsec;
}

int64_t ts_ns(const struct timespec &ts)
{
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/*
 * The module's racy-window rule (cache.c): timestamps move once a clock
 * tick, so a file that changed less than a tick before it was read may
 * change again without them moving; such a read is not kept. Userspace
 * sees no change counter, so the twin always applies the rule.
 */
bool racy(const struct stat &st)
{
	struct timespec res, now;

	if (clock_getres(CLOCK_REALTIME_COARSE, &res))
		res = { 0, 10000000 };
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t last = std::max(ts_ns(st.st_mtim), ts_ns(st.st_ctim));
	return last + ts_ns(res) > ts_ns(now);
}

/*
 * Per thread, so unlocked. Keyed by the path relative to the root of the
 * file actually sent (".gz" included); an entry is used only while the
 * file it was read from still has the same identity, size, mtime and
 * ctime.
 * Entries are shared_ptrs: one being sent survives its replacement.
 * Bounded like the module's cache: live_ counts the bytes of every blob
 * alive, in the map or still being sent after eviction, and a fill that
 * cannot fit under cache_max even after evicting is sent by sendfile.
 */
class file_cache {
public:
	std::shared_ptr<const blob> find(std::string_view rel,
					 const struct stat &st)
	{
		auto it = map_.find(rel);

		if (it == map_.end())
			return nullptr;
		if (same_file(*it->second, st))
			return it->second;
		bytes_ -= size_t(it->second->size);
		map_.erase(it);
		return nullptr;
	}

	/* Read fd (whose stat is st) and keep it, if it stays as it was. */
	std::shared_ptr<const blob> insert(std::string_view rel, int fd,
					   const struct stat &st)
	{
		size_t size = size_t(st.st_size);

		if (size > cfg.cache_file_max || size > cfg.cache_max)
			return nullptr;
		while (*live_ + size > cfg.cache_max && !map_.empty()) {
			auto victim = map_.begin();
			bytes_ -= size_t(victim->second->size);
			map_.erase(victim);
		}
		if (*live_ + size > cfg.cache_max)
			return nullptr;	/* pinned by responses: send uncached */
		auto b = std::make_shared<blob>();
		b->size = st.st_size;
		*live_ += size;
		b->live = live_;
		b->dev = st.st_dev;
		b->ino = st.st_ino;
		b->size = st.st_size;
		b->mtime = st.st_mtim;
		b->ctime = st.st_ctim;
		b->data.reset(new char[size ? size : 1]);
		size_t got = 0;
		while (got < size) {
			ssize_t n = pread(fd, b->data.get() + got, size - got,
					  off_t(got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return nullptr;
			got += size_t(n);
		}
		struct stat after;
		if (fstat(fd, &after) || !same_file(*b, after))
			return nullptr;	/* changed while read: not cached */
		if (racy(after))
			return b;	/* good for this response only */
		auto it = map_.find(rel);
		if (it != map_.end()) {
			bytes_ -= size_t(it->second->size);
			it->second = b;
		} else {
			map_.emplace(std::string(rel), b);
		}
		bytes_ += size;
		return b;
	}

private:
	std::shared_ptr<size_t> live_ = std::make_shared<size_t>(0);
	std::unordered_map<std::string, std::shared_ptr<const blob>, sv_hash,
			   std::equal_to<>> map_;
	size_t bytes_ = 0;
};

/* ---- listing.c: state of one directory listing ------------------------ */

struct listing_item {
	uint32_t name_off;	/* into listing::names, NUL-terminated */
	uint16_t len;
	bool is_dir;
	bool statted;
	bool hidden;
	bool type_unknown;
	uint64_t size;
	int64_t mtime;
};

} // namespace

/*
 * A directory being listed (the core's struct khttpd_fs_dir). Owned by a
 * connection and reused: vectors keep their capacity.
 */
struct khttpd_fs_dir {
	std::vector<listing_item> items;
	std::vector<char> names;
	size_t cursor = 0;
	char path[PATH_MAX];	/* "<dir>/<name>" scratch */
	size_t dir_len = 0;
	char buf[KHTTPD_LISTING_BUF];
};

namespace {

using listing = khttpd_fs_dir;

/* ---- the staged response (struct khttpd_tx) --------------------------- */

struct tx {
	char head[KHTTPD_HEAD_SIZE];
	size_t head_len = 0;
	size_t head_off = 0;
	int body = KHTTPD_BODY_NONE;
	int file = -1;		/* FILE: the sendfile source */
	std::shared_ptr<const blob> mem;	/* CACHED */
	uint64_t pos = 0;	/* FILE, CACHED */
	uint64_t end = 0;
	khttpd_listing_writer writer;	/* LISTING: conn::lst */
	bool listing_done = false;
	const char *piece = nullptr;
	size_t piece_len = 0;
	size_t piece_off = 0;
	bool close_after = false;
	char path[KHTTPD_PATH_MAX];	/* the core's path scratch */
};

struct worker;

struct conn {
	worker *w;
	int fd = -1;
	int64_t expires = 0;
	conn *prev = nullptr, *next = nullptr;	/* worker::conns */
	conn *run_next = nullptr;		/* worker run queue */
	bool queued = false;
	bool linger = false;

	size_t rx_len = 0;
	bool rx_parsed = false;
	uint64_t discard = 0;
	bool tx_busy = false;
	struct tx tx;
	std::unique_ptr<listing> lst;	/* allocated on first listing */
	char rx[KHTTPD_RX_SIZE];
};

/* As the module's: STAGED moved nothing and does not push the deadline. */
enum class step { PROGRESS, STAGED, WAIT, CLOSE };

struct worker {
	int id = 0;
	int listen_fd = -1;
	int ep = -1;
	conn *conns = nullptr;		/* all open connections */
	conn *free_list = nullptr;	/* recycled, via next */
	conn *run_head = nullptr, *run_tail = nullptr;
	file_cache cache;
	char dents[32768];		/* getdents64 buffer */
	std::thread thread;
};

void touch(conn *c, int64_t ms)
{
	c->expires = now_ms() + ms;
}

/* ---- date.c ------------------------------------------------------------ */

/* The Date, formatted at most once a second per thread (the module's date.c). */
const char *date_now()
{
	static thread_local char buf[KHTTPD_DATE_LEN];
	static thread_local time_t formatted = -1;
	time_t now = time(nullptr);

	if (now != formatted) {
		khttpd_format_date(now, buf);
		formatted = now;
	}
	return buf;
}

/* ---- listing.c --------------------------------------------------------- */

const char *item_name(const listing *l, const listing_item &it)
{
	return l->names.data() + it.name_off;
}

void listing_stat(listing *l, listing_item *item)
{
	struct stat st;
	size_t len = l->dir_len;

	if (item->statted)
		return;
	item->statted = true;
	item->hidden = true;
	if (len + 1 + item->len >= PATH_MAX)
		return;
	if (len)
		l->path[len++] = '/';
	memcpy(l->path + len, item_name(l, *item), item->len + 1);
	if (!vfs_lookup_stat(l->path, &st)) {
		item->hidden = false;
		item->is_dir = S_ISDIR(st.st_mode);
		item->size = uint64_t(st.st_size);
		item->mtime = st.st_mtim.tv_sec;
	}
	l->path[l->dir_len] = '\0';
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
			listing_item it{};
			size_t len = strlen(d->d_name);
			it.name_off = uint32_t(l->names.size());
			it.len = uint16_t(len);
			it.is_dir = d->d_type == DT_DIR;
			it.type_unknown = d->d_type == DT_LNK ||
					  d->d_type == DT_UNKNOWN;
			l->names.insert(l->names.end(), d->d_name,
					d->d_name + len + 1);
			l->items.push_back(it);
		}
	}
cut:
	close(dir);

	for (auto &it : l->items)
		if (it.type_unknown)
			listing_stat(l, &it);
	/* Names in a directory are unique: no ties, stability moot. */
	std::sort(l->items.begin(), l->items.end(),
		  [l](const listing_item &a, const listing_item &b) {
			  if (a.is_dir != b.is_dir)
				  return a.is_dir;
			  return strcmp(item_name(l, a), item_name(l, b)) < 0;
		  });
	l->cursor = 0;
	return 0;
}

} // namespace

/* ---- the core's file system (the module's fs.c) ------------------------ */

/* One request's view of the file system: a worker, a connection, slots. */
struct khttpd_fs {
	worker *w;
	conn *c;
	int fd[KHTTPD_FS_SLOTS];	/* O_PATH */
	struct stat st[KHTTPD_FS_SLOTS];
};

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
	node->type = S_ISREG(st.st_mode) ? KHTTPD_NODE_FILE :
		     S_ISDIR(st.st_mode) ? KHTTPD_NODE_DIR : KHTTPD_NODE_OTHER;
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
	std::string_view name(key, key_len);
	std::shared_ptr<const blob> mem;

	khttpd_fs_put(fs, slot);
	if (cfg.cache_file_max)
		mem = fs->w->cache.find(name, st);
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
		if (cfg.cache_file_max &&
		    uint64_t(st.st_size) <= cfg.cache_file_max)
			mem = fs->w->cache.insert(name, fd, st);
		if (!mem) {
			t->body = KHTTPD_BODY_FILE;
			t->file = fd;
			t->pos = range->first;
			t->end = range->last + 1;
			return KHTTPD_BODY_FILE;
		}
		close(fd);
	}
	t->body = KHTTPD_BODY_CACHED;
	t->mem = std::move(mem);
	t->pos = range->first;
	t->end = range->last + 1;
	return KHTTPD_BODY_CACHED;
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
	int err = listing_read(fs->w, l, rel);
	if (err)
		return err;
	c->tx.body = KHTTPD_BODY_LISTING;
	c->tx.listing_done = false;
	return 0;
}

extern "C" int khttpd_fs_dir_peek(struct khttpd_fs_dir *l,
				  struct khttpd_listing_entry *entry)
{
	for (; l->cursor < l->items.size(); l->cursor++) {
		listing_item *it = &l->items[l->cursor];
		listing_stat(l, it);
		if (it->hidden)
			continue;
		*entry = {};
		entry->name = khttpd_str{ item_name(l, *it), it->len };
		entry->is_dir = it->is_dir;
		entry->size = it->size;
		entry->mtime = it->mtime;
		return 1;
	}
	return 0;
}

extern "C" void khttpd_fs_dir_advance(struct khttpd_fs_dir *l)
{
	if (l->cursor < l->items.size())
		l->cursor++;
}

namespace {
/* ---- conn.c ------------------------------------------------------------ */

void tx_reset(conn *c)
{
	tx *t = &c->tx;

	if (t->file >= 0) {
		close(t->file);
		t->file = -1;
	}
	t->mem.reset();
	t->body = KHTTPD_BODY_NONE;
	t->listing_done = false;
	t->piece = nullptr;
	t->piece_len = 0;
	t->piece_off = 0;
	t->head_len = 0;
	t->head_off = 0;
	t->pos = 0;
	t->end = 0;
	t->close_after = false;
	c->tx_busy = false;
}

step send_mem(conn *c, const char *buf, size_t len, size_t *off, bool more)
{
	ssize_t n = send(c->fd, buf + *off, len - *off,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? step::WAIT :
							  step::CLOSE;
	*off += size_t(n);
	return step::PROGRESS;
}

/* Head and a cached body together: one sendmsg, as writev would. */
step send_cached(conn *c)
{
	tx *t = &c->tx;
	struct iovec iov[2];
	int n = 0;

	if (t->head_off < t->head_len)
		iov[n++] = { t->head + t->head_off, t->head_len - t->head_off };
	iov[n++] = { const_cast<char *>(t->mem->data.get()) + t->pos,
		     size_t(t->end - t->pos) };
	struct msghdr msg = {};
	msg.msg_iov = iov;
	msg.msg_iovlen = size_t(n);
	ssize_t ret = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (ret < 0)
		return errno == EAGAIN || errno == EINTR ? step::WAIT :
							  step::CLOSE;
	size_t done = size_t(ret);
	size_t h = std::min(done, t->head_len - t->head_off);
	t->head_off += h;
	t->pos += done - h;
	return step::PROGRESS;
}

/* The core writes the next piece; producing it moves nothing. */
step send_listing(conn *c)
{
	tx *t = &c->tx;

	if (t->piece_off < t->piece_len)
		return send_mem(c, t->piece, t->piece_len, &t->piece_off,
				false);
	t->piece_len = khttpd_listing_write(&t->writer, c->lst.get(),
					    c->lst->buf, &t->piece);
	t->piece_off = 0;
	if (!t->piece_len)
		t->listing_done = true;
	return step::STAGED;
}

step send_file(conn *c)
{
	tx *t = &c->tx;
	size_t len = size_t(std::min<uint64_t>(t->end - t->pos,
					       KHTTPD_SEND_CHUNK));
	off_t pos = off_t(t->pos);
	ssize_t ret = sendfile(c->fd, t->file, &pos, len);

	if (ret < 0)
		return errno == EAGAIN || errno == EINTR ? step::WAIT :
							  step::CLOSE;
	if (ret == 0)	/* the file shrank: the length cannot be kept */
		return step::CLOSE;
	t->pos = uint64_t(pos);
	return step::PROGRESS;
}

bool body_left(const tx *t)
{
	switch (t->body) {
	case KHTTPD_BODY_FILE:
	case KHTTPD_BODY_CACHED:
		return t->pos < t->end;
	case KHTTPD_BODY_LISTING:
		return !t->listing_done;
	default:
		return false;
	}
}

step conn_send(conn *c)
{
	tx *t = &c->tx;
	step s;

	if (t->body == KHTTPD_BODY_CACHED && t->pos < t->end)
		s = send_cached(c);
	else if (t->head_off < t->head_len)
		s = send_mem(c, t->head, t->head_len, &t->head_off,
			     body_left(t));
	else if (t->body == KHTTPD_BODY_FILE && t->pos < t->end)
		s = send_file(c);
	else if (t->body == KHTTPD_BODY_LISTING && !t->listing_done)
		s = send_listing(c);
	else
		s = step::STAGED;
	if (s == step::WAIT || s == step::CLOSE)
		return s;
	/* Only bytes that went out push the deadline back. */
	if (s == step::PROGRESS)
		touch(c, int64_t(cfg.timeout_secs) * 1000);

	if (t->head_off < t->head_len || body_left(t))
		return step::PROGRESS;

	if (t->close_after) {
		shutdown(c->fd, SHUT_WR);
		c->linger = true;
		touch(c, int64_t(KHTTPD_LINGER_SECS) * 1000);
		c->rx_len = 0;
	}
	tx_reset(c);
	return step::PROGRESS;
}

void consume(conn *c, size_t n)
{
	c->rx_len -= n;
	memmove(c->rx, c->rx + n, c->rx_len);
	c->rx_parsed = false;
}

void discard_buffered(conn *c)
{
	size_t n = size_t(std::min<uint64_t>(c->discard, c->rx_len));

	c->discard -= n;
	consume(c, n);
}

/* The module's khttpd_conn_parse(): the core decides, we stage. */
void conn_parse(conn *c)
{
	tx *t = &c->tx;
	khttpd_fs fs = { c->w, c, { -1, -1 }, {} };
	const khttpd_serve_env env = {
		&fs, t->head, t->path, date_now(), cfg.listing,
	};
	khttpd_request req;
	khttpd_plan plan;

	size_t n = khttpd_serve_next(&env, c->rx, c->rx_len, KHTTPD_RX_SIZE,
				     &req, &plan);
	if (!n) {
		c->rx_parsed = true;
		return;
	}
	t->head_len = plan.head_len;
	t->head_off = 0;
	t->close_after = plan.close_after;
	if (plan.body == KHTTPD_BODY_LISTING)
		t->writer = plan.listing;
	c->tx_busy = true;
	c->discard = plan.discard;
	consume(c, n);
	discard_buffered(c);
}

step conn_step(conn *c)
{
	ssize_t ret;

	if (c->tx_busy)
		return conn_send(c);

	if (c->linger) {
		ret = recv(c->fd, c->rx, KHTTPD_RX_SIZE, MSG_DONTWAIT);
		if (ret < 0 && (errno == EAGAIN || errno == EINTR))
			return step::WAIT;
		return ret > 0 ? step::PROGRESS : step::CLOSE;
	}

	if (c->rx_len && !c->rx_parsed && !c->discard) {
		conn_parse(c);
		return step::PROGRESS;
	}

	ret = recv(c->fd, c->rx + c->rx_len, KHTTPD_RX_SIZE - c->rx_len,
		   MSG_DONTWAIT);
	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return step::WAIT;
	if (ret <= 0)
		return step::CLOSE;
	/* As the module: a head's deadline runs from its first byte. */
	if (!c->rx_len || c->discard)
		touch(c, int64_t(cfg.timeout_secs) * 1000);
	c->rx_len += size_t(ret);
	c->rx_parsed = false;
	discard_buffered(c);
	return step::PROGRESS;
}

/* ---- the worker: accept, epoll loop, sweeper --------------------------- */

void conn_close(conn *c)
{
	worker *w = c->w;

	tx_reset(c);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->queued) {
		/* Rare (shutdown, sweeper): unlink from the run queue. */
		conn **pp = &w->run_head;
		conn *last = nullptr;
		while (*pp && *pp != c) {
			last = *pp;
			pp = &(*pp)->run_next;
		}
		if (*pp)
			*pp = c->run_next;
		if (w->run_tail == c)
			w->run_tail = last;
		c->queued = false;
	}
	/* Keep the buffers (and a listing's capacity) for the next one. */
	c->prev = nullptr;
	c->next = w->free_list;
	w->free_list = c;
}

void conn_io(conn *c)
{
	int budget = KHTTPD_IO_BUDGET;

	while (budget--) {
		switch (conn_step(c)) {
		case step::PROGRESS:
		case step::STAGED:
			continue;
		case step::WAIT:
			return;
		case step::CLOSE:
			conn_close(c);
			return;
		}
	}
	/* Budget spent with work left: let the others run first. */
	worker *w = c->w;
	c->queued = true;
	c->run_next = nullptr;
	if (w->run_tail)
		w->run_tail->run_next = c;
	else
		w->run_head = c;
	w->run_tail = c;
}

void conn_start(worker *w, int fd)
{
	conn *c = w->free_list;
	int one = 1;

	if (c) {
		w->free_list = c->next;
	} else {
		c = new (std::nothrow) conn;
		if (!c) {
			close(fd);
			return;
		}
		c->w = w;
	}
	c->fd = fd;
	c->linger = false;
	c->queued = false;
	c->rx_len = 0;
	c->rx_parsed = false;
	c->discard = 0;
	tx_reset(c);
	touch(c, int64_t(cfg.timeout_secs) * 1000);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	struct epoll_event ev = {};
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	c->prev = nullptr;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		conn_close(c);
		return;
	}
	/* Like the module's first io_work: bytes may be waiting already. */
	conn_io(c);
}

void accept_all(worker *w)
{
	for (int i = 0; i < 256; i++) {
		int fd = accept4(w->listen_fd, nullptr, nullptr,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "twin: accept: %s\n",
					strerror(errno));
			return;
		}
		conn_start(w, fd);
	}
}

void sweep(worker *w)
{
	int64_t now = now_ms();

	for (conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (now > c->expires)
			conn_close(c);
	}
}

/* epoll data for the two fds that are not connections. */
char listen_tag, stop_tag;

void worker_run(worker *w)
{
	struct epoll_event evs[256];
	int64_t next_sweep = now_ms() + 1000;

	for (;;) {
		int timeout = w->run_head ? 0 : 1000;
		int n = epoll_wait(w->ep, evs, 256, timeout);

		if (n < 0 && errno != EINTR) {
			perror("twin: epoll_wait");
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &listen_tag)
				accept_all(w);
			else if (p == &stop_tag)
				stop = true;
			else if (!static_cast<conn *>(p)->queued)
				conn_io(static_cast<conn *>(p));
		}
		if (stop)
			break;
		/* Those that spent their budget, once each, in order. */
		conn *q = w->run_head;
		w->run_head = w->run_tail = nullptr;
		while (q) {
			conn *c = q;
			q = c->run_next;
			c->queued = false;
			conn_io(c);
		}
		int64_t now = now_ms();
		if (now >= next_sweep) {
			sweep(w);
			next_sweep = now + 1000;
		}
	}
	while (w->conns)
		conn_close(w->conns);
	while (w->free_list) {
		conn *c = w->free_list;
		w->free_list = c->next;
		delete c;
	}
}

/* ---- start-up ----------------------------------------------------------- */

[[noreturn]] void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: twin [-p PORT] [-r ROOT] [-t THREADS] [--no-listing]\n"
		"            [--timeout SECS] [-b ADDR] [-u UID] [-g GID]\n"
		"            [--cache-size MIB] [--cache-file-max KIB]\n"
		"  -p PORT              TCP port (default 8081)\n"
		"  -r ROOT              document root (default .)\n"
		"  -t THREADS           worker threads (default: CPUs)\n"
		"  -b ADDR              address to bind (default 0.0.0.0)\n"
		"  -u UID, -g GID       started as root, serve as this numeric\n"
		"                       user and group (default 65534, 65534)\n"
		"  --no-listing         403 for directories without index.html\n"
		"  --timeout SECS       idle/stalled connection timeout (default 60)\n"
		"  --cache-size MIB     response cache size, shared out among the\n"
		"                       threads (default 64; 0 disables the cache)\n"
		"  --cache-file-max KIB largest file kept in the cache (default 64)\n"
		"  (the units and ranges of the module's cache_size= and\n"
		"  cache_file_max= parameters)\n");
	exit(rc);
}

unsigned long parse_num(const char *opt, const char *s, unsigned long lo,
			unsigned long hi)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "twin: %s: bad value '%s' (%lu..%lu)\n", opt, s,
			lo, hi);
		exit(1);
	}
	return v;
}

void parse_args(int argc, char **argv)
{
	enum { OPT_NO_LISTING = 256, OPT_TIMEOUT, OPT_CACHE_FILE, OPT_CACHE };
	unsigned long cache_mib = 64;
	static const struct option longopts[] = {
		{ "port", required_argument, nullptr, 'p' },
		{ "root", required_argument, nullptr, 'r' },
		{ "threads", required_argument, nullptr, 't' },
		{ "bind", required_argument, nullptr, 'b' },
		{ "user", required_argument, nullptr, 'u' },
		{ "group", required_argument, nullptr, 'g' },
		{ "no-listing", no_argument, nullptr, OPT_NO_LISTING },
		{ "timeout", required_argument, nullptr, OPT_TIMEOUT },
		{ "cache-file-max", required_argument, nullptr, OPT_CACHE_FILE },
		{ "cache-size", required_argument, nullptr, OPT_CACHE },
		{ "help", no_argument, nullptr, 'h' },
		{},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "p:r:t:b:u:g:h", longopts,
				  nullptr)) != -1) {
		switch (opt) {
		case 'p':
			cfg.port = unsigned(parse_num("-p", optarg, 1, 65535));
			break;
		case 'r':
			cfg.root = optarg;
			break;
		case 't':
			cfg.threads = unsigned(parse_num("-t", optarg, 1, 1024));
			break;
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case 'u':
			cfg.uid = uid_t(parse_num("-u", optarg, 0, 4294967294UL));
			break;
		case 'g':
			cfg.gid = gid_t(parse_num("-g", optarg, 0, 4294967294UL));
			break;
		case OPT_NO_LISTING:
			cfg.listing = false;
			break;
		case OPT_TIMEOUT:
			cfg.timeout_secs =
				unsigned(parse_num("--timeout", optarg, 1, 3600));
			break;
		case OPT_CACHE_FILE:
			cfg.cache_file_max = parse_num("--cache-file-max",
						       optarg, 0, 16384) << 10;
			break;
		case OPT_CACHE:
			cache_mib = parse_num("--cache-size", optarg, 0,
					      65536);
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (!cfg.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.threads = n > 0 ? unsigned(n) : 1;
	}
	cfg.cache_max = (cache_mib << 20) / cfg.threads;
	if (!cfg.cache_max)
		cfg.cache_file_max = 0;
}

struct sockaddr_storage bind_sockaddr(socklen_t *len)
{
	struct sockaddr_storage ss = {};
	auto *in4 = reinterpret_cast<sockaddr_in *>(&ss);
	auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);

	if (inet_pton(AF_INET, cfg.bind_addr.c_str(), &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(uint16_t(cfg.port));
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, cfg.bind_addr.c_str(),
			     &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(uint16_t(cfg.port));
		*len = sizeof(*in6);
	} else {
		fprintf(stderr, "twin: -b %s: not an IPv4 or IPv6 address\n",
			cfg.bind_addr.c_str());
		exit(1);
	}
	return ss;
}

int make_listener(const sockaddr_storage &ss, socklen_t len, bool reuseport)
{
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (bind(fd, reinterpret_cast<const sockaddr *>(&ss), len)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

void die_bind(int err)
{
	fprintf(stderr, "twin: cannot listen on %s port %u: %s\n",
		cfg.bind_addr.c_str(), cfg.port, strerror(-err));
	exit(1);
}

/*
 * Started as root: become cfg.uid/cfg.gid for good, with no supplementary
 * groups, before anything is opened for clients.
 */
void drop_privileges()
{
	if (geteuid() != 0)
		return;
	if (setgroups(0, nullptr) || setgid(cfg.gid) || setuid(cfg.uid)) {
		fprintf(stderr, "twin: cannot become %u:%u: %s\n",
			unsigned(cfg.uid), unsigned(cfg.gid), strerror(errno));
		exit(1);
	}
}

void open_root()
{
	struct stat st;

	root_fd = open(cfg.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0 || fstat(root_fd, &st)) {
		fprintf(stderr, "twin: root %s: %s\n", cfg.root.c_str(),
			strerror(errno));
		exit(1);
	}
	struct open_how how = {};
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH;
	int fd = int(syscall(SYS_openat2, root_fd, ".", &how, sizeof(how)));
	if (fd < 0) {
		fprintf(stderr,
			"twin: openat2(RESOLVE_BENEATH) unavailable (%s); it is "
			"what confines paths to the root (Linux 5.6+)\n",
			strerror(errno));
		exit(1);
	}
	close(fd);
}

} // namespace

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	drop_privileges();
	open_root();

	/* Room for many connections: raise the soft fd limit to the hard one. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);

	socklen_t alen;
	struct sockaddr_storage ss = bind_sockaddr(&alen);

	/*
	 * SO_REUSEPORT would let us share the port with another reuseport
	 * listener of the same user (a second twin): probe with a plain
	 * socket first, so "port in use" is an error as it should be.
	 */
	int probe = make_listener(ss, alen, false);
	if (probe < 0)
		die_bind(probe);
	close(probe);

	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0) {
		perror("twin: eventfd");
		return 1;
	}
	std::vector<std::unique_ptr<worker>> workers;
	for (unsigned i = 0; i < cfg.threads; i++) {
		auto w = std::make_unique<worker>();
		w->id = int(i);
		w->listen_fd = make_listener(ss, alen, true);
		if (w->listen_fd < 0)
			die_bind(w->listen_fd);
		if (listen(w->listen_fd, 1024))	/* the module's default backlog */
			die_bind(-errno);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (w->ep < 0) {
			perror("twin: epoll_create1");
			return 1;
		}
		workers.push_back(std::move(w));
	}

	/* Workers inherit the blocked signals; only main takes them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	printf("twin: serving %s on port %u with %u threads\n",
	       cfg.root.c_str(), cfg.port, cfg.threads);
	fflush(stdout);

	for (auto &w : workers) {
		worker *wp = w.get();
		wp->thread = std::thread([wp] {
			/* Level-triggered: the listener, and the stop event. */
			struct epoll_event ev = {};
			ev.events = EPOLLIN;
			ev.data.ptr = &listen_tag;
			epoll_ctl(wp->ep, EPOLL_CTL_ADD, wp->listen_fd, &ev);
			ev.data.ptr = &stop_tag;
			epoll_ctl(wp->ep, EPOLL_CTL_ADD, stop_fd, &ev);
			worker_run(wp);
		});
	}

	int sig = 0;
	sigwait(&sigs, &sig);
	uint64_t one = 1;
	if (write(stop_fd, &one, sizeof(one)) < 0)
		perror("twin: eventfd write");
	for (auto &w : workers) {
		w->thread.join();
		close(w->listen_fd);
		close(w->ep);
	}
	close(root_fd);
	close(stop_fd);
	return 0;
}
