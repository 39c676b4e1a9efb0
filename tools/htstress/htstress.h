// SPDX-License-Identifier: GPL-2.0
/*
 * htstress - HTTP/1.x load generator.
 *
 * Command line and output follow the classic htstress of the Linux kernel
 * course (sysprog21/khttpd, after Roman Arutyunyan's original), so existing
 * scripts keep working:
 *
 *	htstress -n 100000 -c 1 -t 4 http://localhost:8081/
 *
 * What it adds: keep-alive (-k), a list of paths (-f), a duration mode (-D),
 * responses that end by Content-Length or chunked framing rather than only
 * by close, latency percentiles, JSON output, and exact accounting: every
 * one of the -n requests ends as exactly one of good (complete 2xx), bad
 * (complete non-2xx, or malformed) or socket error (connect/read/write
 * error, timeout, or the connection closed mid-response).
 *
 * Design, so the client is not what a benchmark measures: each thread owns
 * -c connections and one edge-triggered epoll set; a connection is
 * registered once for both directions, so a keep-alive request costs one
 * send, one recv and no epoll_ctl. Requests are pre-built; per-request work
 * allocates nothing (the response parser keeps a fixed buffer for heads
 * split across reads and skips bodies by counting). Threads share only two
 * counters; statistics and the latency histogram are per thread and merged
 * at the end.
 *
 * The parts: cli.cpp turns the command line into cfg, main.cpp resolves
 * the server and runs the threads, worker.cpp is one thread's connections,
 * histogram.cpp the latency arithmetic (no I/O, so the unit tests link it)
 * and report.cpp the summary. This header is what more than one of them
 * needs.
 */
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "histogram.h"

namespace htstress {

constexpr uint64_t kNsPerSec = 1000000000ull;

inline uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec +
	       static_cast<uint64_t>(ts.tv_nsec);
}

struct Config {
	uint64_t max_requests = 0; // 0: until -D expires or Ctrl-C
	double duration = 0;	   // seconds, 0: none
	int concurrency = 1;	   // connections per thread
	int threads = 1;
	bool keepalive = false;
	bool json = false;
	bool debug = false;
	double timeout = 30; // seconds without progress on a connection
	int family = AF_UNSPEC;
	std::string url, host_header, node, port = "80", udaddr;
	std::vector<std::string> paths;
	std::vector<std::string> requests; // pre-built, one per path

	sockaddr_storage addr{};
	socklen_t addrlen = 0;
};

// Written by parse_args() and resolve() before any worker starts, read-only
// afterwards.
extern Config cfg;

// The run state the threads share (defined in main.cpp).
extern std::atomic<uint64_t> g_claimed; // requests handed out
extern std::atomic<uint64_t> g_done;	// requests finished (any outcome)
extern std::atomic<bool> g_stop;	// stop starting requests
extern std::atomic<bool> g_abort;	// drop in-flight requests too
extern uint64_t g_deadline;		// ns, 0: none
extern uint64_t g_ticks;		// progress line every g_ticks requests
extern FILE *g_progress;

enum ErrKind { kErrConnect, kErrWrite, kErrRead, kErrClosed, kErrTimeout,
	       kErrKinds };
// Both the first-error messages and the report name the kinds.
inline constexpr const char *kErrNames[kErrKinds] = {"connect", "write",
						     "read", "closed",
						     "timeout"};

// Aligned so that threads' counters never share a cache line.
struct alignas(64) Stats {
	uint64_t good = 0, bad = 0, bytes_in = 0, connects = 0;
	uint64_t errors[kErrKinds] = {};
	Histogram latency;

	uint64_t socket_errors() const
	{
		uint64_t s = 0;
		for (uint64_t e : errors)
			s += e;
		return s;
	}

	void merge(const Stats &o)
	{
		good += o.good;
		bad += o.bad;
		bytes_in += o.bytes_in;
		connects += o.connects;
		for (int k = 0; k < kErrKinds; k++)
			errors[k] += o.errors[k];
		latency.merge(o.latency);
	}
};

// cli.cpp: fills cfg, including the pre-built requests; exits with status 2
// on a usage error, 0 after --help.
void parse_args(int argc, char *argv[]);

// worker.cpp: one thread's share of the run, until nothing is left to claim.
void run_worker(Stats *stats);

// report.cpp: the summary on stdout, as text or --json.
void report(const Stats &t, double secs);

} // namespace htstress
