/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels the modules (khttpd, kecho) build
 * for lives here, named for the capability it stands for, so the rest of
 * the code reads as if there were only one kernel.
 *
 * Supported: 6.1 and newer. Tested on every run of make check: Debian's
 * 6.1 LTS, 6.12 LTS and 6.12 PREEMPT_RT. Older kernels lack what the module
 * is built on (iterate_dir actors returning bool, sockptr_t setsockopt,
 * sock_set_reuseaddr and friends), so they are refused here rather than
 * failing somewhere in the middle of the build.
 */
#ifndef KHTTPD_COMPAT_H
#define KHTTPD_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "khttpd needs Linux 6.1 or newer"
#endif

#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/net.h>
#include <linux/path.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

/*
 * The capabilities, each decided once, here, from the version that brought
 * it. Only this block compares version numbers; the shims below and the
 * rest of the module test the capabilities.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define KHTTPD_HAVE_MNT_IDMAP 1			/* struct mnt_idmap */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define KHTTPD_HAVE_PUBLIC_VFS_PATH_LOOKUP 1	/* in <linux/namei.h> */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define KHTTPD_HAVE_SPLICE_PAGES_SENDMSG 1	/* ->sendpage gone */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define KHTTPD_HAVE_SPLICE_EOF 1		/* file_operations.splice_eof */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define KHTTPD_HAVE_SHRINKER_ALLOC 1		/* shrinker_alloc() */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
#define KHTTPD_HAVE_LOOKUP_ONE_QSTR 1		/* lookup_one_*() take a qstr */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define KHTTPD_HAVE_WQ_PERCPU 1
#endif
/*
 * The TLS handshake upcall (net/handshake, 6.5+) is a build option, so
 * this capability is the kernel's configuration, not its version. Debian's
 * 6.12 has it; its 6.1 has kTLS but not the upcall.
 */
#if IS_ENABLED(CONFIG_NET_HANDSHAKE)
#define KHTTPD_HAVE_TLS_HANDSHAKE 1
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define KHTTPD_HAVE_SOCKADDR_UNSIZED 1		/* kernel_bind() */
#endif

/*
 * vfs_path_lookup() is exported (ksmbd and nfsd use it) but before 6.4
 * only declared in fs/internal.h.
 */
#ifndef KHTTPD_HAVE_PUBLIC_VFS_PATH_LOOKUP
int vfs_path_lookup(struct dentry *dentry, struct vfsmount *mnt,
		    const char *name, unsigned int flags, struct path *path);
#endif

/*
 * One name in a directory: its dentry if positive, -ENOENT if not, after
 * checking search permission on the directory through the mount's ID
 * mapping (a user namespace before 6.3, an idmap since; the name a qstr
 * since 6.16).
 */
static inline struct dentry *
khttpd_compat_lookup_positive(struct vfsmount *mnt, struct dentry *dir,
			      const char *name, unsigned int len)
{
#if defined(KHTTPD_HAVE_LOOKUP_ONE_QSTR)
	struct qstr qname = QSTR_INIT(name, len);

	return lookup_one_positive_unlocked(mnt_idmap(mnt), &qname, dir);
#elif defined(KHTTPD_HAVE_MNT_IDMAP)
	return lookup_one_positive_unlocked(mnt_idmap(mnt), name, dir, len);
#else
	return lookup_one_positive_unlocked(mnt_user_ns(mnt), name, dir, len);
#endif
}

/* kernel_bind() takes a struct sockaddr_unsized from 6.19 on. */
#ifdef KHTTPD_HAVE_SOCKADDR_UNSIZED
#define khttpd_compat_bind(sock, addr, len) \
	kernel_bind((sock), (struct sockaddr_unsized *)(addr), (len))
#else
#define khttpd_compat_bind(sock, addr, len) \
	kernel_bind((sock), (struct sockaddr *)(addr), (len))
#endif

/*
 * From 6.17 a workqueue says whether it is per-CPU; before that, per-CPU is
 * what the absence of WQ_UNBOUND meant. WQ_PERCPU is an enum, so it cannot
 * be tested with #ifdef.
 */
#ifdef KHTTPD_HAVE_WQ_PERCPU
#define KHTTPD_WQ_PERCPU WQ_PERCPU
#else
#define KHTTPD_WQ_PERCPU 0
#endif

