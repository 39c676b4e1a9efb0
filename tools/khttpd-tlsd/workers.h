// SPDX-License-Identifier: GPL-2.0
/*
 * Handshake workers: a detached thread per handshake, at most `cap` at
 * once. A handshake mostly waits on the network, so threads are cheap
 * here, and a blocking GnuTLS session per thread keeps the TLS code
 * straight-line. The counters are what SIGUSR1 and exit print.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
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

	// Waits (up to timeout_ms) for a free slot. False if none came.
	bool wait_for_slot(int timeout_ms);
	/*
	 * Runs job on a new thread in a slot wait_for_slot() found free.
	 * False (the slot given back) if the thread could not be created.
	 */
	bool start(std::function<void()> job);
	unsigned active();
	// Waits up to timeout_ms for every job to finish; false if some did not.
	bool wait_idle(int timeout_ms);

private:
	static void *thread_main(void *arg);
	void finished();

	std::mutex mu_;
	std::condition_variable cv_;
	unsigned cap_;
	unsigned active_ = 0;
};

} // namespace tlsd
