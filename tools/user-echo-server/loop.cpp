// SPDX-License-Identifier: GPL-2.0
/*
 * A worker thread: its epoll loop, accepting (within the connection limit
 * shared by all threads), running connections within a budget, and the
 * once-a-second sweep that closes idle ones.
 */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "echo.h"

namespace echo {

int64_t now_ms()
{
	struct timespec ts;

	/* Coarse is enough for second-granularity deadlines, and cheaper. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

void conn_close(conn *c)
{
	worker *w = c->w;

	close(c->fd);	/* also takes it out of the epoll set */
	c->fd = -1;
	if (c->queued)	/* rare: the sweeper or shutdown */
		w->runq.remove(c);
	w->conns.recycle(c);
	stats.open.fetch_sub(1, std::memory_order_relaxed);
	stats.closed.fetch_add(1, std::memory_order_relaxed);
}

/*
 * Steps until the socket would block. A client streaming at full speed
 * never blocks, so after kBudget steps the connection goes to the back of
 * the run queue and the others get their turn first.
 */
void conn_io(conn *c)
{
	for (int budget = kBudget; budget--;) {
		switch (conn_step(c)) {
		case step::PROGRESS:
			continue;
		case step::WAIT:
			return;
		case step::CLOSE:
			conn_close(c);
			return;
		}
	}
	c->w->runq.push(c);
}

void conn_start(worker *w, int fd)
{
	conn *c = w->conns.take();
	int one = 1;

	if (!c) {
		close(fd);
		stats.open.fetch_sub(1, std::memory_order_relaxed);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->queued = false;
	c->peer_done = false;
	c->off = c->len = 0;
	c->expires = cfg.timeout_secs ?
		now_ms() + int64_t(cfg.timeout_secs) * 1000 : 0;
	/* An echo is one small write: send it now, not after 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	w->conns.add(c);

	struct epoll_event ev = {};
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		conn_close(c);
		return;
	}
	/* Bytes may have arrived with the handshake: no edge will tell. */
	conn_io(c);
}

/*
 * The limit is claimed before the connection is set up, so threads
 * accepting at the same moment cannot overshoot it together. Over the
 * limit, the new connection is accepted and closed at once: the client
 * sees EOF rather than waiting in the backlog for a slot.
 */
void accept_all(worker *w)
{
	for (int i = 0; i < 256; i++) {
		int fd = accept4(w->listen_fd, nullptr, nullptr,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "user-echo-server: accept: %s\n",
					strerror(errno));
			return;
		}
		if (stats.open.fetch_add(1, std::memory_order_relaxed) >=
		    cfg.max_conns) {
			stats.open.fetch_sub(1, std::memory_order_relaxed);
			stats.refused.fetch_add(1, std::memory_order_relaxed);
			close(fd);
			continue;
		}
		stats.accepted.fetch_add(1, std::memory_order_relaxed);
		conn_start(w, fd);
	}
}

void sweep(worker *w)
{
	int64_t now = now_ms();

	for (conn *c = w->conns.first(), *next; c; c = next) {
		next = c->next;
		if (now > c->expires) {
			stats.timed_out.fetch_add(1, std::memory_order_relaxed);
			conn_close(c);
		}
	}
}

/* epoll data of the two fds that are not connections. */
char listen_tag, stop_tag;

} // namespace

void worker_run(worker *w, int stop_fd)
{
	struct epoll_event evs[256];
	int64_t next_sweep = now_ms() + 1000;

	/* Level-triggered: the listener, and the stop event. */
	struct epoll_event ev = {};
	ev.events = EPOLLIN;
	ev.data.ptr = &listen_tag;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->listen_fd, &ev);
	ev.data.ptr = &stop_tag;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, stop_fd, &ev);

	for (bool stop = false; !stop;) {
		int n = epoll_wait(w->ep, evs, 256, w->runq.empty() ? 1000 : 0);

		if (n < 0 && errno != EINTR) {
			perror("user-echo-server: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &listen_tag)
				accept_all(w);
			else if (p == &stop_tag)
				stop = true;
			else if (!static_cast<conn *>(p)->queued)
				conn_io(static_cast<conn *>(p));
		}
		/* Those that spent their budget, once each, in order. */
		w->runq.run_all(conn_io);
		if (cfg.timeout_secs && now_ms() >= next_sweep) {
			sweep(w);
			next_sweep = now_ms() + 1000;
		}
	}
	/* Closed ones are freed with the worker (conn_set). */
	while (w->conns.first())
		conn_close(w->conns.first());
}

} // namespace echo
