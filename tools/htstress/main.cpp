// SPDX-License-Identifier: GPL-2.0
/*
 * htstress's run: find a server that answers, start the worker threads,
 * print progress and take Ctrl-C while they work, then the report.
 */
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "htstress.h"

namespace htstress {

Config cfg;

std::atomic<uint64_t> g_claimed{0};
std::atomic<uint64_t> g_done{0};
std::atomic<bool> g_stop{false};
std::atomic<bool> g_abort{false};
uint64_t g_deadline = 0;
uint64_t g_ticks = 0;
FILE *g_progress = stdout;

namespace {

std::atomic<int> g_running{0}; // worker threads still running

// Connects to addr within the timeout: reports an unreachable server once,
// before any thread starts, rather than as thousands of socket errors.
int probe(const sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int err = 0;
	if (connect(fd, addr, len) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else {
			pollfd p{fd, POLLOUT, 0};
			int r = poll(&p, 1, static_cast<int>(cfg.timeout * 1000));
			if (r == 0) {
				err = ETIMEDOUT;
			} else {
				socklen_t l = sizeof(err);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
			}
		}
	}
	close(fd);
	return err;
}

void resolve()
{
	std::string where = cfg.node + ":" + cfg.port;
	if (!cfg.udaddr.empty()) {
		auto *sun = reinterpret_cast<sockaddr_un *>(&cfg.addr);
		if (cfg.udaddr.size() >= sizeof(sun->sun_path)) {
			fprintf(stderr, "htstress: socket path too long\n");
			exit(2);
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, cfg.udaddr.c_str(), cfg.udaddr.size() + 1);
		cfg.addrlen = sizeof(sockaddr_un);
		if (int e = probe(reinterpret_cast<sockaddr *>(&cfg.addr),
				  cfg.addrlen)) {
			fprintf(stderr, "htstress: cannot connect to %s: %s\n",
				cfg.udaddr.c_str(), strerror(e));
			exit(1);
		}
		return;
	}
	addrinfo hints{}, *res;
	hints.ai_family = cfg.family;
	hints.ai_socktype = SOCK_STREAM;
	// No AI_ADDRCONFIG: it hides ::1 on hosts whose only IPv6 address is
	// loopback, and unusable addresses are skipped by the probe anyway.
	int r = getaddrinfo(cfg.node.c_str(), cfg.port.c_str(), &hints, &res);
	if (r) {
		fprintf(stderr, "htstress: cannot resolve %s: %s\n",
			cfg.node.c_str(), gai_strerror(r));
		exit(1);
	}
	int err = 0;
	for (addrinfo *a = res; a; a = a->ai_next) {
		err = probe(a->ai_addr, a->ai_addrlen);
		if (!err) {
			memcpy(&cfg.addr, a->ai_addr, a->ai_addrlen);
			cfg.addrlen = a->ai_addrlen;
			break;
		}
	}
	freeaddrinfo(res);
	if (!cfg.addrlen) {
		fprintf(stderr, "htstress: cannot connect to %s: %s\n",
			where.c_str(), strerror(err));
		exit(1);
	}
}

// Every connection is an fd: raise the soft limit rather than fail later.
void raise_fd_limit(uint64_t need)
{
	rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= need)
		return;
	rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, need);
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need) {
		fprintf(stderr,
			"htstress: %" PRIu64 " connections need %" PRIu64
			" file descriptors, the limit is %llu (ulimit -n)\n",
			need - 16, need,
			static_cast<unsigned long long>(rl.rlim_cur));
		exit(2);
	}
}

} // namespace
} // namespace htstress

using namespace htstress;

int main(int argc, char *argv[])
{
	parse_args(argc, argv);

	resolve();
	raise_fd_limit(static_cast<uint64_t>(cfg.threads) * cfg.concurrency + 16);

	// Workers never see signals; this thread waits for them, so Ctrl-C
	// ends the run with a summary (a second one drops in-flight requests).
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	if (cfg.json)
		g_progress = stderr;
	bool count_ticks = cfg.max_requests && !cfg.duration;
	g_ticks = count_ticks ? cfg.max_requests / 10 : 0;
	if (!cfg.max_requests && !cfg.duration)
		fprintf(g_progress, "[Press Ctrl-C to finish]\n");

	std::vector<Stats> stats(static_cast<size_t>(cfg.threads));
	std::vector<std::thread> threads;
	uint64_t t0 = now_ns();
	if (cfg.duration)
		g_deadline = t0 + static_cast<uint64_t>(cfg.duration * 1e9);
	g_running = cfg.threads;
	for (int i = 0; i < cfg.threads; i++)
		threads.emplace_back([i, &stats] {
			run_worker(&stats[static_cast<size_t>(i)]);
			g_running--;
		});

	// Time-based progress when there is no request count to divide.
	uint64_t tick_ns = cfg.duration ? static_cast<uint64_t>(cfg.duration * 1e8)
					: kNsPerSec;
	uint64_t next_tick = t0 + tick_ns;
	timespec wait{0, 50 * 1000 * 1000};
	while (g_running.load() > 0) {
		int sig = sigtimedwait(&sigs, nullptr, &wait);
		if (sig > 0) {
			if (g_stop.exchange(true))
				g_abort = true;
		}
		uint64_t now = now_ns();
		if (!count_ticks && now >= next_tick && !g_stop.load()) {
			if (!cfg.duration || now < g_deadline)
				fprintf(g_progress, "%" PRIu64 " requests\n",
					g_done.load());
			next_tick += tick_ns;
		}
	}
	for (std::thread &t : threads)
		t.join();
	double secs = static_cast<double>(now_ns() - t0) / 1e9;

	Stats total;
	for (const Stats &s : stats)
		total.merge(s);
	fflush(g_progress);
	report(total, secs);
	uint64_t all = total.good + total.bad + total.socket_errors();
	return all && total.good == all ? 0 : 1;
}
