// SPDX-License-Identifier: GPL-2.0
/*
 * The Date header, formatted at most once a second per CPU rather than once
 * per response. Per-CPU copies need no lock: a worker copies the string out
 * with preemption disabled, and reformats it first if the second changed.
 */
#include <linux/ktime.h>
#include <linux/percpu.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "khttpd.h"

struct khttpd_date {
	time64_t sec;
	char str[KHTTPD_DATE_LEN];
};

static DEFINE_PER_CPU(struct khttpd_date, khttpd_date) = { .sec = -1 };

/* The Date into out; returns the second it stands for. */
time64_t khttpd_date_now(char out[KHTTPD_DATE_LEN])
{
	time64_t now = ktime_get_real_seconds();
	struct khttpd_date *d = get_cpu_ptr(&khttpd_date);

	if (d->sec != now) {
		khttpd_format_date(now, d->str);
		d->sec = now;
	}
	memcpy(out, d->str, KHTTPD_DATE_LEN);
	put_cpu_ptr(&khttpd_date);
	return now;
}
