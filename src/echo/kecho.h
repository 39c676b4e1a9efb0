/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kecho: an echo server on the engine (src/engine/engine.h), the course's
 * first kernel server. Every byte a client sends comes back, in order, as
 * soon as it arrives. Its parameters (port=, default 12345, bind=,
 * backlog=, timeout=, max_conns=, ...) are the engine's, those every
 * server has (src/engine/config.c). One concern per file:
 *   main.c    orders init and exit
 *   echo.c    one echo connection: receive, send back, backpressure
 *   stats.c   echo's counters in /proc/kecho
 */
#ifndef KECHO_H
#define KECHO_H

#include <linux/percpu.h>
#include <linux/slab.h>

#include "engine.h"

/* Bytes taken from a client per receive: what may wait to be echoed. */
#define KECHO_BUF_SIZE (16 << 10)

struct kecho_server {
	struct kengine eng;		/* listener, connections, counters */
};

/* echo.c */
void kecho_conns_config(struct kengine_config *cfg);

/* stats.c */
enum kecho_stat {
	KECHO_STAT_NO_MEMORY,
	KECHO_STAT_BYTES_RECEIVED,
	KECHO_STAT_BYTES_ECHOED,
	KECHO_STAT_MAX
};

DECLARE_PER_CPU(u64, kecho_stats[KECHO_STAT_MAX]);

static inline void kecho_stat_add(enum kecho_stat stat, u64 n)
{
	this_cpu_add(kecho_stats[stat], n);
}

#endif /* KECHO_H */
