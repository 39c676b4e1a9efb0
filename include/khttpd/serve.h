/* SPDX-License-Identifier: GPL-2.0 */
/*
 * From a request to a response plan: the one implementation of what khttpd
 * answers, shared by the module and the userspace twin.
 *
 * khttpd_serve_next() parses the next request in a connection's receive
 * buffer and decides everything about its answer: method dispatch,
 * 301/403/404/405/501, index.html, gzip variants, validators and ranges,
 * listing policy, error pages. It writes the response head and returns a
 * plan (struct khttpd_plan) whose body is one of four kinds. The transport
 * (the module's C, the twin's epoll loop) then only moves bytes: it sends
 * the head and the body the plan names, and releases it.
 *
 * The core needs a few facts from the file system, and asks for them
 * through the khttpd_fs_* functions below, which each transport implements
 * once (src/kernel/fs.c, tools/twin/fs.cpp, and a fake in the unit tests).
 * They are bound at link time: the module pays no indirect calls.
 *
 * Like the rest of the core: no allocation, no state between calls; all
 * memory is the caller's.
 */
#ifndef KHTTPD_SERVE_H
#define KHTTPD_SERVE_H

#include "khttpd/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes and limits both servers share. */
#define KHTTPD_RX_SIZE 8192		/* largest request head (414/431 beyond) */
#define KHTTPD_HEAD_SIZE 2048		/* response head, or an error page */
#define KHTTPD_IO_BUDGET 64		/* steps per I/O run before yielding */
#define KHTTPD_SEND_CHUNK (512 * 1024)	/* file bytes per splice/sendfile */
#define KHTTPD_DISCARD_MAX (64 * 1024)	/* request body read and dropped */
#define KHTTPD_LINGER_SECS 5		/* closing: wait for the client's FIN */
#define KHTTPD_LISTING_BUF 8192		/* one piece of a listing */
#define KHTTPD_LISTING_MAX_ENTRIES 200000	/* per listing (memory bound) */
/* Largest cache fill that may evict; larger ones take free room only. */
#define KHTTPD_CACHE_EVICTING_MAX (64 * 1024)
/* Path scratch: the longest path, and room for the suffixes appended. */
#define KHTTPD_PATH_MAX 4096

/*
 * The errno values the core tells apart. Linux numbers them the same in
 * the kernel and in userspace; each transport checks these at build time.
 */
#define KHTTPD_EPERM 1
#define KHTTPD_ENOENT 2
#define KHTTPD_ENOMEM 12
#define KHTTPD_EACCES 13
#define KHTTPD_EXDEV 18
#define KHTTPD_ENOTDIR 20
#define KHTTPD_ENAMETOOLONG 36
#define KHTTPD_ELOOP 40

/* ---- what the core asks of a transport ------------------------------- */

/* One transport's request context; opaque to the core. */
struct khttpd_fs;
/* A directory being listed; opaque to the core. */
struct khttpd_fs_dir;

enum khttpd_node_type {
	KHTTPD_NODE_OTHER = 0,	/* FIFO, device, socket: never served */
	KHTTPD_NODE_FILE,
	KHTTPD_NODE_DIR,
};

