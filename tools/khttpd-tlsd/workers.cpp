// SPDX-License-Identifier: GPL-2.0
/*
 * Detached threads with small stacks: a GnuTLS handshake needs a few tens
 * of KiB, and 1000 default 8 MiB stacks would reserve 8 GiB of address
 * space and page tables on a small guest for nothing.
 */

#include "workers.h"

#include "tls_server.h"

#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace tlsd {

counters stats;

void counters::print(const char *when) const
{
	fprintf(stderr, "khttpd-tlsd: %s: handshakes %llu ok (%llu resumed), "
		"%llu failed, %llu timed out, %llu kTLS set-up failed, "
		"%llu DONE refused by the kernel\n", when,
		(unsigned long long)ok, (unsigned long long)resumed,
		(unsigned long long)failed, (unsigned long long)timed_out,
		(unsigned long long)ktls_failed, (unsigned long long)done_failed);
}

void counters::record(const handshake_outcome &res)
{
	if (res.status == 0) {
		ok++;
		if (res.resumed)
			resumed++;
	} else if (res.status == ETIMEDOUT) {
		timed_out++;
	} else if (res.error.rfind("kTLS", 0) == 0) {
		ktls_failed++;
		// A set-up problem, not a client's: say it once even without -v.
		static std::once_flag once;
		std::call_once(once, [&] {
			fprintf(stderr, "khttpd-tlsd: %s (further kTLS failures only "
				"counted)\n", res.error.c_str());
		});
	} else {
		failed++;
	}
}

namespace {

constexpr size_t worker_stack_size = 256 * 1024;

struct job_box {
	worker_pool *pool;
	std::function<void()> job;
};

} // namespace

bool worker_pool::wait_for_slot(int timeout_ms)
{
	std::unique_lock lock(mu_);
	return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
			    [this] { return active_ < cap_; });
}

bool worker_pool::start(std::function<void()> job)
{
	{
		std::lock_guard lock(mu_);
		active_++;
	}
	auto *box = new job_box{this, std::move(job)};
	pthread_attr_t attr;
	pthread_t tid;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, worker_stack_size);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&tid, &attr, thread_main, box);
	pthread_attr_destroy(&attr);
	if (rc) {
		delete box;
		finished();
		return false;
	}
	return true;
}

void *worker_pool::thread_main(void *arg)
{
	auto *box = static_cast<job_box *>(arg);
	box->job();
	worker_pool *pool = box->pool;
	delete box;
	pool->finished();
	return nullptr;
}

void worker_pool::finished()
{
	std::lock_guard lock(mu_);
	active_--;
	cv_.notify_all();
}

unsigned worker_pool::active()
{
	std::lock_guard lock(mu_);
	return active_;
}

bool worker_pool::wait_idle(int timeout_ms)
{
	std::unique_lock lock(mu_);
	return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
			    [this] { return active_ == 0; });
}

} // namespace tlsd
