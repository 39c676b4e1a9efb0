// SPDX-License-Identifier: GPL-2.0
/*
 * drop_tcp_socket: free a TCP port that connections of a dead (or
 * unloaded) server still hold, so that the server can listen on it again.
 *
 *	echo 127.0.0.1:8081 > /proc/net/drop_tcp_socket
 *	echo '[::1]:8081'   > /proc/net/drop_tcp_socket
 *	echo :8081          > /proc/net/drop_tcp_socket	(any local address)
 *
 * drops every TCP socket of the initial network namespace whose local
 * address and port match: established and closing connections (orphans
 * included), TIME_WAIT and SYN_RECV ones. Listeners are left alone: a
 * listener has an owner that may well be running (a loaded khttpd), and
 * closing it under that owner is for `ss -K` with an explicit filter. An
 * IPv4 address also matches IPv4 clients of a dual-stack IPv6 socket
 * ([::ffff:127.0.0.1]). Bad input is refused with -EINVAL.
 *
 * Where the kernel has CONFIG_INET_DIAG_DESTROY (Debian's do), `ss -K`
 * drops the same sockets and prefers no module; this is for kernels
 * without it, and says "this port" in one line, listeners spared.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/inet_timewait_sock.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/request_sock.h>
#include <net/tcp.h>

#define DTS_INPUT_MAX	64	/* "[ffff:...:ffff%scope]:65535" fits */
/*
 * Sockets taken from one hash bucket per pass. They are dropped with the
 * bucket's lock released (tcp_abort() sleeps), so they are held by
 * reference meanwhile; a bucket holding more is walked again.
 */
#define DTS_BATCH	16

struct dts_target {
	bool any_addr;
	int family;
	__be32 v4;
	struct in6_addr v6;
	u16 port;
};

struct dts_counts {
	unsigned int established;	/* and every other full-socket state */
	unsigned int time_wait;
	unsigned int syn_recv;
};

static int dts_parse(char *s, struct dts_target *t)
{
	const char *end;
	char *colon;
	size_t alen;

	memset(t, 0, sizeof(*t));
	colon = strrchr(s, ':');
	if (!colon || kstrtou16(colon + 1, 10, &t->port) || !t->port)
		return -EINVAL;
	alen = colon - s;
	if (!alen) {
		t->any_addr = true;
		return 0;
	}
	if (s[0] == '[') {
		/* "[addr]:port": the bracket must close right before ':'. */
		if (alen < 3 || s[alen - 1] != ']')
			return -EINVAL;
		if (!in6_pton(s + 1, alen - 2, t->v6.s6_addr, -1, &end) ||
		    end != s + alen - 1)
			return -EINVAL;
		t->family = AF_INET6;
		t->any_addr = ipv6_addr_any(&t->v6);
		return 0;
	}
	if (!in4_pton(s, alen, (u8 *)&t->v4, -1, &end) || end != colon)
		return -EINVAL;
	t->family = AF_INET;
	t->any_addr = !t->v4;
	return 0;
}

/* Works on full, TIME_WAIT and request sockets alike: sock_common only. */
static bool dts_match(const struct sock *sk, const struct dts_target *t)
{
	if (!net_eq(sock_net(sk), &init_net) || sk->sk_num != t->port)
		return false;
	if (t->any_addr)
		return true;
	if (t->family == AF_INET) {
		if (sk->sk_family == AF_INET)
			return sk->sk_rcv_saddr == t->v4;
#if IS_ENABLED(CONFIG_IPV6)
		return sk->sk_family == AF_INET6 &&
		       ipv6_addr_v4mapped(&sk->sk_v6_rcv_saddr) &&
		       sk->sk_v6_rcv_saddr.s6_addr32[3] == t->v4;
#else
		return false;
#endif
	}
#if IS_ENABLED(CONFIG_IPV6)
	return sk->sk_family == AF_INET6 &&
	       ipv6_addr_equal(&sk->sk_v6_rcv_saddr, &t->v6);
#else
	return false;
#endif
}

