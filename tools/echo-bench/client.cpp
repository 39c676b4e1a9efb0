// SPDX-License-Identifier: GPL-2.0
/*
 * What the bench and the checker share: connecting to the server and the
 * byte pattern payloads are cut from.
 */

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "echo_bench.h"

namespace echo_bench {

std::string syserr(const char *what, int err)
{
	return std::string(what) + ": " + strerror(err);
}

int connect_server(bool blocking, std::string *err)
{
	int fd = socket(cfg.addr.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0) {
		*err = syserr("socket", errno);
		return -1;
	}
	/* Non-blocking connect, so that an unanswered SYN has our timeout. */
	int e = 0;
	if (connect(fd, reinterpret_cast<sockaddr *>(&cfg.addr), cfg.addrlen)) {
		if (errno != EINPROGRESS) {
			e = errno;
		} else {
			pollfd p{fd, POLLOUT, 0};
			int r = poll(&p, 1, int(cfg.timeout * 1000));
			socklen_t l = sizeof(e);
			if (r == 0)
				e = ETIMEDOUT;
			else if (r < 0)
				e = errno;
			else
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
		}
	}
	if (e) {
		close(fd);
		*err = syserr("connect", e);
		return -1;
	}
	/* The bench's round trips are blocking calls, as the course's are. */
	if (blocking)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	timeval tv;
	tv.tv_sec = time_t(cfg.timeout);
	tv.tv_usec = suseconds_t((cfg.timeout - double(tv.tv_sec)) * 1e6);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

namespace {

/* splitmix64: a good 64-bit mix of a counter, one multiply-xorshift chain. */
uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

} // namespace

void pattern(uint64_t key, uint64_t off, unsigned char *buf, size_t len)
{
	uint64_t k = mix(key);

	for (size_t i = 0; i < len;) {
		uint64_t word = mix(k ^ ((off + i) >> 3));
		size_t b = size_t((off + i) & 7);
		for (; b < 8 && i < len; b++, i++)
			buf[i] = (unsigned char)(word >> (8 * b));
	}
}

} // namespace echo_bench
