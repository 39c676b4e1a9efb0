// SPDX-License-Identifier: GPL-2.0
/*
 * Counters, as a small named table in /proc/khttpd (one "name value" line
 * each, like /proc/net/tls_stat). Per-CPU so the hot path never shares a
 * cache line; summed only when read.
 */
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#include "khttpd.h"

static const char *const khttpd_stat_names[KHTTPD_STAT_MAX] = {
	[KHTTPD_STAT_ACCEPTED] = "connections_accepted",
	[KHTTPD_STAT_REFUSED] = "connections_refused",
	[KHTTPD_STAT_IDLE_CLOSED] = "connections_idle_closed",
	[KHTTPD_STAT_CLOSED] = "connections_closed",
	[KHTTPD_STAT_TIMED_OUT] = "connections_timed_out",
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
};

DEFINE_PER_CPU(u64, khttpd_stats[KHTTPD_STAT_MAX]);

static int khttpd_stats_show(struct seq_file *m, void *v)
{
	struct khttpd_server *srv = m->private;
	int i, cpu;

	for (i = 0; i < KHTTPD_STAT_MAX; i++) {
		u64 sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu(khttpd_stats[i], cpu);
		seq_printf(m, "%s %llu\n", khttpd_stat_names[i], sum);
	}
	seq_printf(m, "connections_open %u\n", READ_ONCE(srv->nconns));
	seq_printf(m, "cache_entries %u\n", READ_ONCE(srv->cache.entries));
	seq_printf(m, "cache_bytes %ld\n", atomic_long_read(&srv->cache.bytes));
	seq_printf(m, "cache_limit %zu\n", srv->cache.max_bytes);
	return 0;
}

int khttpd_stats_init(struct khttpd_server *srv)
{
	if (!proc_create_single_data(KBUILD_MODNAME, 0444, NULL,
				     khttpd_stats_show, srv))
		return -ENOMEM;
	return 0;
}

void khttpd_stats_exit(void)
{
	remove_proc_entry(KBUILD_MODNAME, NULL);
}