/* What a lookup learns about a path beneath the root. */
struct khttpd_node {
	int type;		/* enum khttpd_node_type */
	/*
	 * The serving user may read it (mode bits, ACLs, LSMs: the check
	 * open(2) makes).
	 */
	int readable;
	/*
	 * The magic number of the file system it is on (statfs's f_type):
	 * the core serves no file from the kernel's pseudo file systems.
	 */
	uint64_t fs_magic;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/*
 * During one khttpd_serve_next() the core holds at most this many looked-up
 * paths at once (a directory and its index.html; a file and its .gz).
 */
#define KHTTPD_FS_SLOTS 2

/*
 * Look rel (NUL-terminated, relative to the root, "" for the root itself)
 * up beneath the root, following symlinks that stay beneath it, as the
 * serving user. On success (0) the transport holds the path in slot until
 * khttpd_fs_put(), khttpd_fs_open() or khttpd_fs_opendir() consumes it;
 * on failure (-errno: -ENOENT, -EXDEV for a path leaving the root...) the
 * slot is empty.
 */
int khttpd_fs_lookup(struct khttpd_fs *fs, int slot, const char *rel,
		     struct khttpd_node *node);
void khttpd_fs_put(struct khttpd_fs *fs, int slot);

/* What khttpd_fs_open() made of a file. */
enum khttpd_body {
	KHTTPD_BODY_NONE = 0,	/* the head says it all */
	KHTTPD_BODY_FILE,	/* bytes of a file, sent zero-copy */
	KHTTPD_BODY_CACHED,	/* the same bytes, from the response cache */
	KHTTPD_BODY_LISTING,	/* pieces from khttpd_listing_write() */
};

/*
 * Make bytes [range->first, range->last] of the file in slot (described
 * by node) the response's body. key (key_len bytes, NUL-terminated) names
 * the file beneath the root for a cache. Returns KHTTPD_BODY_FILE or
 * KHTTPD_BODY_CACHED, or -errno. Consumes the slot either way.
 */
int khttpd_fs_open(struct khttpd_fs *fs, int slot, const char *key,
		   size_t key_len, const struct khttpd_node *node,
		   const struct khttpd_range *range);

/*
 * Read the directory in slot (rel names it, as for khttpd_fs_lookup) to
 * be the response's listing body; the transport keeps the entries and
 * hands them to khttpd_listing_write() through khttpd_fs_dir_peek().
 * Names starting with '.' are left out. Returns 0 or -errno (-ENOMEM
 * included). Consumes the slot either way.
 */
int khttpd_fs_opendir(struct khttpd_fs *fs, int slot, const char *rel);

/*
 * The next entry to list, in khttpd_dir_item_cmp()'s order, without
 * consuming it: 1 with *entry filled (valid until the next call), 0 when
 * none is left. The transport completes each entry with
 * khttpd_dir_item_look_up() when its turn comes and skips the hidden ones.
 */
int khttpd_fs_dir_peek(struct khttpd_fs_dir *dir,
		       struct khttpd_listing_entry *entry);
void khttpd_fs_dir_advance(struct khttpd_fs_dir *dir);

/*
 * rel (as for khttpd_fs_lookup) looked up for a listing's entry: 0 with
 * node's type, size and mtime filled, or -errno. Nothing is held after.
 */
int khttpd_fs_dir_lookup(struct khttpd_fs_dir *dir, const char *rel,
			 struct khttpd_node *node);

/*
 * One directory entry, held by the transport from the read to the listing.
 * The transport sets entry.name (NUL-terminated after its len bytes) and,
 * from readdir's type, entry.is_dir or type_unknown (a symlink, or a file
 * system that gives no type); the rest is zero.
 */
struct khttpd_dir_item {
	struct khttpd_listing_entry entry;
	uint8_t type_unknown;	/* look it up before sorting */
	uint8_t looked_up;	/* entry's is_dir, size and mtime are known */
	uint8_t hidden;		/* does not resolve beneath the root: unlisted */
};

/*
 * Complete item, once, by looking "<dir>/<name>" up through
 * khttpd_fs_dir_lookup(). path holds the directory's name (dir_len bytes,
 * as the request named it beneath the root) in KHTTPD_PATH_MAX bytes of
 * room; it is used as scratch and left as it was.
 */
void khttpd_dir_item_look_up(struct khttpd_fs_dir *dir, char *path,
			     size_t dir_len, struct khttpd_dir_item *item);

/* The listing's order (<0, 0, >0): directories first, then by name bytes. */
int khttpd_dir_item_cmp(const struct khttpd_dir_item *a,
			const struct khttpd_dir_item *b);

/* ---- the listing, streamed -------------------------------------------- */

/*
 * Where a listing's page is; the caller keeps it with the response
 * (khttpd_plan::listing) and passes it back for each piece.
 */
struct khttpd_listing_writer {
	int state;
	int chunked;		/* HTTP/1.1: chunked; 1.0: ends with close */
	/* The heading, "/" or "/a/b/": points into the request's path scratch. */
	struct khttpd_str title;
};

/*
 * Write the listing's next piece into buf (KHTTPD_LISTING_BUF bytes),
 * pulling entries from dir; *piece is set to where it starts in buf.
 * Returns its length; 0 once the whole body has been handed out. Every
 * call before the end returns a piece: the title is shortened to fit, and
 * an entry too large for an empty buffer (a name longer than NAME_MAX) is
 * skipped.
 */
size_t khttpd_listing_write(struct khttpd_listing_writer *w,
			    struct khttpd_fs_dir *dir, char *buf,
			    const char **piece);

/* ---- one request ----------------------------------------------------- */

/* What the caller lends khttpd_serve_next() for one request. */
struct khttpd_serve_env {
	struct khttpd_fs *fs;
	char *head;		/* KHTTPD_HEAD_SIZE bytes: the response head */
	/*
	 * KHTTPD_PATH_MAX bytes of scratch for the request's path; a
	 * listing's title points into it, so it must outlive the body.
	 */
	char *path;
	const char *date;	/* KHTTPD_DATE_LEN bytes, the current Date */
	/*
	 * The Date's time in seconds: a file modified later (its clock ahead
	 * of ours, or touched into the future) is sent with this as its
	 * Last-Modified, which RFC 9110 8.8.2.1 requires; and a Last-Modified
	 * of the current second is too weak for an If-Range date to match.
	 */
	int64_t now;
	int listing;		/* list directories without index.html */
};

/* The response decided for one request. */
struct khttpd_plan {
	int status;
	size_t head_len;	/* head[0..head_len): everything for NONE */
	int close_after;	/* close once the response is out */
	/*
	 * With close_after: the client may still send (a body, a next
	 * request, the rest of a malformed head), so closing over its input,
	 * which makes TCP answer with a reset that can destroy the response,
	 * must wait until it hangs up. 0 when it asked to close and sent no
	 * body: then nothing more should come, and the connection can close
	 * at once.
	 */
	int linger;
	int body;		/* enum khttpd_body */
	struct khttpd_range range;		/* FILE, CACHED */
	struct khttpd_listing_writer listing;	/* LISTING */
	int bad_request;	/* the head was malformed (400-family) */
	uint64_t discard;	/* request body bytes to read and drop */
	/* An errno the core did not expect, answered with 500; 0 if none. */
	int fs_error;
};

/*
 * Serve the request at the start of rx[0..len), a buffer of cap bytes.
 * Returns 0 when the head is incomplete and the buffer has room for more
 * (nothing planned); otherwise the number of bytes of rx the head used,
 * with *plan decided and *req describing the request (its views point
 * into rx; after a malformed head, req->method is KHTTPD_METHOD_UNKNOWN
 * and every view is empty).
 */
size_t khttpd_serve_next(const struct khttpd_serve_env *env, const char *rx,
			 size_t len, size_t cap, struct khttpd_request *req,
			 struct khttpd_plan *plan);

/* Plan an error response, for a request (req) or without one (NULL). */
void khttpd_serve_error(const struct khttpd_serve_env *env,
			const struct khttpd_request *req, int status,
			struct khttpd_plan *plan);

#ifdef __cplusplus
}
#endif

#endif /* KHTTPD_SERVE_H */
