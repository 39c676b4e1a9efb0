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
 */

#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "htstress/response_parser.h"

namespace {

using htstress::ResponseParser;

constexpr size_t kReadBuf = 256 * 1024; // per thread; large bodies in few reads
constexpr int kMaxEvents = 256;
constexpr uint64_t kNsPerSec = 1000000000ull;
// A connection whose response is complete but whose server has not closed
// yet (HTTP/1.0 close semantics) is given this long before we close it.
constexpr uint64_t kDrainNs = kNsPerSec;

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec +
	       static_cast<uint64_t>(ts.tv_nsec);
}

/* ---------------------------------------------------------------- config */

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

Config cfg;

/* ------------------------------------------------------ shared run state */

std::atomic<uint64_t> g_claimed{0}; // requests handed out
std::atomic<uint64_t> g_done{0};    // requests finished (any outcome)
std::atomic<bool> g_stop{false};     // stop starting requests
std::atomic<bool> g_abort{false};    // drop in-flight requests too
std::atomic<int> g_running{0};	     // worker threads still running
uint64_t g_deadline = 0;	     // ns, 0: none
uint64_t g_ticks = 0;		     // progress line every g_ticks requests
FILE *g_progress = stdout;

/* -------------------------------------------------------------- latency */

// Log-linear histogram of nanoseconds: exact below 256 ns, then 128
// buckets per power of two, so the midpoint of a bucket is within 0.4% of
// any value in it. Fixed size, so recording is an increment.
struct Histogram {
	static constexpr int kSubBits = 7;
	static constexpr int kSub = 1 << kSubBits;
	static constexpr int kBuckets = 2 * kSub + (64 - kSubBits - 1) * kSub;

	std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets);
	uint64_t n = 0, sum = 0, min = UINT64_MAX, max = 0;

	static int index(uint64_t v)
	{
		if (v < 2 * kSub)
			return static_cast<int>(v);
		int e = std::bit_width(v) - 1; // >= kSubBits + 1
		int shift = e - kSubBits;
		return 2 * kSub + (e - kSubBits - 1) * kSub +
		       static_cast<int>((v >> shift) - kSub);
	}

	static uint64_t midpoint(int i)
	{
		if (i < 2 * kSub)
			return static_cast<uint64_t>(i);
		int j = i - 2 * kSub;
		int shift = j / kSub + 1;
		uint64_t lo = static_cast<uint64_t>(kSub + j % kSub) << shift;
		return lo + (1ull << shift) / 2;
	}

	void add(uint64_t v)
	{
		counts[static_cast<size_t>(index(v))]++;
		n++;
		sum += v;
		min = std::min(min, v);
		max = std::max(max, v);
	}

	void merge(const Histogram &o)
	{
		for (int i = 0; i < kBuckets; i++)
			counts[static_cast<size_t>(i)] +=
				o.counts[static_cast<size_t>(i)];
		n += o.n;
		sum += o.sum;
		min = std::min(min, o.min);
		max = std::max(max, o.max);
	}

	// Smallest recorded value v with at least p% of samples <= v.
	uint64_t percentile(double p) const
	{
		if (!n)
			return 0;
		uint64_t rank = static_cast<uint64_t>(
			std::ceil(p / 100.0 * static_cast<double>(n) - 1e-9));
		rank = std::clamp<uint64_t>(rank, 1, n);
		uint64_t seen = 0;
		for (int i = 0; i < kBuckets; i++) {
			seen += counts[static_cast<size_t>(i)];
			if (seen >= rank)
				return std::clamp(midpoint(i), min, max);
		}
		return max;
	}
};

/* ---------------------------------------------------------------- stats */

enum ErrKind { kErrConnect, kErrWrite, kErrRead, kErrClosed, kErrTimeout,
	       kErrKinds };
const char *const kErrNames[kErrKinds] = {"connect", "write", "read",
					  "closed", "timeout"};
// Only the first error of each kind is printed as it happens.
std::atomic<bool> g_err_reported[kErrKinds];
std::atomic<bool> g_malformed_reported{false};

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
};

/* --------------------------------------------------------------- worker */

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

/* ------------------------------------------------------------ setup */

