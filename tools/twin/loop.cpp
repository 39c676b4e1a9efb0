// SPDX-License-Identifier: GPL-2.0
/*
 * A twin worker thread: its connections' steps (the module's conn.c),
 * sending what the core staged (tx.c), and the epoll loop with its accept,
 * run queue and sweeper.
 */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "twin.h"

namespace twin {
namespace {

/* As the module's: STAGED moved nothing and does not push the deadline. */
enum class step { PROGRESS, STAGED, WAIT, CLOSE };

int64_t now_ms()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void touch(conn *c, unsigned secs)
{
	c->expires = now_ms() + int64_t(secs) * 1000;
}

/*
 * The Date, formatted at most once a second per thread (date.c); *now gets
 * its time.
 */
const char *date_now(int64_t *now)
{
	static thread_local char buf[KHTTPD_DATE_LEN];
	static thread_local time_t formatted = -1;
	time_t t = time(nullptr);

	if (t != formatted) {
		khttpd_format_date(t, buf);
		formatted = t;
	}
	*now = t;
	return buf;
}

/* ---- tx.c: sending the staged response --------------------------------- */

void tx_reset(conn *c)
{
	if (c->tx.file >= 0)
		close(c->tx.file);
	c->tx = tx{};
}

/* A send(2)'s outcome, as a step. */
step sent(ssize_t n)
{
	if (n >= 0)
		return step::PROGRESS;
	return errno == EAGAIN || errno == EINTR ? step::WAIT : step::CLOSE;
}

step send_mem(conn *c, const char *buf, size_t len, size_t *off, bool more)
{
	ssize_t n = send(c->fd, buf + *off, len - *off,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));

	if (n > 0)
		*off += size_t(n);
	return sent(n);
}

/*
 * As the module's khttpd_tx_fin_follows(): the end of a response the
 * connection closes after waits in the socket for the FIN that the
 * shutdown after it sends, to leave in one segment with it.
 */
bool fin_follows(const tx *t)
{
	return t->close_after;
}

/* Head and a cached body together: one sendmsg, as writev would. */
step send_cached(conn *c)
{
	tx *t = &c->tx;
	struct iovec iov[2];
	int n = 0;

	if (t->head_off < t->head_len)
		iov[n++] = { c->head + t->head_off, t->head_len - t->head_off };
	iov[n++] = { const_cast<char *>(t->mem->data.get()) + t->pos,
		     size_t(t->end - t->pos) };
	struct msghdr msg = {};
	msg.msg_iov = iov;
	msg.msg_iovlen = size_t(n);
	ssize_t ret = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL |
			      (fin_follows(t) ? MSG_MORE : 0));
	if (ret > 0) {
		size_t h = std::min(size_t(ret), t->head_len - t->head_off);
		t->head_off += h;
		t->pos += size_t(ret) - h;
	}
	return sent(ret);
}

/* The core writes the next piece; producing it moves nothing. */
step send_listing(conn *c)
{
	tx *t = &c->tx;

	if (t->piece_off < t->piece_len)
		return send_mem(c, t->piece, t->piece_len, &t->piece_off,
				fin_follows(t));
	t->piece_len = khttpd_listing_write(&t->writer, c->lst.get(),
					    c->lst->buf, &t->piece);
	t->piece_off = 0;
	if (!t->piece_len)
		t->listing_done = true;
	return step::STAGED;
}

step send_file(conn *c)
{
	tx *t = &c->tx;
	size_t len = size_t(std::min<uint64_t>(t->end - t->pos,
					       KHTTPD_SEND_CHUNK));
	off_t pos = off_t(t->pos);
	ssize_t ret = sendfile(c->fd, t->file, &pos, len);

	if (ret == 0)	/* the file shrank: the length cannot be kept */
		return step::CLOSE;
	if (ret > 0)
		t->pos = uint64_t(pos);
	return sent(ret);
}

bool body_left(const tx *t)
{
	switch (t->body) {
	case KHTTPD_BODY_FILE:
	case KHTTPD_BODY_CACHED:
		return t->pos < t->end;
	case KHTTPD_BODY_LISTING:
		return !t->listing_done;
	default:
		return false;
	}
}

step conn_send(conn *c)
{
	tx *t = &c->tx;
	step s;

	if (t->body == KHTTPD_BODY_CACHED && t->pos < t->end)
		s = send_cached(c);
	else if (t->head_off < t->head_len)
		s = send_mem(c, c->head, t->head_len, &t->head_off,
			     body_left(t) || fin_follows(t));
	else if (t->body == KHTTPD_BODY_FILE && t->pos < t->end)
		s = send_file(c);
	else if (t->body == KHTTPD_BODY_LISTING && !t->listing_done)
		s = send_listing(c);
	else
		s = step::STAGED;
	if (s == step::WAIT || s == step::CLOSE)
		return s;
	/* Only bytes that went out push the deadline back. */
	if (s == step::PROGRESS)
		touch(c, cfg.timeout_secs);

	if (t->head_off < t->head_len || body_left(t))
		return step::PROGRESS;

	/*
	 * As the module's kengine_conn_linger(): linger only if more input
	 * may come, as closing over it would reset the connection.
	 */
	s = step::PROGRESS;
	if (t->close_after) {
		int unread = 0;

		shutdown(c->fd, SHUT_WR);
		if (!t->linger && !c->rx_len &&
		    ioctl(c->fd, FIONREAD, &unread) == 0 && !unread) {
			s = step::CLOSE;
		} else {
			c->linger = true;
			touch(c, KHTTPD_LINGER_SECS);
			c->rx_len = 0;
		}
	}
	tx_reset(c);
	return s;
}

