// SPDX-License-Identifier: GPL-2.0
/*
 * The bench: the course's ./bench, a thread per client. Each thread does
 * blocking round trips, as the course's does, so its figures are the
 * course's figures: what one client waits for its echo while N-1 others
 * do the same (the scheduling of N client threads is part of that, as it
 * is in the course). An epoll client would load the server harder with
 * less client overhead, but would measure something else. Threads get a
 * 64 KiB stack: 1000 of them then reserve 64 MiB rather than 8 GiB of
 * address space and fit in a 1-2 GiB guest.
 *
 * All clients of a level connect first and wait at a latch; only then
 * do the round trips start, so a level measures N connected clients
 * echoing, not the connection storm.
 */

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <latch>
#include <memory>
#include <vector>

#include "../htstress/histogram.h"
#include "echo_bench.h"

namespace echo_bench {
namespace {

constexpr size_t kStack = 64 << 10;

struct Level;

struct Client {
	Level *lv = nullptr;
	unsigned id = 0;
	std::vector<uint64_t> ns;	/* one per round trip */
	std::string err;		/* the first problem, if any */
};

struct Level {
	explicit Level(unsigned clients) : n(clients), connected(clients + 1) {}
	unsigned n, index = 0, rounds = 0;
	std::latch connected;	/* every client and run_level() */
	std::atomic<bool> failed{false};
	std::vector<Client> clients;
};

struct Result {
	unsigned clients, rounds;
	uint64_t samples;
	double mean_us, p50_us, p99_us, min_us, max_us, secs;
};

bool send_all(int fd, const unsigned char *p, size_t len, std::string *err)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = syserr("send", n < 0 ? errno : EPIPE);
			return false;
		}
		p += n;
		len -= size_t(n);
	}
	return true;
}

bool recv_all(int fd, unsigned char *p, size_t len, std::string *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = syserr("recv", errno == EAGAIN ? ETIMEDOUT : errno);
			return false;
		}
		if (n == 0) {
			*err = "the server closed the connection after " +
			       std::to_string(got) + " of " +
			       std::to_string(len) + " echoed bytes";
			return false;
		}
		got += size_t(n);
	}
	return true;
}

void round_trips(Client *c, int fd)
{
	std::vector<unsigned char> out(cfg.size), in(cfg.size);
	uint64_t key = uint64_t(c->lv->index) << 32 | c->id;

	c->ns.reserve(c->lv->rounds);
	for (unsigned r = 0; r < c->lv->rounds; r++) {
		if (c->lv->failed.load(std::memory_order_relaxed))
			return;
		pattern(key, uint64_t(r) * cfg.size, out.data(), cfg.size);
		uint64_t t0 = now_ns();
		if (!send_all(fd, out.data(), cfg.size, &c->err) ||
		    !recv_all(fd, in.data(), cfg.size, &c->err))
			return;
		c->ns.push_back(now_ns() - t0);
		if (memcmp(out.data(), in.data(), cfg.size)) {
			size_t i = 0;
			while (out[i] == in[i])
				i++;
			char msg[128];
			snprintf(msg, sizeof(msg),
				 "wrong echo: round %u, byte %zu is 0x%02x, "
				 "sent 0x%02x", r, i, in[i], out[i]);
			c->err = msg;
			return;
		}
	}
}

void *client_main(void *arg)
{
	auto *c = static_cast<Client *>(arg);
	int fd = connect_server(true, &c->err);

	if (fd < 0)
		c->lv->failed = true;
	c->lv->connected.arrive_and_wait();
	if (fd < 0)
		return nullptr;
	if (!c->lv->failed)
		round_trips(c, fd);
	if (!c->err.empty())
		c->lv->failed = true;
	close(fd);
	return nullptr;
}

