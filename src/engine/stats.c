// SPDX-License-Identifier: GPL-2.0
/*
 * Counters, as a small named table in /proc/<module> (one "name value"
 * line each, like /proc/net/tls_stat): the engine's connection counters,
 * then the protocol's. Per-CPU so the hot path never shares a cache line;
 * summed only when read.
 */
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#include "engine.h"

static const char *const kengine_stat_names[KENGINE_STAT_MAX] = {
	[KENGINE_STAT_ACCEPTED] = "connections_accepted",
	[KENGINE_STAT_REFUSED] = "connections_refused",
	[KENGINE_STAT_IDLE_CLOSED] = "connections_idle_closed",
	[KENGINE_STAT_CLOSED] = "connections_closed",
	[KENGINE_STAT_TIMED_OUT] = "connections_timed_out",
	[KENGINE_STAT_TLS_HANDSHAKES] = "tls_handshakes",
	[KENGINE_STAT_TLS_OK] = "tls_handshakes_ok",
	[KENGINE_STAT_TLS_FAILED] = "tls_handshakes_failed",
	[KENGINE_STAT_TLS_TIMED_OUT] = "tls_handshakes_timed_out",
	[KENGINE_STAT_TLS_NO_AGENT] = "tls_no_agent",
	[KENGINE_STAT_TLS_QUEUE_FULL] = "tls_queue_full",
	[KENGINE_STAT_TLS_BYTES_RECEIVED] = "tls_bytes_received",
	[KENGINE_STAT_STEERED] = "work_steered",
	[KENGINE_STAT_STAYED] = "work_on_waiting_client_cpu",
};

DEFINE_PER_CPU(u64, kengine_stats[KENGINE_STAT_MAX]);

void kengine_stats_print(struct seq_file *m, const char *const *names,
			 u64 __percpu *table, int n)
{
	int i, cpu;

	for (i = 0; i < n; i++) {
		u64 sum = 0;

		for_each_possible_cpu(cpu)
			sum += *per_cpu_ptr(table + i, cpu);
		seq_printf(m, "%s %llu\n", names[i], sum);
	}
}

static int kengine_stats_show(struct seq_file *m, void *v)
{
	struct kengine *eng = m->private;

	kengine_stats_print(m, kengine_stat_names, &kengine_stats[0],
			    KENGINE_STAT_MAX);
	seq_printf(m, "connections_open %u\n", READ_ONCE(eng->nconns));
	seq_printf(m, "accept_deferring %u\n",
		   READ_ONCE(eng->listener.deferring));
	if (eng->cfg.tls_port)
		seq_printf(m, "tls_accept_deferring %u\n",
			   READ_ONCE(eng->tls_listener.deferring));
	kengine_proto_stats_show(m);
	return 0;
}

int kengine_stats_init(struct kengine *eng)
{
	if (!proc_create_single_data(KBUILD_MODNAME, 0444, NULL,
				     kengine_stats_show, eng))
		return -ENOMEM;
	return 0;
}

void kengine_stats_exit(void)
{
	remove_proc_entry(KBUILD_MODNAME, NULL);
}
