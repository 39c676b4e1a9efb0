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
/*
 * How long a thread with nothing to do waits for the next handshake: long
 * enough that a steady load never creates one, short enough that a burst's
 * threads (and the stack pages they touched) do not stay for good.
 */
constexpr auto idle_exit = std::chrono::seconds(10);

} // namespace

bool worker_pool::wait_for_slot(int timeout_ms)
{
	std::unique_lock lock(mu_);
	return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
			    [this] { return active_ < cap_; });
}

/*
 * A thread per handshake, each new, cost a clone and an exit every time,
 * and the new thread was placed where the scheduler balances new tasks:
 * on a two-CPU machine, often the CPU of a local client, which then
 * waited for it (docs/bench/changes.md).
 */
bool worker_pool::start(std::function<void()> job)
{
	std::lock_guard lock(mu_);
	if (idle_ <= jobs_.size()) { // no idle thread left for this one
		pthread_attr_t attr;
		pthread_t tid;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, worker_stack_size);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&tid, &attr, thread_main, this);
		pthread_attr_destroy(&attr);
		if (rc)
			return false;
		threads_++;
	}
	active_++;
	jobs_.push_back(std::move(job));
	work_cv_.notify_one();
	return true;
}

void *worker_pool::thread_main(void *arg)
{
	static_cast<worker_pool *>(arg)->run();
	return nullptr;
}

void worker_pool::run()
{
	std::unique_lock lock(mu_);
	for (;;) {
		idle_++;
		bool got = work_cv_.wait_for(lock, idle_exit, [this] {
			return !jobs_.empty() || stopping_;
		});
		idle_--;
		if (!got || jobs_.empty())
			break;
		std::function<void()> job = std::move(jobs_.front());
		jobs_.pop_front();
		lock.unlock();
		job();
		job = nullptr; // what it captured goes before the slot does
		lock.lock();
		active_--;
		cv_.notify_all();
	}
	// The last touch of the pool: its destructor waits for this.
	threads_--;
	cv_.notify_all();
}

worker_pool::~worker_pool()
{
	std::unique_lock lock(mu_);
	stopping_ = true;
	work_cv_.notify_all();
	cv_.wait(lock, [this] { return threads_ == 0; });
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
