// SPDX-License-Identifier: GPL-2.0
/*
 * Handshake workers: a thread per handshake in progress, at most `cap` at
 * once. A handshake mostly waits on the network, so threads are cheap
 * here, and a blocking GnuTLS session per thread keeps the TLS code
 * straight-line. Threads outlive their handshake and take the next one;
 * one idle for a while exits. The counters are what SIGUSR1 and exit
 * print.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace tlsd {

struct handshake_outcome;

struct counters {
	std::atomic<uint64_t> ok{0};
	std::atomic<uint64_t> resumed{0};   // of the ok ones
	std::atomic<uint64_t> failed{0};    // refused or broken handshakes
	std::atomic<uint64_t> timed_out{0};
	std::atomic<uint64_t> ktls_failed{0}; // handshake fine, kTLS set-up not
	std::atomic<uint64_t> done_failed{0}; // DONE refused by the kernel

	void print(const char *when) const;
	// Counts a handshake's outcome, whichever mode ran it.
	void record(const handshake_outcome &res);
};

extern counters stats;

class worker_pool {
public:
	explicit worker_pool(unsigned cap) : cap_(cap) {}
	// Ends the idle threads; call only with no job left (wait_idle()).
	~worker_pool();

	// Waits (up to timeout_ms) for a free slot. False if none came.
	bool wait_for_slot(int timeout_ms);
	/*
	 * Runs job in a slot wait_for_slot() found free: on an idle thread,
	 * or on a new one if none is idle. False (the slot given back) if a
	 * thread was needed and could not be created.
	 */
	bool start(std::function<void()> job);
	unsigned active();
	// Waits up to timeout_ms for every job to finish; false if some did not.
	bool wait_idle(int timeout_ms);

private:
	static void *thread_main(void *arg);
	void run();

	std::mutex mu_;
	std::condition_variable cv_;      // a slot freed, or all idle
	std::condition_variable work_cv_; // a job for an idle thread
	std::deque<std::function<void()>> jobs_;
	unsigned cap_;
	unsigned active_ = 0;  // jobs queued or running
	unsigned idle_ = 0;    // threads waiting for a job
	unsigned threads_ = 0; // threads alive
	bool stopping_ = false;
};

} // namespace tlsd
