// SPDX-License-Identifier: GPL-2.0
/*
 * user-echo-server - the course's echo server, in userspace, behaving as
 * kecho.ko does:
 *
 *	user-echo-server [-p PORT] [-b ADDR] [-t THREADS] [-T SECS] [-c MAX]
 *
 * Every byte a client sends comes back to it, in order, as soon as it
 * arrives (no line buffering). A connection holds at most kBufSize bytes
 * it has read and not yet sent back; while they cannot be sent it reads
 * nothing more, so a client that writes without reading fills the
 * kernel's socket buffers and is then held back by TCP's window instead
 * of growing the server (backpressure). A client that shuts down its
 * writing side gets what is pending, then the connection is closed.
 *
 * Shape, as the twin's: one thread per CPU, each with its own
 * SO_REUSEPORT listener and epoll set, so connections never move between
 * threads and nothing on the echo path takes a lock. The parts: main.cpp
 * is start-up (options, listeners, threads, signals), conn.cpp one
 * connection's echo step, loop.cpp a thread's epoll loop, accept with the
 * connection limit, and the idle sweeper.
 */
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "../common/conn_set.h"
#include "../common/run_queue.h"

namespace echo {

/*
 * Read-and-not-yet-sent bytes a connection may hold. 16 KiB: a few
 * segments of a bulk transfer per recv, small enough that 10,000
 * connections stay within 160 MiB even when every one is stalled.
 */
constexpr size_t kBufSize = 16384;

/* Steps one connection may take per wakeup before the others get a turn. */
constexpr int kBudget = 64;

struct config {
	unsigned port = 12345;
	std::string bind_addr;		/* "": IPv6 and IPv4 */
	unsigned threads = 0;		/* 0: one per CPU */
	unsigned timeout_secs = 60;	/* idle connections; 0: never */
	unsigned max_conns = 10000;	/* open at once, over all threads */
	unsigned backlog = 1024;
};

/* Set by main() before any worker starts, read-only afterwards. */
extern config cfg;

/* Over all threads: the connection limit and the summary at exit. */
struct counters {
	std::atomic<uint64_t> accepted{0}, refused{0}, timed_out{0},
		closed{0}, bytes_echoed{0};
	std::atomic<unsigned> open{0};
};
extern counters stats;

struct worker;

struct conn {
	worker *w = nullptr;
	int fd = -1;
	int64_t expires = 0;		/* ms, CLOCK_MONOTONIC_COARSE */
	conn *prev = nullptr, *next = nullptr;	/* in worker::conns */
	conn *run_next = nullptr;		/* worker's run queue */
	bool queued = false;
	bool peer_done = false;		/* the client shut down its writing */
	size_t off = 0, len = 0;	/* pending: buf[off, off + len) */
	char buf[kBufSize];
};

struct worker {
	int listen_fd = -1;
	int ep = -1;
	tools::conn_set<conn> conns;	/* open, and closed for reuse */
	tools::run_queue<conn> runq;	/* spent their budget */
	std::thread thread;
};

/* What one step of a connection did. */
enum class step { PROGRESS, WAIT, CLOSE };

/* conn.cpp: one send or one recv, whichever is due. */
step conn_step(conn *c);

/* loop.cpp: now, in ms, for deadlines. */
int64_t now_ms();

/* loop.cpp: a worker thread, until stop_fd becomes readable. */
void worker_run(worker *w, int stop_fd);

} // namespace echo