/*
 * Send the n page pieces of bv (len bytes in all) without copying them
 * (TCP takes page references). ->sendpage is gone from 6.5, where sendmsg
 * does the same with MSG_SPLICE_PAGES, and takes every piece in one call:
 * one pass through the socket lock and TCP's push instead of one per
 * page. Before, ->sendpage goes page by page, MSG_MORE on all but the
 * last. Not chosen by #ifdef MSG_SPLICE_PAGES: Debian's 6.1 defines it
 * without honouring it in TCP. Returns the bytes taken, or an error when
 * none were.
 */
#include <linux/bvec.h>
#include <linux/uio.h>

#ifdef KHTTPD_HAVE_SPLICE_PAGES_SENDMSG
static inline int khttpd_compat_send_pages(struct socket *sock,
					   struct bio_vec *bv, unsigned int n,
					   size_t len, int flags)
{
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };

	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, n, len);
	return sock_sendmsg(sock, &msg);
}
#else
static inline int khttpd_compat_send_pages(struct socket *sock,
					   struct bio_vec *bv, unsigned int n,
					   size_t len, int flags)
{
	unsigned int i;
	int sent = 0;

	for (i = 0; i < n; i++) {
		int ret = kernel_sendpage(sock, bv[i].bv_page, bv[i].bv_offset,
					  bv[i].bv_len,
					  i + 1 < n ? flags | MSG_MORE : flags);

		if (ret <= 0)
			return sent ? sent : ret;
		sent += ret;
		if (ret < bv[i].bv_len)
			break;
	}
	return sent;
}
#endif

/*
 * Whether khttpd_compat_send_pages() hands all its pages to TCP in one
 * call (6.5+). Only then is it worth sending memory of our own (a copy of
 * a response head in a page fragment) in the same call, instead of in a
 * copying send of its own: before, every page is a ->sendpage call anyway.
 */
#ifdef KHTTPD_HAVE_SPLICE_PAGES_SENDMSG
#define KHTTPD_SEND_PAGES_IN_ONE_CALL true
#else
#define KHTTPD_SEND_PAGES_IN_ONE_CALL false
#endif

/*
 * Push out what sends with MSG_MORE held back, once it is known that no
 * more follows: a partial TCP segment, or kTLS's open record. From 6.5
 * a socket's ->splice_eof does that (splice calls it at its end, through
 * the socket's file). Before, TCP pushes the segment on the next ACK, and
 * there is no TLS.
 */
#ifdef KHTTPD_HAVE_SPLICE_EOF
static inline void khttpd_compat_sock_flush(struct socket *sock)
{
	if (sock->ops->splice_eof)
		sock->ops->splice_eof(sock);
}
#else
static inline void khttpd_compat_sock_flush(struct socket *sock)
{
}
#endif

/*
 * A shrinker with a private pointer. From 6.7 shrinkers are allocated by
 * the kernel and carry private_data; before, the caller embeds struct
 * shrinker, so here it is embedded in a small holder with the pointer.
 */
typedef unsigned long (*khttpd_shrink_fn)(struct shrinker *,
					  struct shrink_control *);

#ifdef KHTTPD_HAVE_SHRINKER_ALLOC
static inline struct shrinker *
khttpd_compat_shrinker_register(khttpd_shrink_fn count, khttpd_shrink_fn scan,
				void *priv, const char *name)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->private_data = priv;
	shrinker_register(s);
	return s;
}

static inline void *khttpd_compat_shrinker_priv(struct shrinker *s)
{
	return s->private_data;
}

static inline void khttpd_compat_shrinker_unregister(struct shrinker *s)
{
	shrinker_free(s);
}
#else
struct khttpd_compat_shrinker {
	struct shrinker shrinker;
	void *priv;
};

static inline struct shrinker *
khttpd_compat_shrinker_register(khttpd_shrink_fn count, khttpd_shrink_fn scan,
				void *priv, const char *name)
{
	struct khttpd_compat_shrinker *h = kzalloc(sizeof(*h), GFP_KERNEL);

	if (!h)
		return NULL;
	h->shrinker.count_objects = count;
	h->shrinker.scan_objects = scan;
	h->shrinker.seeks = DEFAULT_SEEKS;
	h->priv = priv;
	if (register_shrinker(&h->shrinker, "%s", name)) {
		kfree(h);
		return NULL;
	}
	return &h->shrinker;
}

static inline void *khttpd_compat_shrinker_priv(struct shrinker *s)
{
	return container_of(s, struct khttpd_compat_shrinker, shrinker)->priv;
}

static inline void khttpd_compat_shrinker_unregister(struct shrinker *s)
{
	unregister_shrinker(s);
	kfree(container_of(s, struct khttpd_compat_shrinker, shrinker));
}
#endif

#endif /* KHTTPD_COMPAT_H */
