// SPDX-License-Identifier: GPL-2.0
/*
 * The checker: clients that stream pseudo-random bytes and verify every
 * one that comes back, with a progress bar, as the course's `make check`
 * of its user-echo-server shows.
 *
 * Each client writes in sizes drawn at random (1 byte to 64 KiB, so
 * segments split and coalesce anywhere) and reads whenever the echo is
 * ready: a client that wrote everything before reading would deadlock
 * against a server with backpressure once the socket buffers filled,
 * which is the server behaving correctly. When all is written it shuts
 * down its writing side; it must then get exactly its bytes and EOF.
 */

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "echo_bench.h"

namespace echo_bench {
namespace {

constexpr size_t kChunk = 64 << 10;
constexpr size_t kStack = 256 << 10;

std::atomic<uint64_t> g_verified{0};
std::atomic<unsigned> g_running{0};
std::atomic<unsigned> g_failed{0};
std::mutex g_err_lock;
std::string g_first_err;

struct Client {
	unsigned id;
	uint64_t key;
};

void fail(const Client *c, const std::string &what)
{
	std::lock_guard<std::mutex> lock(g_err_lock);
	if (g_failed++ == 0)
		g_first_err = "client " + std::to_string(c->id) + ": " + what;
}

/* xorshift64: the sizes of the writes, reproducible from the seed. */
uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void stream(const Client *c)
{
	std::vector<unsigned char> out(kChunk), in(kChunk), want(kChunk);
	uint64_t sent = 0, got = 0, total = cfg.bytes;
	uint64_t rng = c->key * 2 + 1;
	std::string err;
	int fd = connect_server(false, &err);

	if (fd < 0)
		return fail(c, err);
	for (;;) {
		if (g_failed)	/* someone failed: the run is over */
			break;
		pollfd p{fd, short(POLLIN | (sent < total ? POLLOUT : 0)), 0};
		int r = poll(&p, 1, int(cfg.timeout * 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(c, r ? syserr("poll", errno) :
			     "no progress for " + std::to_string(int(cfg.timeout)) +
			     " s (" + std::to_string(got) + " of " +
			     std::to_string(total) + " bytes back)");
			break;
		}
		if ((p.revents & POLLOUT) && sent < total) {
			size_t len = size_t(next_rand(&rng) % kChunk) + 1;
			if (len > total - sent)
				len = size_t(total - sent);
			pattern(c->key, sent, out.data(), len);
			ssize_t n = send(fd, out.data(), len,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				fail(c, syserr("send", errno));
				break;
			}
			if (n > 0)
				sent += uint64_t(n);
			if (sent == total)
				shutdown(fd, SHUT_WR);
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = recv(fd, in.data(), kChunk, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fail(c, syserr("recv", errno) + " after " +
			     std::to_string(got) + " bytes");
			break;
		}
		if (n == 0) {
			if (got != total)
				fail(c, "EOF after " + std::to_string(got) +
				     " of " + std::to_string(total) + " bytes");
			break;
		}
		if (got + uint64_t(n) > sent) {
			fail(c, "more bytes came back than were sent");
			break;
		}
		pattern(c->key, got, want.data(), size_t(n));
		if (memcmp(in.data(), want.data(), size_t(n))) {
			size_t i = 0;
			while (in[i] == want[i])
				i++;
			char msg[96];
			snprintf(msg, sizeof(msg),
				 "byte %" PRIu64 " came back as 0x%02x, sent 0x%02x",
				 got + i, in[i], want[i]);
			fail(c, msg);
			break;
		}
		got += uint64_t(n);
		g_verified.fetch_add(uint64_t(n), std::memory_order_relaxed);
	}
	close(fd);
}

void *client_main(void *arg)
{
	stream(static_cast<Client *>(arg));
	g_running--;
	return nullptr;
}

/*
 * To a terminal: one bar redrawn in place. Otherwise (make's log, CI) a
 * line at every tenth, so the log stays readable.
 */
class Progress {
public:
	explicit Progress(uint64_t total)
		: total_(total), tty_(isatty(STDOUT_FILENO)) {}

	void show(uint64_t done, bool last)
	{
		if (cfg.quiet)
			return;
		int pct = total_ ? int(done * 100 / total_) : 100;
		if (tty_) {
			constexpr int kWidth = 40;
			int fill = pct * kWidth / 100;
			printf("\r[%.*s%.*s] %3d%%  %.1f/%.1f MiB", fill,
			       "########################################",
			       kWidth - fill,
			       "........................................",
			       pct, double(done) / (1 << 20),
			       double(total_) / (1 << 20));
			if (last)
				printf("\n");
		} else if (pct / 10 > shown_ / 10 || (last && pct != shown_)) {
			printf("check: %3d%%  %.1f/%.1f MiB verified\n", pct,
			       double(done) / (1 << 20),
			       double(total_) / (1 << 20));
			shown_ = pct;
		}
		fflush(stdout);
	}

private:
	uint64_t total_;
	bool tty_;
	int shown_ = 0;
};

} // namespace

int run_check()
{
	std::vector<Client> clients(cfg.clients);
	std::vector<pthread_t> tids;
	uint64_t total = cfg.bytes * cfg.clients;
	Progress bar(total);
	pthread_attr_t attr;

	if (!cfg.quiet) {
		printf("check: %u clients x %" PRIu64 " bytes to %s port %s\n",
		       cfg.clients, cfg.bytes, cfg.host.c_str(),
		       cfg.port.c_str());
		fflush(stdout);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, kStack);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < cfg.clients; i++) {
		clients[i] = { i, cfg.seed << 32 | i };
		pthread_t t;
		g_running++;
		int e = pthread_create(&t, &attr, client_main, &clients[i]);
		if (e) {
			g_running--;
			fail(&clients[i], std::string("thread: ") + strerror(e));
			break;
		}
		tids.push_back(t);
	}
	while (g_running) {
		bar.show(g_verified, false);
		usleep(100000);
	}
	for (pthread_t t : tids)
		pthread_join(t, nullptr);
	pthread_attr_destroy(&attr);
	double secs = double(now_ns() - t0) / 1e9;
	bar.show(g_verified, true);

	if (g_failed || g_verified != total) {
		fprintf(stderr, "echo-bench: check FAILED: %s", g_first_err.c_str());
		if (g_failed > 1)
			fprintf(stderr, " (and %u more clients)", g_failed - 1);
		fprintf(stderr, "\n");
		return 1;
	}
	printf("check: OK: %u clients, %" PRIu64 " bytes echoed and verified "
	       "in %.2f s (%.1f MiB/s)\n", cfg.clients, total, secs,
	       double(total) / (1 << 20) / secs);
	return 0;
}

} // namespace echo_bench
