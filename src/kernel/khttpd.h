/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces between the module's C files. One concern per file:
 *   main.c      orders init and exit
 *   config.c    module parameters and their validation
 *   creds.c     the unprivileged credential requests are served with
 *   listener.c  listening socket and the accept kthread
 *   conn.c      one connection: socket callbacks, the I/O work, release
 *   tx.c        sends a planned response: its head, then its body by kind
 *   sweeper.c   idle-connection timeouts
 *   fs.c        the core's file system: lookups, opening a body
 *   listing.c   reads a directory for a listing
 *   cache.c     response cache for small files
 *   date.c      the Date header, formatted once a second
 *   stats.c     counters in /proc/khttpd
 *   vfs.c       resolves request paths beneath the document root
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

#include "khttpd/serve.h"

struct khttpd_config {
	unsigned int port;
	bool addr_any;			/* no bind=: every address */
	struct sockaddr_storage addr;	/* bind= with the port, if !addr_any */
	int addr_len;
	kuid_t uid;			/* files are read as uid:gid */
	kgid_t gid;
	unsigned int backlog;
	const char *root;
	unsigned int timeout_secs;	/* idle keep-alive / header timeout */
	unsigned int max_conns;
	bool listing;			/* directory listings (else 403) */
	bool unbound_wq;		/* WQ_UNBOUND instead of per-CPU */
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
	struct khttpd_config cfg;
	const struct cred *cred;	/* for every file access; creds.c */
	struct path root;
	struct socket *listen_sock;
	struct sockaddr_storage listen_addr;	/* for the start-up line */
	struct task_struct *accept_thread;
	struct workqueue_struct *wq;
	struct kmem_cache *conn_cache;
	struct kmem_cache *buf_cache;	/* a request's buffers (conn.c) */
	struct delayed_work sweep_work;
	struct khttpd_cache cache;

	/*
	 * conns_lock protects conns and nconns. Taken only in process context
	 * (accept kthread, release work, sweeper, module exit), never from
	 * socket callbacks, which reach a connection via sk_user_data under
	 * sk_callback_lock instead.
	 */
	struct mutex conns_lock;
	struct list_head conns;
	unsigned int nconns;
	wait_queue_head_t conns_empty;	/* woken when nconns drops to 0 */
};

/* config.c */
int khttpd_config_load(struct khttpd_config *cfg);

/* creds.c */
int khttpd_creds_init(struct khttpd_server *srv);
void khttpd_creds_exit(struct khttpd_server *srv);

/* listener.c */
int khttpd_listener_start(struct khttpd_server *srv);
void khttpd_listener_stop(struct khttpd_server *srv);

/* conn.c */
int khttpd_conns_init(struct khttpd_server *srv);
void khttpd_conns_close_all(struct khttpd_server *srv);
void khttpd_conns_exit(struct khttpd_server *srv);
void khttpd_conn_start(struct khttpd_server *srv, struct socket *sock);
void khttpd_conns_expire(struct khttpd_server *srv);

/* sweeper.c */
void khttpd_sweeper_start(struct khttpd_server *srv);
void khttpd_sweeper_stop(struct khttpd_server *srv);

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
		struct {		/* KHTTPD_BODY_CACHED: page by page */
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

enum khttpd_step {
	KHTTPD_STEP_PROGRESS,	/* moved bytes; step again */
	KHTTPD_STEP_STAGED,	/* staged more to send, moved nothing */
	KHTTPD_STEP_WAIT,	/* would block: a socket callback requeues us */
	KHTTPD_STEP_CLOSE,	/* done with this connection */
};

/* tx.c */
enum khttpd_step khttpd_tx_send(struct khttpd_tx *tx, struct socket *sock,
				struct file *sock_file);
bool khttpd_tx_done(const struct khttpd_tx *tx);
u64 khttpd_tx_body_bytes(const struct khttpd_tx *tx);
void khttpd_tx_init(struct khttpd_tx *tx);
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
	KHTTPD_STAT_ACCEPTED,
	KHTTPD_STAT_REFUSED,
	KHTTPD_STAT_IDLE_CLOSED,
	KHTTPD_STAT_CLOSED,
	KHTTPD_STAT_TIMED_OUT,
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

int khttpd_stats_init(struct khttpd_server *srv);
void khttpd_stats_exit(void);

/* date.c */
void khttpd_date_now(char out[KHTTPD_DATE_LEN]);

#endif /* KHTTPD_H */
