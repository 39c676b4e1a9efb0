// SPDX-License-Identifier: GPL-2.0
/*
 * twin - the userspace twin of khttpd.
 *
 *	twin [-p PORT] [-r ROOT] [-t THREADS] [--no-listing] [--timeout SECS]
 *	     [-b ADDR] [--cache-size MIB] [--cache-file-max KIB]
 *
 * An epoll, non-blocking HTTP/1.1 static-file server on the same
 * freestanding C++ core as the module: khttpd_serve_next() decides every
 * answer for both, and the twin only implements the core's file system
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
 *
 * The parts: main.cpp is start-up (flags, listeners, privileges, threads);
 * loop.cpp a worker's connections and epoll loop (the module's conn.c and
 * tx.c); fs.cpp the file system the core asks about (fs.c, vfs.c,
 * listing.c); cache.cpp the small-file cache. This header is what more
 * than one of them needs.
 */
#pragma once

#include <limits.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../common/conn_set.h"
#include "../common/run_queue.h"
#include "cache.h"
#include "khttpd/serve.h"

namespace twin {

/* The module's constants (src/kernel/khttpd.h, conn.c, listing.c). */
struct config {
	unsigned port = 8081;
	std::string root = ".";
	unsigned threads = 0;
	bool listing = true;
	unsigned timeout_secs = 60;
	std::string bind_addr;	/* "": IPv6 and IPv4 (bind_sockaddr()) */
	size_t cache_file_max = 64 * 1024;	/* 0: no cache */
	size_t cache_max = 0;			/* per thread: --cache-size / threads */
	uid_t uid = 65534;			/* when started as root */
	gid_t gid = 65534;
};

/* Set by main() before any worker starts, read-only afterwards. */
extern config cfg;
extern int root_fd;	/* O_PATH of the root: every lookup starts here */

} // namespace twin

/*
 * A directory being listed (the core's struct khttpd_fs_dir). Owned by a
 * connection and reused: vectors keep their capacity.
 */
struct khttpd_fs_dir {
	std::vector<khttpd_dir_item> items;	/* names point into names */
	std::vector<char> names;
	size_t cursor = 0;
	char path[PATH_MAX];	/* "<dir>/<name>" scratch */
	size_t dir_len = 0;
	char buf[KHTTPD_LISTING_BUF];
};

namespace twin {

using listing = khttpd_fs_dir;

/* The staged response (the module's struct khttpd_tx); tx{} stages none. */
struct tx {
	bool busy = false;	/* staged, not all sent yet */
	size_t head_len = 0;	/* conn::head */
	size_t head_off = 0;
	int body = KHTTPD_BODY_NONE;
	int file = -1;		/* FILE: the sendfile source */
	std::shared_ptr<const blob> mem;	/* CACHED */
	uint64_t pos = 0;	/* FILE, CACHED */
	uint64_t end = 0;
	khttpd_listing_writer writer = {};	/* LISTING: conn::lst */
	bool listing_done = false;
	const char *piece = nullptr;
	size_t piece_len = 0;
	size_t piece_off = 0;
	bool close_after = false;
	bool linger = false;	/* and the client may still send */
};

struct worker;

struct conn {
	worker *w;
	int fd = -1;
	int64_t expires = 0;
	conn *prev = nullptr, *next = nullptr;	/* in worker::conns */
	conn *run_next = nullptr;		/* worker run queue */
	bool queued = false;
	bool linger = false;

	size_t rx_len = 0;
	bool rx_parsed = false;
	uint64_t discard = 0;
	struct tx tx;
	std::unique_ptr<listing> lst;	/* allocated on first listing */
	char head[KHTTPD_HEAD_SIZE];	/* the response head */
	/* The core's path scratch; a listing's title points into it. */
	char path[KHTTPD_PATH_MAX];
	char rx[KHTTPD_RX_SIZE];
};

struct worker {
	int listen_fd = -1;
	int ep = -1;
	tools::conn_set<conn> conns;	/* open, and closed for reuse */
	tools::run_queue<conn> runq;	/* spent their budget */
	file_cache cache;
	char dents[32768];		/* getdents64 buffer */
	std::thread thread;
};

/* fs.cpp: open rel beneath the root (-EXDEV if it would leave it). */
int openat2_beneath(const char *rel, uint64_t flags);

/*
 * loop.cpp: one worker thread, from registering its listener and stop_fd
 * (readable once shutdown begins) until its connections are closed.
 */
void worker_run(worker *w, int stop_fd);

} // namespace twin

/* One request's view of the file system: a connection, its slots. */
struct khttpd_fs {
	twin::conn *c;
	int fd[KHTTPD_FS_SLOTS];	/* O_PATH */
	struct stat st[KHTTPD_FS_SLOTS];
};
