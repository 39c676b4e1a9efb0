// SPDX-License-Identifier: GPL-2.0
/*
 * echo-bench - the course's echo benchmark, and a checker.
 *
 *	echo-bench [-H HOST] [-p PORT] [--from N --to N --step N | --levels
 *	           N,N,...] [-r ROUNDS] [-s BYTES] [-o bench.txt] [--json FILE]
 *	echo-bench --check [-H HOST] [-p PORT] [-n CLIENTS] [--bytes BYTES]
 *
 * Bench (bench.cpp): for each concurrency level N, N clients connect,
 * then each times R round trips of one message (send it, read until the
 * whole echo is back, compare every byte). Per level: the mean (the
 * figure the course's ./bench plots), p50 and p99, in microseconds.
 * bench.txt gets the course's format, "<threads> <microseconds>" a line,
 * the mean; --json gets the percentiles too.
 *
 * Check (check.cpp): many clients stream verified pseudo-random bytes in
 * writes of random sizes, reading as they write, then shut down their
 * writing side and expect exactly their bytes back and then EOF; a
 * progress bar shows the bytes verified. The course's `make check` of its
 * user-echo-server, for either server.
 *
 * Any connection error, timeout or wrong byte makes the exit status 1;
 * usage errors 2. client.cpp has what both share: the server's address,
 * connecting, and the byte pattern every payload is cut from.
 */
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace echo_bench {

struct Config {
	std::string host = "127.0.0.1", port = "12345";
	std::vector<unsigned> levels;	/* concurrency levels, ascending */
	unsigned rounds = 10;		/* round trips per client per level */
	unsigned min_samples = 0;	/* round trips per level, at least */
	size_t size = 64;		/* bytes per message */
	std::string out = "bench.txt";	/* "": none */
	std::string json;		/* "": none */
	std::string label;		/* names the server in the JSON */
	double timeout = 10;		/* seconds a socket may make no progress */
	bool check = false;
	unsigned clients = 100;		/* --check */
	uint64_t bytes = 1 << 20;	/* --check: per client */
	uint64_t seed = 1;
	bool quiet = false;

	sockaddr_storage addr{};
	socklen_t addrlen = 0;
};

extern Config cfg;

inline uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

/* cli.cpp: fills cfg (the address too); exits 2 on a usage error. */
void parse_args(int argc, char **argv);

/*
 * client.cpp: a connected TCP socket to cfg's server (TCP_NODELAY;
 * blocking ones with SO_RCVTIMEO/SO_SNDTIMEO of cfg.timeout), or -1 with
 * *err saying why.
 */
int connect_server(bool blocking, std::string *err);

/*
 * client.cpp: bytes [off, off + len) of the pattern for key: pseudo-random,
 * different for every key and position, computed from (key, off) alone,
 * so the receiver regenerates what was sent without keeping it.
 */
void pattern(uint64_t key, uint64_t off, unsigned char *buf, size_t len);

/* client.cpp: "what failed: strerror(err)" */
std::string syserr(const char *what, int err);

/* bench.cpp and check.cpp: the two modes; each returns the exit status. */
int run_bench();
int run_check();

} // namespace echo_bench
