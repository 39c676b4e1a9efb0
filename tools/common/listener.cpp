// SPDX-License-Identifier: GPL-2.0
/*
 * Listening sockets for the userspace servers (listener.h).
 */

#include "listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace tools {

bool listen_address(std::string *addr, unsigned port, sockaddr_storage *ss,
		    socklen_t *len)
{
	auto *in4 = reinterpret_cast<sockaddr_in *>(ss);
	auto *in6 = reinterpret_cast<sockaddr_in6 *>(ss);

	*ss = {};
	if (addr->empty()) {
		/* Booted with ipv6.disable=1: no AF_INET6 sockets at all. */
		int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		*addr = fd >= 0 ? "::" : "0.0.0.0";
		if (fd >= 0)
			close(fd);
	}
	if (inet_pton(AF_INET, addr->c_str(), &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(uint16_t(port));
		*len = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, addr->c_str(), &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(uint16_t(port));
		*len = sizeof(*in6);
		return true;
	}
	return false;
}

int bound_socket(const sockaddr_storage &ss, socklen_t len, bool reuseport)
{
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	int one = 1, zero = 0;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if ((reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    bind(fd, reinterpret_cast<const sockaddr *>(&ss), len)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int reuseport_listeners(const sockaddr_storage &ss, socklen_t len, unsigned n,
			int backlog, std::vector<int> *fds)
{
	int fd = bound_socket(ss, len, false);

	if (fd < 0)
		return fd;
	close(fd);
	for (unsigned i = 0; i < n; i++) {
		fd = bound_socket(ss, len, true);
		if (fd >= 0 && listen(fd, backlog)) {
			int err = -errno;
			close(fd);
			fd = err;
		}
		if (fd < 0) {
			for (int f : *fds)
				close(f);
			fds->clear();
			return fd;
		}
		fds->push_back(fd);
	}
	return 0;
}

} // namespace tools
