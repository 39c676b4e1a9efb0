// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP's counters, printed in /proc/khttpd after the engine's connection
 * counters (src/engine/stats.c). Per-CPU so the hot path never shares a
 * cache line; summed only when read.
 */
#include <linux/percpu.h>
#include <linux/seq_file.h>

#include "khttpd.h"

static const char *const khttpd_stat_names[KHTTPD_STAT_MAX] = {
	[KHTTPD_STAT_NO_MEMORY] = "connections_out_of_memory",
	[KHTTPD_STAT_REQUESTS] = "requests",
	[KHTTPD_STAT_BAD_REQUESTS] = "requests_malformed",
	[KHTTPD_STAT_STATUS_2XX] = "responses_2xx",
	[KHTTPD_STAT_STATUS_3XX] = "responses_3xx",
	[KHTTPD_STAT_STATUS_4XX] = "responses_4xx",
	[KHTTPD_STAT_STATUS_5XX] = "responses_5xx",
	[KHTTPD_STAT_CACHE_HITS] = "cache_hits",
	[KHTTPD_STAT_CACHE_MISSES] = "cache_misses",
	[KHTTPD_STAT_CACHE_SHRUNK] = "cache_bytes_reclaimed",
	[KHTTPD_STAT_SPLICED_BYTES] = "body_bytes_spliced",
	[KHTTPD_STAT_MEMORY_BYTES] = "body_bytes_from_memory",
	[KHTTPD_STAT_TLS_BYTES_SENT] = "tls_bytes_sent",
};

DEFINE_PER_CPU(u64, khttpd_stats[KHTTPD_STAT_MAX]);

void kengine_proto_stats_show(struct seq_file *m)
{
	struct kengine *eng = m->private;
	struct khttpd_server *srv = container_of(eng, struct khttpd_server, eng);

	kengine_stats_print(m, khttpd_stat_names, &khttpd_stats[0],
			    KHTTPD_STAT_MAX);
	seq_printf(m, "cache_entries %u\n", READ_ONCE(srv->cache.entries));
	seq_printf(m, "cache_bytes %ld\n", atomic_long_read(&srv->cache.bytes));
	seq_printf(m, "cache_limit %zu\n", srv->cache.max_bytes);
}
