// SPDX-License-Identifier: GPL-2.0
/*
 * One htstress thread: its -c connections, their state machine and the
 * epoll loop that drives them. What a thread writes that others see is only
 * the claim and done counters and the first-error flags; its Stats are its
 * own until main() merges them after the join.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "htstress.h"
#include "response_parser.h"

namespace htstress {
namespace {

constexpr size_t kReadBuf = 256 * 1024; // per thread; large bodies in few reads
constexpr int kMaxEvents = 256;
// A connection whose response is complete but whose server has not closed
// yet (HTTP/1.0 close semantics) is given this long before we close it.
constexpr uint64_t kDrainNs = kNsPerSec;

// Only the first error of each kind is printed as it happens.
std::atomic<bool> g_err_reported[kErrKinds];
std::atomic<bool> g_malformed_reported{false};

enum class St : uint8_t { Idle, Connecting, Sending, Receiving, Draining };

struct Conn {
	int fd = -1;
	St st = St::Idle;
	uint32_t served = 0; // responses completed on this connection
	size_t sent = 0;     // bytes of the request sent
	const std::string *req = nullptr;
	uint64_t t_send = 0;   // request start, for latency
	uint64_t t_active = 0; // last progress, for timeouts
	ResponseParser rp;
};

class Worker {
public:
	explicit Worker(Stats *stats) : stats_(stats) {}
	void run();

private:
	bool claim();
	void advance(Conn &c, bool reuse);
	bool open(Conn &c);
	void close_conn(Conn &c);
	void begin_send(Conn &c);
	void try_send(Conn &c);
	void on_event(Conn &c, uint32_t ev);
	void receive(Conn &c);
	void complete(Conn &c, bool eof);
	void malformed(Conn &c);
	void fail(Conn &c, ErrKind kind, int err);
	void note_error(const Conn &c, ErrKind kind, int err);
	bool retryable(const Conn &c) const;
	void retry(Conn &c);
	void finished_one();
	void scan_timeouts();

	Stats *stats_;
	int efd_ = -1;
	int open_ = 0; // connections with an fd
	uint64_t now_ = 0;
	const std::string *next_req_ = nullptr;
	std::vector<Conn> conns_;
	std::unique_ptr<char[]> buf_;
};

// Hands out the next request, if the run has not reached -n, -D or Ctrl-C.
// The request number picks the path, so -f paths are used evenly.
bool Worker::claim()
{
	if (g_stop.load(std::memory_order_relaxed) ||
	    (g_deadline && now_ >= g_deadline))
		return false;
	uint64_t k = g_claimed.fetch_add(1, std::memory_order_relaxed);
	if (cfg.max_requests && k >= cfg.max_requests)
		return false;
	next_req_ = &cfg.requests[k % cfg.requests.size()];
	return true;
}

void Worker::finished_one()
{
	uint64_t d = g_done.fetch_add(1, std::memory_order_relaxed) + 1;
	if (g_ticks && d % g_ticks == 0)
		fprintf(g_progress, "%" PRIu64 " requests\n", d);
}

// The connection is free: start the next request on it (reuse) or on a new
// connection, or close it when there is nothing left to do. A connect that
// fails at once is an error for that request, and the loop moves on to the
// next one rather than recursing.
void Worker::advance(Conn &c, bool reuse)
{
	for (;;) {
		if (!claim()) {
			close_conn(c);
			return;
		}
		c.req = next_req_;
		if (reuse) {
			begin_send(c);
			return;
		}
		close_conn(c);
		if (open(c))
			return;
	}
}

// Starts a non-blocking connect for c.req. False (error counted) if it
// failed immediately.
bool Worker::open(Conn &c)
{
	int fd = socket(cfg.addr.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		note_error(c, kErrConnect, errno);
		return false;
	}
	if (cfg.addr.ss_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c.fd = fd;
	c.served = 0;
	c.t_active = now_;
	open_++;
	stats_->connects++;
	int r = connect(fd, reinterpret_cast<sockaddr *>(&cfg.addr),
			cfg.addrlen);
	if (r < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		int e = errno;
		close_conn(c);
		note_error(c, kErrConnect, e);
		return false;
	}
	// Registered once for both directions, edge-triggered: no epoll_ctl
	// for the rest of the connection's life.
	epoll_event ev{};
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.ptr = &c;
	if (epoll_ctl(efd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("htstress: epoll_ctl");
		exit(1);
	}
	if (r == 0)
		begin_send(c);
	else
		c.st = St::Connecting;
	return true;
}

void Worker::close_conn(Conn &c)
{
	if (c.fd >= 0) {
		close(c.fd);
		c.fd = -1;
		open_--;
	}
	c.st = St::Idle;
}

void Worker::begin_send(Conn &c)
{
	c.st = St::Sending;
	c.sent = 0;
	c.t_send = now_;
	c.rp.reset();
	try_send(c);
}

void Worker::try_send(Conn &c)
{
	const std::string &req = *c.req;
	while (c.sent < req.size()) {
		ssize_t r = send(c.fd, req.data() + c.sent, req.size() - c.sent,
				 MSG_NOSIGNAL);
		if (r > 0) {
			c.sent += static_cast<size_t>(r);
			c.t_active = now_;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return; // EPOLLOUT edge resumes
		if (retryable(c))
			retry(c);
		else
			fail(c, kErrWrite, errno);
		return;
	}
	if (cfg.debug)
		(void)!write(2, req.data(), req.size());
	c.st = St::Receiving;
}

// A keep-alive connection that served a response may be closed by the
// server just as we send the next request (idle timeout, request limit).
// Like browsers, resend once on a fresh connection when nothing of the
// response arrived; a fresh connection failing the same way is an error.
bool Worker::retryable(const Conn &c) const
{
	return c.served > 0 && !c.rp.started();
}

void Worker::retry(Conn &c)
{
	close_conn(c);
	if (!open(c))
		advance(c, false);
}

// Counts a socket error as the outcome of the current request.
void Worker::note_error(const Conn &c, ErrKind kind, int err)
{
	stats_->errors[kind]++;
	if (!g_err_reported[kind].exchange(true)) {
		if (kind == kErrClosed || kind == kErrTimeout || !err)
			fprintf(stderr, "htstress: %s\n",
				kind == kErrTimeout ? "connection timed out"
						    : c.rp.error());
		else
			fprintf(stderr, "htstress: %s: %s\n", kErrNames[kind],
				strerror(err));
	}
	finished_one();
}

void Worker::fail(Conn &c, ErrKind kind, int err)
{
	note_error(c, kind, err);
	close_conn(c);
	advance(c, false);
}

void Worker::complete(Conn &c, bool eof)
{
	uint64_t lat = now_ - c.t_send;
	stats_->latency.add(lat);
	if (c.rp.status() >= 200 && c.rp.status() <= 299)
		stats_->good++;
	else
		stats_->bad++;
	finished_one();
	c.served++;
	if (cfg.keepalive && c.rp.keep_alive() && !eof) {
		advance(c, true);
		return;
	}
	if (!eof && !c.rp.keep_alive()) {
		// The server closes after this response: wait for its FIN so
		// TIME_WAIT stays on its side, as with the classic htstress
		// (which only ever ended a response at the close).
		c.st = St::Draining;
		c.t_active = now_;
		return;
	}
	close_conn(c);
	advance(c, false);
}

// A malformed response (or bytes after a complete one, which no request of
// ours asked for) is a bad request; the connection cannot be trusted after
// it.
void Worker::malformed(Conn &c)
{
	stats_->bad++;
	if (!g_malformed_reported.exchange(true))
		fprintf(stderr, "htstress: %s\n",
			c.rp.error() ? c.rp.error()
				     : "data after the end of a response");
	finished_one();
	close_conn(c);
	advance(c, false);
}

void Worker::receive(Conn &c)
{
	for (;;) {
		ssize_t r = recv(c.fd, buf_.get(), kReadBuf, 0);
		if (r > 0) {
			stats_->bytes_in += static_cast<uint64_t>(r);
			c.t_active = now_;
			if (cfg.debug)
				(void)!write(2, buf_.get(),
					     static_cast<size_t>(r));
			if (c.st == St::Draining)
				continue;
			size_t used;
			auto res = c.rp.feed(buf_.get(), static_cast<size_t>(r),
					     &used);
			if (res == ResponseParser::kMore)
				continue;
			if (res == ResponseParser::kDone &&
			    used == static_cast<size_t>(r)) {
				complete(c, false);
				// Draining must read on to the FIN, which may
				// already be queued: edge-triggered epoll will
				// not report it again.
				if (c.st == St::Draining)
					continue;
				return;
			}
			malformed(c);
			return;
		}
		if (r == 0) {
			if (c.st == St::Draining) {
				close_conn(c);
				advance(c, false);
			} else if (c.rp.finish() == ResponseParser::kDone) {
				complete(c, true);
			} else if (retryable(c)) {
				retry(c);
			} else {
				fail(c, kErrClosed, 0);
			}
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (c.st == St::Draining) {
			// The response was already counted.
			close_conn(c);
			advance(c, false);
		} else if (retryable(c)) {
			retry(c);
		} else {
			fail(c, kErrRead, errno);
		}
		return;
	}
}

void Worker::on_event(Conn &c, uint32_t ev)
{
	switch (c.st) {
	case St::Connecting: {
		if (ev & (EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
			fail(c, kErrConnect, err ? err : ECONNREFUSED);
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		begin_send(c);
		if (c.st == St::Receiving && (ev & EPOLLIN))
			receive(c);
		return;
	}
	case St::Sending:
		try_send(c);
		if (c.st == St::Receiving && (ev & (EPOLLIN | EPOLLERR |
						    EPOLLHUP)))
			receive(c);
		return;
	case St::Receiving:
	case St::Draining:
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			receive(c);
		return;
	case St::Idle:
		return;
	}
}

void Worker::scan_timeouts()
{
	uint64_t limit = static_cast<uint64_t>(cfg.timeout * 1e9);
	for (Conn &c : conns_) {
		if (c.fd < 0)
			continue;
		uint64_t idle = now_ - c.t_active;
		if (c.st == St::Draining && idle > kDrainNs) {
			close_conn(c);
			advance(c, false);
		} else if (c.st != St::Draining && idle > limit) {
			fail(c, kErrTimeout, ETIMEDOUT);
		}
	}
}

void Worker::run()
{
	buf_.reset(new char[kReadBuf]);
	conns_.resize(static_cast<size_t>(cfg.concurrency));
	efd_ = epoll_create1(EPOLL_CLOEXEC);
	if (efd_ < 0) {
		perror("htstress: epoll_create1");
		exit(1);
	}
	now_ = now_ns();
	for (Conn &c : conns_)
		advance(c, false);

	epoll_event evs[kMaxEvents];
	uint64_t last_scan = now_;
	while (open_ > 0) {
		// The timeout only bounds how late we notice Ctrl-C, -D and
		// stalled connections; a busy run never waits for it.
		int n = epoll_wait(efd_, evs, kMaxEvents, 100);
		if (n < 0 && errno != EINTR) {
			perror("htstress: epoll_wait");
			exit(1);
		}
		// The clock is read per event, not per batch: a batch can hold
		// hundreds of events, and both ends of a latency sample (the
		// completion and, on keep-alive, the next send) come from it.
		for (int i = 0; i < n; i++) {
			now_ = now_ns();
			on_event(*static_cast<Conn *>(evs[i].data.ptr),
				 evs[i].events);
		}
		now_ = now_ns();
		if (g_abort.load(std::memory_order_relaxed)) {
			for (Conn &c : conns_)
				close_conn(c);
			break;
		}
		if (now_ - last_scan > kNsPerSec / 4) {
			last_scan = now_;
			scan_timeouts();
		}
	}
	close(efd_);
}

} // namespace

void run_worker(Stats *stats)
{
	Worker w(stats);
	w.run();
}

} // namespace htstress
