// SPDX-License-Identifier: GPL-2.0
/*
 * One connection's echo: send what is pending, or else read more. Reading
 * only into an empty buffer is the whole of backpressure: while the
 * client does not take its echo, recv is not called, the socket's receive
 * queue fills and TCP closes the client's window. The connection is
 * registered edge-triggered for both directions once (loop.cpp), so not
 * reading costs no epoll_ctl; the step that empties the buffer goes on to
 * recv, which picks up whatever arrived meanwhile.
 */

#include <sys/socket.h>

#include <cerrno>

#include "echo.h"

namespace echo {
namespace {

void touch(conn *c)
{
	if (cfg.timeout_secs)
		c->expires = now_ms() + int64_t(cfg.timeout_secs) * 1000;
}

bool would_block()
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

} // namespace

step conn_step(conn *c)
{
	ssize_t n;

	if (c->len) {
		n = send(c->fd, c->buf + c->off, c->len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return would_block() ? step::WAIT : step::CLOSE;
		c->off += size_t(n);
		c->len -= size_t(n);
		stats.bytes_echoed.fetch_add(uint64_t(n),
					     std::memory_order_relaxed);
		touch(c);
		return step::PROGRESS;
	}
	/*
	 * Half-close: the client said it will send nothing more and has all
	 * of its echo, so there is nothing left to do. Closing now sends our
	 * FIN; no unread input is left behind to turn it into a reset.
	 */
	if (c->peer_done)
		return step::CLOSE;

	n = recv(c->fd, c->buf, kBufSize, MSG_DONTWAIT);
	if (n < 0)
		return would_block() ? step::WAIT : step::CLOSE;
	if (n == 0) {
		c->peer_done = true;
		return step::PROGRESS;
	}
	c->off = 0;
	c->len = size_t(n);
	touch(c);
	return step::PROGRESS;
}

} // namespace echo
