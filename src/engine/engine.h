/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The engine: what a TCP server in the kernel needs whatever protocol it
 * speaks. A listening socket and the kthread that accepts on it, each
 * connection driven by work items from its socket's callbacks (receive and
 * send without ever sleeping on the client, within a budget), deadlines
 * kept by one sweeper, a connection limit that closes the oldest idle
 * connection to make room, lingering closes, counters in /proc, and an
 * rmmod that closes everything and waits for it.
 *
 * A protocol (khttpd's HTTP in src/kernel, kecho's echo in src/echo)
 * embeds struct kengine_conn at the start of its own connection and
 * implements the kengine_proto_* functions below. They are bound at link
 * time: the engine's files are compiled into each module that uses them
 * (see Kbuild), so a module holds one engine and one protocol, and the
 * engine calls its protocol without indirect calls.
 *
 * Files: listener.c (sockets, accept threads), conn.c (a connection's
 * life), tls.c (the TLS handshake upcall before a tls_port= connection
 * joins the rest), sweeper.c (deadlines), stats.c (/proc counters),
 * config.c (checks of the parameters every server has), engine.c (start
 * and stop in order).
 */
#ifndef KENGINE_H
#define KENGINE_H

#include <linux/cred.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

/* What every server is configured with (its module parameters). */
struct kengine_config {
	unsigned int port;
	bool addr_any;			/* no bind=: every address */
	struct sockaddr_storage addr;	/* bind= (if !addr_any) and port= */
	int addr_len;
	unsigned int backlog;
	unsigned int timeout_secs;	/* idle / stalled connection deadline */
	unsigned int max_conns;
	bool unbound_wq;		/* WQ_UNBOUND instead of per-CPU */
	bool steer_local;		/* local clients' work off their CPU */
	unsigned int defer_accept_secs;	/* TCP_DEFER_ACCEPT; 0: off */
	unsigned int tls_port;		/* 0: no TLS listener */
	struct sockaddr_storage tls_addr;	/* the same with tls_port= */
	unsigned int tls_timeout_secs;	/* for the handshake, agent included */
	unsigned int io_budget;		/* protocol steps per work run */
	unsigned int linger_secs;	/* a closing connection's last wait */
	size_t conn_size;		/* the protocol's connection, >= kengine_conn */
	void (*conn_ctor)(void *obj);	/* its slab constructor */
};

/* A listening socket and the thread that accepts on it. */
struct kengine_listener {
	struct kengine *eng;
	bool tls;			/* its connections start with a handshake */
	struct socket *sock;		/* NULL: not listening */
	struct sockaddr_storage addr;	/* for the start-up line */
	struct task_struct *thread;
	/* The kernel's sk_data_ready, which ours replaced on sock. */
	void (*default_data_ready)(struct sock *sk);
	/*
	 * TCP_DEFER_ACCEPT is on (kengine_listener_adapt()). Written only by
	 * the accept thread; /proc reads it with READ_ONCE().
	 */
	bool deferring;
};

/*
 * Per CPU, what kengine_conn_queue() learns of the local clients sending
 * from it. Each CPU writes only its own, from softirq, which does not nest
 * on one CPU (asserted in kengine_client_waits()).
 */
struct kengine_cpu_clients {
	/*
	 * The jiffy in which a local client last sent from this CPU. The
	 * other CPUs read it racily, as a hint, so it has its line to itself.
	 */
	unsigned long seen;
	/* This CPU's only: the last sender, and the last jiffy it slept. */
	pid_t task ____cacheline_aligned_in_smp;
	unsigned long nvcsw;		/* its voluntary switches then */
	unsigned long slept;
};

