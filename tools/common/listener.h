// SPDX-License-Identifier: GPL-2.0
/*
 * Listening sockets for the userspace servers (the twin, user-echo-server),
 * shaped like the module's listener: without an address, one IPv6 socket
 * that takes IPv4 as well (IPV6_V6ONLY cleared, whatever
 * net.ipv6.bindv6only says), or IPv4 alone on a machine without IPv6;
 * SO_REUSEADDR, so a restart right after a stop finds the port free; and
 * a listener per worker thread with SO_REUSEPORT.
 */
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace tools {

/*
 * *addr and port as a socket address. An empty *addr becomes "::" or,
 * without IPv6, "0.0.0.0" (so that messages can name it). False when
 * *addr is not an IPv4 or IPv6 literal.
 */
bool listen_address(std::string *addr, unsigned port, sockaddr_storage *ss,
		    socklen_t *len);

/* A non-blocking socket bound to ss, or -errno. */
int bound_socket(const sockaddr_storage &ss, socklen_t len, bool reuseport);

/*
 * n listeners on ss, each with SO_REUSEPORT and listen(backlog), into
 * *fds; 0, or -errno with none left open. SO_REUSEPORT would let them
 * share the port with another reuseport listener of the same user (a
 * second server of ours, silently splitting the clients): a plain socket
 * is bound first, so that a port in use is an error.
 */
int reuseport_listeners(const sockaddr_storage &ss, socklen_t len, unsigned n,
			int backlog, std::vector<int> *fds);

} // namespace tools