void usage(FILE *f)
{
	fprintf(f,
		"Usage: htstress [options] [http://]hostname[:port]/path\n"
		"Options:\n"
		"   -n, --number       total number of requests (0 for infinite, "
		"Ctrl-C to abort)\n"
		"   -c, --concurrency  number of concurrent connections per "
		"thread\n"
		"   -t, --threads      number of threads (set this to the number "
		"of CPU cores)\n"
		"   -k, --keepalive    HTTP/1.1 keep-alive: many requests per "
		"connection\n"
		"                      (default: HTTP/1.0, one request per "
		"connection)\n"
		"   -f, --file FILE    request the paths listed in FILE, one per "
		"line, in turn\n"
		"                      (instead of the URL's path)\n"
		"   -D, --duration SEC run for SEC seconds (with -n: whichever "
		"ends first)\n"
		"   -u, --udaddr       path to unix domain socket\n"
		"   -h, --host         host to use for http request\n"
		"   -d, --debug        debug HTTP request and response\n"
		"   -4, -6             resolve hostname to IPv4 / IPv6 only\n"
		"   --timeout SEC      a connection making no progress for SEC "
		"seconds is a socket\n"
		"                      error (default 30)\n"
		"   --json             print the results as one JSON object\n"
		"   --help             display this message\n"
		"\n"
		"A request is good when its response is complete with a 2xx "
		"status, bad when\n"
		"complete with another status or malformed, and a socket error "
		"when connect,\n"
		"read or write fails or the connection closes mid-response. "
		"Exit status: 0 if\n"
		"every request was good, 1 otherwise, 2 for usage errors.\n");
}

[[noreturn]] void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "htstress: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'htstress --help' for more information.\n");
	exit(2);
}

uint64_t parse_uint(const char *s, const char *what, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v > max)
		usage_error("invalid %s", what);
	return v;
}

double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v > 0) || v > 1e7)
		usage_error("invalid %s", what);
	return v;
}

// The request line cannot carry spaces or control characters.
bool valid_path(const std::string &p)
{
	if (p.empty() || p[0] != '/')
		return false;
	for (unsigned char ch : p)
		if (ch <= 0x20 || ch == 0x7f)
			return false;
	return true;
}

// [http://]host[:port][/path]; host may be a bracketed IPv6 literal.
void parse_url(const std::string &u)
{
	std::string s = u;
	if (s.rfind("https://", 0) == 0)
		usage_error("%s: https is not supported", u.c_str());
	if (s.rfind("http://", 0) == 0)
		s.erase(0, 7);
	size_t slash = s.find('/');
	std::string auth = s.substr(0, slash);
	std::string path = slash == std::string::npos ? "/" : s.substr(slash);
	std::string host_part; // as it goes into the Host header
	if (!auth.empty() && auth[0] == '[') {
		size_t rb = auth.find(']');
		if (rb == std::string::npos)
			usage_error("bad IPv6 address in URL: %s", u.c_str());
		cfg.node = auth.substr(1, rb - 1);
		host_part = auth.substr(0, rb + 1);
		std::string rest = auth.substr(rb + 1);
		if (!rest.empty()) {
			if (rest[0] != ':')
				usage_error("bad URL: %s", u.c_str());
			cfg.port = rest.substr(1);
		}
	} else {
		size_t colon = auth.find(':');
		cfg.node = auth.substr(0, colon);
		host_part = cfg.node;
		if (colon != std::string::npos)
			cfg.port = auth.substr(colon + 1);
	}
	if (cfg.node.empty())
		usage_error("missing host name in URL: %s", u.c_str());
	if (cfg.port.empty() ||
	    cfg.port.find_first_not_of("0123456789") != std::string::npos ||
	    cfg.port.size() > 5 || std::stoul(cfg.port) == 0 ||
	    std::stoul(cfg.port) > 65535)
		usage_error("bad port in URL: %s", u.c_str());
	if (!valid_path(path))
		usage_error("bad path in URL: %s", u.c_str());
	if (cfg.paths.empty())
		cfg.paths.push_back(path);
	if (cfg.host_header.empty())
		cfg.host_header = cfg.port == "80" ? host_part
						   : host_part + ":" + cfg.port;
	cfg.url = "http://" + host_part + ":" + cfg.port + path;
}