struct kengine {
	struct kengine_config cfg;
	/* Every connection's work runs as this, if set (see kengine_conn_io_work). */
	const struct cred *cred;
	struct kengine_listener listener;	/* port= */
	struct kengine_listener tls_listener;	/* tls_port=, if set */
	struct workqueue_struct *wq;
	struct kmem_cache *conn_cache;
	struct delayed_work sweep_work;
	/* Resubmits handshakes the kernel's full queue refused (tls.c). */
	struct delayed_work tls_retry_work;
	int next_cpu;			/* home of the next local connection */
	struct kengine_cpu_clients __percpu *clients;

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

enum kengine_conn_flags {
	KENGINE_CONN_CLOSING,	/* release queued */
	KENGINE_CONN_LINGER,	/* output done, write side shut, draining */
	KENGINE_CONN_IDLE,	/* between requests: may be closed for room */
	KENGINE_CONN_TLS,	/* came in on tls_port: kTLS carries its bytes */
	/*
	 * The handshake upcall owes this connection its done callback; the
	 * callback clears it (with a wake-up) as its very last touch of the
	 * connection, so release waits for it (tls.c).
	 */
	KENGINE_CONN_HANDSHAKE,
	KENGINE_CONN_HANDSHAKE_DONE,	/* tls_status is set: io_work reads it */
	KENGINE_CONN_HANDSHAKE_RETRY,	/* the queue was full: resubmit */
	/*
	 * The handshake's outcome is counted: by io_work reading the agent's
	 * report, or by the sweeper closing the connection before that, as
	 * timed out. Both can happen; whoever sets this counts.
	 */
	KENGINE_CONN_HANDSHAKE_COUNTED,
	/*
	 * The accept thread is answering the first request itself, outside
	 * the workqueue, where cancel_work_sync() cannot wait for it; it
	 * clears this (with a wake-up) as its last touch of the connection,
	 * and release waits for it (conn.c).
	 */
	KENGINE_CONN_FIRST_RUN,
};

struct kengine_conn {
	struct kengine *eng;
	/*
	 * sock is NULL only after kengine_conn_sock_file() failed, which
	 * released it; sk, held from accept to release, outlives it.
	 * sock_file is made on first use (kengine_conn_sock_file()) and then
	 * owns sock.
	 */
	struct socket *sock;
	struct sock *sk;
	struct file *sock_file;
	struct work_struct io_work;
	struct work_struct release_work;
	struct list_head node;		/* on eng->conns, under conns_lock */
	unsigned long flags;
	unsigned long expires;		/* jiffies; read by the sweeper */
	int home_cpu;			/* a local client's: see kengine_conn_queue() */
	int tls_status;			/* the handshake's result, 0 or -errno */