/* ---- conn.c: receiving and parsing -------------------------------------- */

void consume(conn *c, size_t n)
{
	c->rx_len -= n;
	memmove(c->rx, c->rx + n, c->rx_len);
	c->rx_parsed = false;
}

void discard_buffered(conn *c)
{
	size_t n = size_t(std::min<uint64_t>(c->discard, c->rx_len));

	c->discard -= n;
	consume(c, n);
}

/* The module's khttpd_conn_parse(): the core decides, we stage. */
void conn_parse(conn *c)
{
	tx *t = &c->tx;
	khttpd_fs fs = { c, { -1, -1 }, {} };
	int64_t now;
	const char *date = date_now(&now);
	const khttpd_serve_env env = {
		.fs = &fs,
		.head = c->head,
		.path = c->path,
		.date = date,
		.now = now,
		.listing = cfg.listing,
	};
	khttpd_request req;
	khttpd_plan plan;

	size_t n = khttpd_serve_next(&env, c->rx, c->rx_len, KHTTPD_RX_SIZE,
				     &req, &plan);
	if (!n) {
		c->rx_parsed = true;
		return;
	}
	t->head_len = plan.head_len;
	t->close_after = plan.close_after;
	t->linger = plan.linger;
	/* sendfile(2) takes no MSG_MORE: a cork holds the end of a file the
	 * connection closes after, and the FIN pushes it (fin_follows()). */
	if (fin_follows(t) && plan.body == KHTTPD_BODY_FILE) {
		int one = 1;

		setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	}
	if (plan.body == KHTTPD_BODY_LISTING)
		t->writer = plan.listing;
	t->busy = true;
	c->discard = plan.discard;
	consume(c, n);
	discard_buffered(c);
}

step conn_step(conn *c)
{
	ssize_t ret;

	if (c->tx.busy)
		return conn_send(c);

	if (c->linger) {
		ret = recv(c->fd, c->rx, KHTTPD_RX_SIZE, MSG_DONTWAIT);
		if (ret < 0 && (errno == EAGAIN || errno == EINTR))
			return step::WAIT;
		return ret > 0 ? step::PROGRESS : step::CLOSE;
	}

	if (c->rx_len && !c->rx_parsed && !c->discard) {
		conn_parse(c);
		return step::PROGRESS;
	}

	ret = recv(c->fd, c->rx + c->rx_len, KHTTPD_RX_SIZE - c->rx_len,
		   MSG_DONTWAIT);
	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return step::WAIT;
	if (ret <= 0)
		return step::CLOSE;
	/* As the module: a head's deadline runs from its first byte. */
	if (!c->rx_len || c->discard)
		touch(c, cfg.timeout_secs);
	c->rx_len += size_t(ret);
	c->rx_parsed = false;
	discard_buffered(c);
	return step::PROGRESS;
}

/* ---- the worker: accept, epoll loop, sweeper --------------------------- */

void conn_close(conn *c)
{
	worker *w = c->w;

	tx_reset(c);
	close(c->fd);
	c->fd = -1;
	if (c->queued)	/* rare: shutdown, sweeper */
		w->runq.remove(c);
	/* Keep the buffers (and a listing's capacity) for the next one. */
	w->conns.recycle(c);
}

void conn_io(conn *c)
{
	int budget = KHTTPD_IO_BUDGET;

	while (budget--) {
		switch (conn_step(c)) {
		case step::PROGRESS:
		case step::STAGED:
			continue;
		case step::WAIT:
			return;
		case step::CLOSE:
			conn_close(c);
			return;
		}
	}
	/* Budget spent with work left: let the others run first. */
	c->w->runq.push(c);
}

void conn_start(worker *w, int fd)
{
	conn *c = w->conns.take();
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->linger = false;
	c->queued = false;
	c->rx_len = 0;
	c->rx_parsed = false;
	c->discard = 0;
	touch(c, cfg.timeout_secs);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	struct epoll_event ev = {};
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	w->conns.add(c);
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		conn_close(c);
		return;
	}
	/* Like the module's first io_work: bytes may be waiting already. */
	conn_io(c);
}

void accept_all(worker *w)
{
	for (int i = 0; i < 256; i++) {
		int fd = accept4(w->listen_fd, nullptr, nullptr,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "twin: accept: %s\n",
					strerror(errno));
			return;
		}
		conn_start(w, fd);
	}
}

void sweep(worker *w)
{
	int64_t now = now_ms();

	for (conn *c = w->conns.first(), *next; c; c = next) {
		next = c->next;
		if (now > c->expires)
			conn_close(c);
	}
}

/* epoll data for the two fds that are not connections. */
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

	for (;;) {
		int timeout = w->runq.empty() ? 1000 : 0;
		int n = epoll_wait(w->ep, evs, 256, timeout);

		if (n < 0 && errno != EINTR) {
			perror("twin: epoll_wait");
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &listen_tag)
				accept_all(w);
			else if (p == &stop_tag)
				stop = true;
			else if (!static_cast<conn *>(p)->queued)
				conn_io(static_cast<conn *>(p));
		}
		if (stop)
			break;
		/* Those that spent their budget, once each, in order. */
		w->runq.run_all(conn_io);
		int64_t now = now_ms();
		if (now >= next_sweep) {
			sweep(w);
			next_sweep = now + 1000;
		}
	}
	/* Closed ones are freed with the worker (conn_set). */
	while (w->conns.first())
		conn_close(w->conns.first());
}

} // namespace twin
