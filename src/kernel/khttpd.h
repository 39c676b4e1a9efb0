/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces between the module's C files. One concern per file:
 *   main.c      orders init and exit
 *   config.c    module parameters and their validation
 *   creds.c     the unprivileged credential requests are served with
 *   conn.c      one HTTP connection on the engine: receive, plan, send
 *   tx.c        sends a planned response: its head, then its body by kind
 *   fs.c        the core's file system: lookups, opening a body
 *   listing.c   reads a directory for a listing
 *   cache.c     response cache for small files
 *   date.c      the Date header, formatted once a second
 *   stats.c     HTTP's counters in /proc/khttpd
 *   vfs.c       resolves request paths beneath the document root
 * The listener, the connections' work, deadlines and the engine's counters
 * are the engine's (src/engine/engine.h), shared with kecho.
 */
#ifndef KHTTPD_H
#define KHTTPD_H

#include <linux/limits.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/path.h>
#include <linux/percpu.h>
#include <linux/stat.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/socket.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "engine.h"
#include "khttpd/serve.h"

/* What HTTP adds to the engine's configuration (struct kengine_config). */
struct khttpd_config {
	kuid_t uid;			/* files are read as uid:gid */
	kgid_t gid;
	const char *root;
	bool listing;			/* directory listings (else 403) */
	size_t cache_bytes;		/* 0: no response cache */
	size_t cache_file_max;		/* largest file cached */
};

struct khttpd_cache {
	/* lock serialises writers; readers walk buckets under RCU. */
	spinlock_t lock;
	struct hlist_head *buckets;	/* NULL: cache disabled */
	struct list_head clock;		/* eviction order, under lock */
	/*
	 * Page bytes of every live entry (in the table, being filled, or
	 * evicted but still sent from): raised only under lock, lowered
	 * without it when an entry is freed. Never above max_bytes.
	 */
	atomic_long_t bytes;
	size_t table_bytes;		/* of entries in the table, under lock */
	unsigned int entries;		/* under lock */
	size_t max_bytes;
	size_t max_file;
	struct shrinker *shrinker;
};

struct khttpd_server {
	struct kengine eng;		/* listener, connections, counters */
	struct khttpd_config cfg;
	struct path root;
	struct kmem_cache *buf_cache;	/* a request's buffers (conn.c) */
	struct khttpd_cache cache;
};

/* config.c */
int khttpd_config_load(struct khttpd_server *srv);

/* creds.c */
int khttpd_creds_init(struct khttpd_server *srv);
void khttpd_creds_exit(struct khttpd_server *srv);

/* conn.c */
void khttpd_conns_config(struct kengine_config *cfg);
int khttpd_conns_init(struct khttpd_server *srv);
void khttpd_conns_exit(struct khttpd_server *srv);

/* vfs.c */
int khttpd_vfs_root_open(const char *name, const struct cred *cred,
			 struct path *root);
int khttpd_vfs_lookup_stat(const struct path *root, const char *rel,
			   struct path *out, struct kstat *stat);

/* What the core calls an inode of this mode. */
static inline int khttpd_node_type(umode_t mode)
{
	return S_ISREG(mode) ? KHTTPD_NODE_FILE :
	       S_ISDIR(mode) ? KHTTPD_NODE_DIR : KHTTPD_NODE_OTHER;
}

struct khttpd_cache_entry;

/*
 * A response being sent, as khttpd_serve_next() planned it and the
 * khttpd_fs_* calls it made staged it: head[head_off..head_len) first,
 * then the body of kind body. Memory sent with the rest of the head, in
 * the same sendmsg, is piece[piece_off..piece_len): a cached file that
 * fits in one page, or a listing's current piece.
 */
