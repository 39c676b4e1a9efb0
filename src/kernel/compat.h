/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels khttpd builds for lives here, named
 * for the capability it stands for, so the rest of the module reads as if
 * there were only one kernel. Tested on 6.1; written for 6.5+ as well.
 */
#ifndef KHTTPD_COMPAT_H
#define KHTTPD_COMPAT_H

#include <linux/version.h>
#include <linux/net.h>
#include <linux/path.h>
#include <linux/workqueue.h>

/*
 * vfs_path_lookup() is exported (ksmbd and nfsd use it) but on 6.1 only
 * declared in fs/internal.h. An identical redeclaration is harmless where a
 * public header does declare it.
 */
int vfs_path_lookup(struct dentry *dentry, struct vfsmount *mnt,
		    const char *name, unsigned int flags, struct path *path);

/* kernel_bind() takes a struct sockaddr_unsized from 6.19 on. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
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
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define KHTTPD_WQ_PERCPU WQ_PERCPU
#else
#define KHTTPD_WQ_PERCPU 0
#endif

#endif /* KHTTPD_COMPAT_H */