void read_paths(const char *file)
{
	std::ifstream in(file);
	if (!in) {
		fprintf(stderr, "htstress: cannot open %s: %s\n", file,
			strerror(errno));
		exit(2);
	}
	std::string line;
	for (int lineno = 1; std::getline(in, line); lineno++) {
		while (!line.empty() && isspace(static_cast<unsigned char>(
						line.back())))
			line.pop_back();
		size_t b = line.find_first_not_of(" \t");
		if (b == std::string::npos || line[b] == '#')
			continue; // blank lines and comments
		line.erase(0, b);
		if (!valid_path(line)) {
			fprintf(stderr,
				"htstress: %s:%d: not a path (must start with "
				"'/', no spaces): %s\n",
				file, lineno, line.c_str());
			exit(2);
		}
		cfg.paths.push_back(line);
	}
	if (cfg.paths.empty()) {
		fprintf(stderr, "htstress: %s: no paths\n", file);
		exit(2);
	}
}

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

std::string json_escape(const std::string &s)
{
	std::string o;
	for (unsigned char ch : s) {
		if (ch == '"' || ch == '\\') {
			o += '\\';
			o += static_cast<char>(ch);
		} else if (ch < 0x20) {
			char b[8];
			snprintf(b, sizeof(b), "\\u%04x", ch);
			o += b;
		} else {
			o += static_cast<char>(ch);
		}
	}
	return o;
}

void report(const Stats &t, double secs)
{
	uint64_t errs = t.socket_errors();
	uint64_t total = t.good + t.bad + errs;
	// Throughput counts responses actually received.
	double rps = secs > 0 ? static_cast<double>(t.good + t.bad) / secs : 0;
	const Histogram &h = t.latency;
	double p50 = h.percentile(50) / 1e6, p90 = h.percentile(90) / 1e6,
	       p99 = h.percentile(99) / 1e6, p999 = h.percentile(99.9) / 1e6;
	double mean = h.n ? static_cast<double>(h.sum) / h.n / 1e6 : 0;
	double lmin = h.n ? h.min / 1e6 : 0, lmax = h.max / 1e6;

	if (cfg.json) {
		printf("{\"url\": \"%s\", \"threads\": %d, \"concurrency\": %d, "
		       "\"keepalive\": %s, \"paths\": %zu, ",
		       json_escape(cfg.url).c_str(), cfg.threads,
		       cfg.concurrency, cfg.keepalive ? "true" : "false",
		       cfg.paths.size());
		printf("\"requests\": %" PRIu64 ", \"good\": %" PRIu64
		       ", \"bad\": %" PRIu64 ", \"socket_errors\": %" PRIu64
		       ", ",
		       total, t.good, t.bad, errs);
		printf("\"errors\": {");
		for (int k = 0; k < kErrKinds; k++)
			printf("%s\"%s\": %" PRIu64, k ? ", " : "",
			       kErrNames[k], t.errors[k]);
		printf("}, \"seconds\": %.6f, \"rps\": %.3f, \"connections\": "
		       "%" PRIu64 ", \"bytes_received\": %" PRIu64 ", ",
		       secs, rps, t.connects, t.bytes_in);
		printf("\"latency_ms\": {\"p50\": %.6f, \"p90\": %.6f, "
		       "\"p99\": %.6f, \"p999\": %.6f, \"min\": %.6f, "
		       "\"mean\": %.6f, \"max\": %.6f}}\n",
		       p50, p90, p99, p999, lmin, mean, lmax);
		return;
	}
	auto pct = [&](uint64_t v) {
		return total ? static_cast<int>(v * 100 / total) : 0;
	};
	printf("\n"
	       "requests:      %" PRIu64 "\n"
	       "good requests: %" PRIu64 " [%d%%]\n"
	       "bad requests:  %" PRIu64 " [%d%%]\n"
	       "socket errors: %" PRIu64 " [%d%%]\n"
	       "seconds:       %.3f\n"
	       "requests/sec:  %.3f\n",
	       total, t.good, pct(t.good), t.bad, pct(t.bad), errs, pct(errs),
	       secs, rps);
	if (errs) {
		printf("  (");
		for (int k = 0, first = 1; k < kErrKinds; k++) {
			if (!t.errors[k])
				continue;
			printf("%s%s: %" PRIu64, first ? "" : ", ",
			       kErrNames[k], t.errors[k]);
			first = 0;
		}
		printf(")\n");
	}
	if (h.n)
		printf("latency p50:   %.3f ms\n"
		       "latency p90:   %.3f ms\n"
		       "latency p99:   %.3f ms\n"
		       "latency p99.9: %.3f ms\n"
		       "latency max:   %.3f ms\n",
		       p50, p90, p99, p999, lmax);
	printf("\n");
}

} // namespace