struct khttpd_tx {
	char head[KHTTPD_HEAD_SIZE];
	size_t head_len;
	size_t head_off;
	enum khttpd_body body;
	union {
		struct {		/* KHTTPD_BODY_FILE: spliced */
			struct file *file;
			loff_t pos;
			loff_t end;
		} file;
		struct {		/* KHTTPD_BODY_CACHED: its pages, zero-copy */
			struct khttpd_cache_entry *entry;	/* a reference */
			u64 pos;
			u64 end;
		} cached;
		struct {		/* KHTTPD_BODY_LISTING: piece by piece */
			struct khttpd_fs_dir *dir;
			struct khttpd_listing_writer writer;
		} listing;
	};
	const char *piece;
	size_t piece_len;
	size_t piece_off;
	bool close_after;	/* close once this response is out */
	bool linger;		/* and the client may still send: see plan */
	bool tls;		/* kTLS carries it: counted as tls_bytes_sent */
	int status;		/* for tracing */
	char date[KHTTPD_DATE_LEN];
	/*
	 * Scratch for the request's path while it is resolved, and a
	 * listing's title while it is sent: part of the connection so that
	 * serving a request allocates nothing.
	 */
	char path[KHTTPD_PATH_MAX];
};

/* One request's view of the file system, for the core (fs.c). */
struct khttpd_fs {
	struct khttpd_server *srv;
	struct khttpd_tx *tx;		/* where an opened body is staged */
	struct path path[KHTTPD_FS_SLOTS];
	struct kstat stat[KHTTPD_FS_SLOTS];
};

/* tx.c */
enum kengine_step khttpd_tx_send(struct khttpd_tx *tx,
				struct kengine_conn *conn);
bool khttpd_tx_done(const struct khttpd_tx *tx);
u64 khttpd_tx_body_bytes(const struct khttpd_tx *tx);
void khttpd_tx_init(struct khttpd_tx *tx);
void khttpd_tx_hold_tls_end(const struct khttpd_tx *tx, struct sock *sk);
void khttpd_tx_release(struct khttpd_tx *tx);

/* listing.c */
struct khttpd_fs_dir *khttpd_listing_read(struct khttpd_server *srv,
					  const struct path *path,
					  const char *rel);
bool khttpd_listing_next(struct khttpd_fs_dir *dir,
			 struct khttpd_listing_writer *w, const char **piece,
			 size_t *len);
void khttpd_listing_free(struct khttpd_fs_dir *dir);

/* cache.c */
int khttpd_cache_init(struct khttpd_cache *cache, size_t max_bytes,
		      size_t max_file);
void khttpd_cache_exit(struct khttpd_cache *cache);
struct khttpd_cache_entry *khttpd_cache_get(struct khttpd_cache *cache,
					    const char *key, size_t len,
					    const struct path *path,
					    const struct kstat *stat);
struct khttpd_cache_entry *khttpd_cache_fill(struct khttpd_cache *cache,
					     const char *key, size_t len,
					     const struct path *path,
					     const struct kstat *stat);
struct page *khttpd_cache_page(const struct khttpd_cache_entry *e, u64 off,
			       unsigned int *page_off);
void khttpd_cache_put(struct khttpd_cache_entry *e);

/* stats.c */
enum khttpd_stat {
	KHTTPD_STAT_NO_MEMORY,
	KHTTPD_STAT_REQUESTS,
	KHTTPD_STAT_BAD_REQUESTS,
	KHTTPD_STAT_STATUS_2XX,
	KHTTPD_STAT_STATUS_3XX,
	KHTTPD_STAT_STATUS_4XX,
	KHTTPD_STAT_STATUS_5XX,
	KHTTPD_STAT_CACHE_HITS,
	KHTTPD_STAT_CACHE_MISSES,
	KHTTPD_STAT_CACHE_SHRUNK,
	KHTTPD_STAT_SPLICED_BYTES,
	KHTTPD_STAT_MEMORY_BYTES,
	KHTTPD_STAT_TLS_BYTES_SENT,
	KHTTPD_STAT_MAX
};

DECLARE_PER_CPU(u64, khttpd_stats[KHTTPD_STAT_MAX]);

static inline void khttpd_stat_add(enum khttpd_stat stat, u64 n)
{
	this_cpu_add(khttpd_stats[stat], n);
}

static inline void khttpd_stat_inc(enum khttpd_stat stat)
{
	this_cpu_inc(khttpd_stats[stat]);
}


/* date.c */
time64_t khttpd_date_now(char out[KHTTPD_DATE_LEN]);

#endif /* KHTTPD_H */