/* One level; false (with the first error printed) when anything failed. */
bool run_level(unsigned index, unsigned n, Result *res)
{
	Level lv(n);
	lv.index = index;
	/* Few clients give few samples: more rounds then, not less time. */
	lv.rounds = std::max(cfg.rounds, (cfg.min_samples + n - 1) / n);
	lv.clients.resize(n);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, kStack);
	std::vector<pthread_t> tids(n);
	uint64_t t0 = now_ns();
	unsigned started = 0;
	for (; started < n; started++) {
		Client &c = lv.clients[started];
		c.lv = &lv;
		c.id = started;
		int e = pthread_create(&tids[started], &attr, client_main, &c);
		if (e) {
			fprintf(stderr, "echo-bench: %u clients: thread %u: %s\n",
				n, started, strerror(e));
			lv.failed = true;
			break;
		}
	}
	/* Threads never started still count at the latch: stand in. */
	lv.connected.count_down(n - started);
	lv.connected.arrive_and_wait();
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], nullptr);
	res->secs = double(now_ns() - t0) / 1e9;
	pthread_attr_destroy(&attr);

	htstress::Histogram h;
	unsigned bad = 0;
	for (const Client &c : lv.clients) {
		for (uint64_t v : c.ns)
			h.add(v);
		if (!c.err.empty() && !bad++)
			fprintf(stderr, "echo-bench: %u clients: client %u: %s\n",
				n, c.id, c.err.c_str());
	}
	if (bad > 1)
		fprintf(stderr, "echo-bench: %u clients: %u clients failed\n",
			n, bad);
	res->clients = n;
	res->rounds = lv.rounds;
	res->samples = h.n;
	res->mean_us = h.mean() / 1e3;
	res->p50_us = double(h.percentile(50)) / 1e3;
	res->p99_us = double(h.percentile(99)) / 1e3;
	res->min_us = h.n ? double(h.min) / 1e3 : 0;
	res->max_us = double(h.max) / 1e3;
	return !lv.failed && h.n == uint64_t(n) * lv.rounds;
}

bool write_bench_txt(const std::vector<Result> &rs)
{
	FILE *f = fopen(cfg.out.c_str(), "w");
	if (!f) {
		fprintf(stderr, "echo-bench: %s: %s\n", cfg.out.c_str(),
			strerror(errno));
		return false;
	}
	/* The course's format: whole microseconds, the mean. */
	for (const Result &r : rs)
		fprintf(f, "%u %.0f\n", r.clients, std::round(r.mean_us));
	return fclose(f) == 0;
}

bool write_json(const std::vector<Result> &rs, bool ok)
{
	FILE *f = fopen(cfg.json.c_str(), "w");
	if (!f) {
		fprintf(stderr, "echo-bench: %s: %s\n", cfg.json.c_str(),
			strerror(errno));
		return false;
	}
	std::string label;
	for (char ch : cfg.label)	/* a name, not arbitrary text */
		if (ch != '"' && ch != '\\' && (unsigned char)ch >= 0x20)
			label += ch;
	fprintf(f, "{\"server\": \"%s\", \"host\": \"%s\", \"port\": %s, "
		"\"size\": %zu, \"rounds\": %u, \"ok\": %s, \"levels\": [",
		label.c_str(), cfg.host.c_str(), cfg.port.c_str(), cfg.size,
		cfg.rounds, ok ? "true" : "false");
	for (size_t i = 0; i < rs.size(); i++) {
		const Result &r = rs[i];
		fprintf(f, "%s\n  {\"clients\": %u, \"rounds\": %u, "
			"\"round_trips\": %" PRIu64
			", \"mean_us\": %.2f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
			"\"min_us\": %.2f, \"max_us\": %.2f, \"seconds\": %.3f}",
			i ? "," : "", r.clients, r.rounds, r.samples, r.mean_us, r.p50_us,
			r.p99_us, r.min_us, r.max_us, r.secs);
	}
	fprintf(f, "\n]}\n");
	return fclose(f) == 0;
}

} // namespace

int run_bench()
{
	std::vector<Result> results;
	bool ok = true;

	if (!cfg.quiet) {
		printf("echo-bench: %s port %s, %zu-byte messages, %u round "
		       "trips per client\n", cfg.host.c_str(), cfg.port.c_str(),
		       cfg.size, cfg.rounds);
		printf("%8s %10s %10s %10s %12s\n", "clients", "mean_us",
		       "p50_us", "p99_us", "round_trips");
		fflush(stdout);
	}
	for (size_t i = 0; i < cfg.levels.size() && ok; i++) {
		Result r;
		ok = run_level(unsigned(i), cfg.levels[i], &r);
		if (!ok)
			break;
		results.push_back(r);
		if (!cfg.quiet) {
			printf("%8u %10.1f %10.1f %10.1f %12" PRIu64 "\n",
			       r.clients, r.mean_us, r.p50_us, r.p99_us,
			       r.samples);
			fflush(stdout);
		}
	}
	if (!cfg.out.empty() && !write_bench_txt(results))
		ok = false;
	if (!cfg.json.empty() && !write_json(results, ok))
		ok = false;
	if (!ok)
		fprintf(stderr, "echo-bench: FAIL (the results so far are "
			"written)\n");
	return ok ? 0 : 1;
}

} // namespace echo_bench