/* Drops sk; the caller's reference is released here. */
static void dts_drop(struct sock *sk, struct dts_counts *n)
{
	switch (sk->sk_state) {
	case TCP_TIME_WAIT:
		/*
		 * Not through tcp_abort(), whose handling of TIME_WAIT and
		 * request sockets, and of the references they hold, changed
		 * over the years; these calls mean the same on every kernel.
		 * inet_twsk_deschedule_put() unhashes it (freeing the port)
		 * and drops the reference we hold.
		 */
		local_bh_disable();
		inet_twsk_deschedule_put(inet_twsk(sk));
		local_bh_enable();
		n->time_wait++;
		return;
	case TCP_NEW_SYN_RECV:
		local_bh_disable();
		inet_csk_reqsk_queue_drop(inet_reqsk(sk)->rsk_listener,
					  inet_reqsk(sk));
		local_bh_enable();
		n->syn_recv++;
		break;
	default:
		/*
		 * What `ss -K` does: an owner sees ECONNABORTED, the peer a
		 * RST; an orphan (FIN_WAIT1 with unsent data, LAST_ACK, ...)
		 * is simply gone.
		 */
		tcp_abort(sk, ECONNABORTED);
		n->established++;
		break;
	}
	sock_gen_put(sk);
}

/*
 * Takes up to DTS_BATCH matching sockets of bucket i, each with a
 * reference; sets *more when the bucket holds others still.
 */
static unsigned int dts_collect(struct inet_hashinfo *hinfo, unsigned int i,
				const struct dts_target *t, struct sock **batch,
				bool *more)
{
	struct inet_ehash_bucket *head = &hinfo->ehash[i];
	spinlock_t *lock = inet_ehash_lockp(hinfo, i);
	struct hlist_nulls_node *node;
	unsigned int count = 0;
	struct sock *sk;

	*more = false;
	if (hlist_nulls_empty(&head->chain))
		return 0;
	spin_lock_bh(lock);
	sk_nulls_for_each(sk, node, &head->chain) {
		if (!dts_match(sk, t))
			continue;
		if (count == DTS_BATCH) {
			*more = true;
			break;
		}
		/* Zero: it is being freed already. */
		if (refcount_inc_not_zero(&sk->sk_refcnt))
			batch[count++] = sk;
	}
	spin_unlock_bh(lock);
	return count;
}

static void dts_drop_matching(const struct dts_target *t, struct dts_counts *n)
{
	struct inet_hashinfo *hinfo = init_net.ipv4.tcp_death_row.hashinfo;
	struct sock *batch[DTS_BATCH];
	unsigned int i, j, count, passes;
	bool more;

	for (i = 0; i <= hinfo->ehash_mask; i++) {
		/*
		 * Dropped sockets leave the bucket, so each pass makes
		 * progress; the bound only guards against a bucket that
		 * connections keep arriving in faster than they go.
		 */
		passes = 0;
		do {
			count = dts_collect(hinfo, i, t, batch, &more);
			for (j = 0; j < count; j++)
				dts_drop(batch[j], n);
			cond_resched();
		} while (more && ++passes < 1024);
	}
}

static ssize_t dts_write(struct file *file, const char __user *ubuf,
			 size_t len, loff_t *ppos)
{
	char buf[DTS_INPUT_MAX + 1];
	struct dts_target t;
	struct dts_counts n = { };
	char *s;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (len > DTS_INPUT_MAX) {
		pr_warn_ratelimited("input longer than %d bytes refused\n",
				    DTS_INPUT_MAX);
		return -EINVAL;
	}
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	s = strim(buf);
	if (dts_parse(s, &t)) {
		pr_warn_ratelimited("'%s' refused: want ADDR:PORT, [ADDR6]:PORT or :PORT\n",
				    s);
		return -EINVAL;
	}
	dts_drop_matching(&t, &n);
	pr_info_ratelimited("%s: dropped %u connected or closing, %u time-wait, %u syn-recv\n",
			    s, n.established, n.time_wait, n.syn_recv);
	return len;
}

static const struct proc_ops dts_proc_ops = {
	.proc_write	= dts_write,
	.proc_lseek	= noop_llseek,
};

static int __init dts_init(void)
{
	if (!proc_create("drop_tcp_socket", 0200, init_net.proc_net,
			 &dts_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit dts_exit(void)
{
	remove_proc_entry("drop_tcp_socket", init_net.proc_net);
}

module_init(dts_init);
module_exit(dts_exit);
MODULE_DESCRIPTION("Drop the TCP connections on a local address and port");
MODULE_LICENSE("GPL");