	/* The client's address and port, for tracepoints; set at accept. */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
};

enum kengine_step {
	KENGINE_STEP_PROGRESS,	/* moved bytes; step again */
	KENGINE_STEP_STAGED,	/* staged more to send, moved nothing */
	KENGINE_STEP_WAIT,	/* would block: a socket callback requeues us */
	KENGINE_STEP_CLOSE,	/* done with this connection */
};

/*
 * What the protocol implements. All but the last two run on the engine's
 * workqueue, one at a time per connection (io_work never runs twice at
 * once, and release waits it out).
 */

/* A new connection: set the protocol's fields. */
void kengine_proto_conn_init(struct kengine_conn *conn);
/* Receive, parse, send: one step of the protocol. */
enum kengine_step kengine_proto_step(struct kengine_conn *conn);
/*
 * The work would block: give back what waiting does not need. Returns
 * whether the connection is idle between requests (max_conns may close it).
 */
bool kengine_proto_wait(struct kengine_conn *conn);
/*
 * The connection is going: free what it holds. Called at the end of the
 * work run that closes it, and again by the release work once callbacks
 * are restored, so a second call must find nothing to do.
 */
void kengine_proto_conn_release(struct kengine_conn *conn);
/* Accept thread, under conns_lock: for the protocol's tracepoint. */
void kengine_proto_conn_opened(struct kengine_conn *conn, unsigned int nconns);
/* Release work, before the connection is freed: likewise. */
void kengine_proto_conn_closed(struct kengine_conn *conn);
/* A tls_port= connection's handshake ended (status 0 or -errno): likewise. */
void kengine_proto_tls_done(struct kengine_conn *conn, int status,
			    unsigned int usecs);
/* The protocol's lines in /proc/<module>, after the engine's. */
void kengine_proto_stats_show(struct seq_file *m);

/*
 * engine.c: start everything (connections, workqueue, counters, sweeper,
 * and last the listener), and stop it in reverse, closing every
 * connection and waiting for them. eng->cfg (and eng->cred) are set first.
 */
int kengine_start(struct kengine *eng);
void kengine_stop(struct kengine *eng);

/* conn.c */
int kengine_conns_init(struct kengine *eng);
void kengine_conns_exit(struct kengine *eng);
void kengine_conn_start(struct kengine_listener *l, struct socket *sock);
bool kengine_conn_attach(struct kengine_conn *conn);
void kengine_conn_schedule_release(struct kengine_conn *conn);
void kengine_conns_expire(struct kengine *eng);
void kengine_conns_close_all(struct kengine *eng);
int kengine_conn_recv(struct kengine_conn *conn, void *buf, size_t len,
		      int flags);
void kengine_conn_touch(struct kengine_conn *conn, unsigned long timeout);
bool kengine_conn_linger(struct kengine_conn *conn, bool more_input);
struct file *kengine_conn_sock_file(struct kengine_conn *conn);

/* listener.c */
int kengine_listener_start(struct kengine *eng, struct kengine_listener *l,
			   const struct sockaddr_storage *bind_addr,
			   bool tls);
void kengine_listener_stop(struct kengine_listener *l);
void kengine_listener_disown(struct kengine_listener *l, struct sock *sk);

/* tls.c: the handshake upcall (net/handshake) and its results. */
int kengine_tls_init(struct kengine *eng);
void kengine_tls_exit(struct kengine *eng);
void kengine_tls_start(struct kengine_conn *conn);
bool kengine_tls_finish(struct kengine_conn *conn);
void kengine_tls_cancel(struct kengine_conn *conn);
void kengine_tls_close_notify(struct kengine_conn *conn);

/* sweeper.c */
void kengine_sweeper_start(struct kengine *eng);
void kengine_sweeper_stop(struct kengine *eng);

/*
 * config.c: the parameters every server has (port=, bind=, backlog=,
 * timeout=, max_conns=, unbound_wq=, steer=, defer_accept=, tls_port=,
 * tls_timeout=), checked, into
 * cfg; and the check of a protocol's own numeric parameters.
 */
int kengine_config_load(struct kengine_config *cfg);
int kengine_config_range(const char *name, unsigned int val,
			 unsigned int min, unsigned int max);

/* stats.c */
enum kengine_stat {
	KENGINE_STAT_ACCEPTED,
	KENGINE_STAT_REFUSED,
	KENGINE_STAT_IDLE_CLOSED,
	KENGINE_STAT_CLOSED,
	KENGINE_STAT_TIMED_OUT,
	KENGINE_STAT_TLS_HANDSHAKES,
	KENGINE_STAT_TLS_OK,
	KENGINE_STAT_TLS_FAILED,
	KENGINE_STAT_TLS_TIMED_OUT,
	KENGINE_STAT_TLS_NO_AGENT,
	KENGINE_STAT_TLS_QUEUE_FULL,
	KENGINE_STAT_TLS_BYTES_RECEIVED,
	KENGINE_STAT_STEERED,
	KENGINE_STAT_STAYED,
	KENGINE_STAT_MAX
};

DECLARE_PER_CPU(u64, kengine_stats[KENGINE_STAT_MAX]);

static inline void kengine_stat_inc(enum kengine_stat stat)
{
	this_cpu_inc(kengine_stats[stat]);
}

static inline void kengine_stat_add(enum kengine_stat stat, u64 n)
{
	this_cpu_add(kengine_stats[stat], n);
}

int kengine_stats_init(struct kengine *eng);
void kengine_stats_exit(void);
/* "name value" lines of a per-CPU table of counters, summed over CPUs. */
void kengine_stats_print(struct seq_file *m, const char *const *names,
			 u64 __percpu *table, int n);

#endif /* KENGINE_H */
