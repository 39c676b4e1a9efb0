// SPDX-License-Identifier: GPL-2.0
/*
 * Echo's counters, printed in /proc/kecho after the engine's connection
 * counters (src/engine/stats.c).
 */
#include <linux/percpu.h>
#include <linux/seq_file.h>

#include "kecho.h"

static const char *const kecho_stat_names[KECHO_STAT_MAX] = {
	[KECHO_STAT_NO_MEMORY] = "connections_out_of_memory",
	[KECHO_STAT_BYTES_RECEIVED] = "bytes_received",
	[KECHO_STAT_BYTES_ECHOED] = "bytes_echoed",
};

DEFINE_PER_CPU(u64, kecho_stats[KECHO_STAT_MAX]);

void kengine_proto_stats_show(struct seq_file *m)
{
	kengine_stats_print(m, kecho_stat_names, &kecho_stats[0],
			    KECHO_STAT_MAX);
}
