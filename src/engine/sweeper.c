// SPDX-License-Identifier: GPL-2.0
/*
 * Deadlines. One delayed work, once a second, closes connections whose
 * deadline passed: idle keep-alive connections, clients that stall mid-
 * request (slowloris) or stop reading, and lingering closes. A single
 * sweeper instead of a timer per connection keeps the hot path free of timer
 * updates (a deadline is one store) and sidesteps the timer API churn.
 */
#include <linux/workqueue.h>

#include "engine.h"

static void kengine_sweeper_work(struct work_struct *work)
{
	struct kengine *eng = container_of(to_delayed_work(work),
					   struct kengine, sweep_work);

	kengine_conns_expire(eng);
	queue_delayed_work(eng->wq, &eng->sweep_work, HZ);
}

void kengine_sweeper_start(struct kengine *eng)
{
	INIT_DELAYED_WORK(&eng->sweep_work, kengine_sweeper_work);
	queue_delayed_work(eng->wq, &eng->sweep_work, HZ);
}

void kengine_sweeper_stop(struct kengine *eng)
{
	cancel_delayed_work_sync(&eng->sweep_work);
}
