// SPDX-License-Identifier: GPL-2.0
/*
 * Idle timeouts. One delayed work, once a second, closes connections whose
 * deadline passed: idle keep-alive connections, clients that stall mid-head
 * (slowloris) or stop reading a response, and lingering closes. A single
 * sweeper instead of a timer per connection keeps the hot path free of timer
 * updates (a deadline is one store) and sidesteps the timer API churn.
 */
#include <linux/workqueue.h>

#include "khttpd.h"

static void khttpd_sweeper_work(struct work_struct *work)
{
	struct khttpd_server *srv = container_of(to_delayed_work(work),
						 struct khttpd_server,
						 sweep_work);

	khttpd_conns_expire(srv);
	queue_delayed_work(srv->wq, &srv->sweep_work, HZ);
}

void khttpd_sweeper_start(struct khttpd_server *srv)
{
	INIT_DELAYED_WORK(&srv->sweep_work, khttpd_sweeper_work);
	queue_delayed_work(srv->wq, &srv->sweep_work, HZ);
}

void khttpd_sweeper_stop(struct khttpd_server *srv)
{
	cancel_delayed_work_sync(&srv->sweep_work);
}