int main(int argc, char *argv[])
{
	if (argc == 1) {
		usage(stderr);
		return 2;
	}
	// The classic's -h takes a host; a lone "htstress -h" asks for help.
	if (argc == 2 && !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}

	enum { kOptHelp = 256, kOptJson, kOptTimeout };
	static const option long_options[] = {
		{"number", required_argument, nullptr, 'n'},
		{"concurrency", required_argument, nullptr, 'c'},
		{"threads", required_argument, nullptr, 't'},
		{"keepalive", no_argument, nullptr, 'k'},
		{"file", required_argument, nullptr, 'f'},
		{"duration", required_argument, nullptr, 'D'},
		{"udaddr", required_argument, nullptr, 'u'},
		{"host", required_argument, nullptr, 'h'},
		{"debug", no_argument, nullptr, 'd'},
		{"json", no_argument, nullptr, kOptJson},
		{"timeout", required_argument, nullptr, kOptTimeout},
		{"help", no_argument, nullptr, kOptHelp},
		{nullptr, 0, nullptr, 0},
	};
	const char *paths_file = nullptr;
	opterr = 0;
	for (;;) {
		int o = getopt_long(argc, argv, ":n:c:t:kf:D:u:h:d46", long_options,
				    nullptr);
		if (o == -1)
			break;
		switch (o) {
		case 'n':
			cfg.max_requests = parse_uint(optarg, "number of requests",
						      UINT64_MAX / 2);
			break;
		case 'c':
			cfg.concurrency = static_cast<int>(
				parse_uint(optarg, "concurrency", 1000000));
			if (!cfg.concurrency)
				usage_error("%s", "concurrency must be at least 1");
			break;
		case 't':
			cfg.threads = static_cast<int>(
				parse_uint(optarg, "number of threads", 4096));
			if (!cfg.threads)
				usage_error("%s", "threads must be at least 1");
			break;
		case 'k':
			cfg.keepalive = true;
			break;
		case 'f':
			paths_file = optarg;
			break;
		case 'D':
			cfg.duration = parse_seconds(optarg, "duration");
			break;
		case 'u':
			cfg.udaddr = optarg;
			break;
		case 'h':
			cfg.host_header = optarg;
			break;
		case 'd':
			cfg.debug = true;
			break;
		case '4':
			cfg.family = AF_INET;
			break;
		case '6':
			cfg.family = AF_INET6;
			break;
		case kOptJson:
			cfg.json = true;
			break;
		case kOptTimeout:
			cfg.timeout = parse_seconds(optarg, "timeout");
			break;
		case kOptHelp:
			usage(stdout);
			return 0;
		case ':':
			usage_error("option %s requires an argument",
				    argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("%s", "missing URL");
	if (optind + 1 < argc)
		usage_error("unexpected argument %s", argv[optind + 1]);
	if (paths_file)
		read_paths(paths_file);
	parse_url(argv[optind]);
	for (unsigned char ch : cfg.host_header)
		if (ch < 0x20 || ch == 0x7f)
			usage_error("%s", "bad host name");

	for (const std::string &p : cfg.paths) {
		std::string r = "GET " + p +
				(cfg.keepalive ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
		r += "Host: " + cfg.host_header + "\r\n\r\n";
		cfg.requests.push_back(std::move(r));
	}

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
			Worker w(&stats[static_cast<size_t>(i)]);
			w.run();
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
	for (const Stats &s : stats) {
		total.good += s.good;
		total.bad += s.bad;
		total.bytes_in += s.bytes_in;
		total.connects += s.connects;
		for (int k = 0; k < kErrKinds; k++)
			total.errors[k] += s.errors[k];
		total.latency.merge(s.latency);
	}
	fflush(g_progress);
	report(total, secs);
	uint64_t all = total.good + total.bad + total.socket_errors();
	return all && total.good == all ? 0 : 1;
}
