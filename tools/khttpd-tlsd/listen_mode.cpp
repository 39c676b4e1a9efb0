// SPDX-License-Identifier: GPL-2.0
/*
 * Development mode (--listen PORT): the agent accepts TCP connections on
 * 127.0.0.1 itself and runs the very handshake and kTLS set-up it runs
 * for the kernel. Then, to show both kTLS directions work, it reads the
 * HTTP request through kTLS RX and writes a small plaintext response that
 * kTLS TX encrypts, followed by a close_notify alert, and closes. The body
 * says what was negotiated, for the tests (tests/tlsd/).
 */

#include "agent.h"
#include "placement.h"

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace tlsd {

namespace {

constexpr unsigned char record_alert = 21;
constexpr unsigned char record_application_data = 23;
constexpr int request_timeout_ms = 10000;
constexpr size_t max_request = 16384;

/*
 * Reads the request head through kTLS. recvmsg() with room for a control
 * message: kTLS returns a non-data record (an alert) with its type there,
 * instead of failing with EIO.
 */
bool read_request(int fd, std::string *head, std::string *why)
{
	char buf[4096];
	while (head->find("\r\n\r\n") == std::string::npos) {
		if (head->size() > max_request) {
			*why = "request head too large";
			return false;
		}
		pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, request_timeout_ms) <= 0) {
			*why = "no request within 10 s";
			return false;
		}
		char cbuf[CMSG_SPACE(sizeof(unsigned char))];
		iovec iov = {buf, sizeof(buf)};
		msghdr msg = {};
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		ssize_t n = recvmsg(fd, &msg, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*why = std::string("recvmsg through kTLS: ") + strerror(errno);
			return false;
		}
		if (n == 0) {
			*why = "client closed before sending a request";
			return false;
		}
		cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (c && c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE &&
		    *CMSG_DATA(c) != record_application_data) {
			*why = "a TLS record of type " + std::to_string(*CMSG_DATA(c)) +
			       " before the request";
			return false;
		}
		head->append(buf, n);
	}
	return true;
}

bool send_all(int fd, const std::string &s)
{
	size_t off = 0;
	while (off < s.size()) {
		ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += n;
	}
	return true;
}

// A close_notify (warning, 0) as an alert record: kTLS sends a record of
// the type the control message names.
void send_close_notify(int fd)
{
	unsigned char alert[2] = {1, 0};
	char cbuf[CMSG_SPACE(sizeof(unsigned char))] = {};
	iovec iov = {alert, sizeof(alert)};
	msghdr msg = {};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_TLS;
	c->cmsg_type = TLS_SET_RECORD_TYPE;
	c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(c) = record_alert;
	sendmsg(fd, &msg, MSG_NOSIGNAL);
}

void serve_connection(const agent_context &ctx, int fd)
{
	std::string peer = peer_of(fd);
	place_handshake_thread(fd);
	handshake_outcome res = tls_server_handshake(ctx.identity, fd,
						     ctx.cfg.handshake_timeout_ms, ctx.stop_fd);
	stats.record(res);
	if (res.status) {
		if (ctx.cfg.verbose)
			fprintf(stderr, "khttpd-tlsd: %s: failed (%s): %s\n", peer.c_str(),
				strerrorname_np(res.status), res.error.c_str());
		close(fd);
		return;
	}
	if (ctx.cfg.verbose)
		fprintf(stderr, "khttpd-tlsd: %s: %s\n", peer.c_str(), res.summary.c_str());

	std::string head, why;
	if (!read_request(fd, &head, &why)) {
		if (ctx.cfg.verbose)
			fprintf(stderr, "khttpd-tlsd: %s: %s\n", peer.c_str(), why.c_str());
		close(fd);
		return;
	}
	std::string body = "khttpd-tlsd: " + res.summary + "\nrequest: " +
			   head.substr(0, head.find("\r\n")) + "\n";
	std::string response = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: " + std::to_string(body.size()) + "\r\n"
			       "Connection: close\r\n\r\n" + body;
	if (send_all(fd, response))
		send_close_notify(fd);
	close(fd);
}

} // namespace

std::string peer_of(int fd)
{
	sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0)
		return "?";
	if (ss.ss_family == AF_INET) {
		auto *a = reinterpret_cast<sockaddr_in *>(&ss);
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		return "[" + std::string(ip) + "]:" + std::to_string(port);
	}
	return std::string(ip) + ":" + std::to_string(port);
}

int listen_setup(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	sockaddr_in addr = {};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 ||
	    listen(fd, 4096) < 0) {
		fprintf(stderr, "khttpd-tlsd: listening on 127.0.0.1:%u: %s\n", port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void run_listen_mode(const agent_context &ctx, int listen_fd)
{
	for (;;) {
		pollfd p[2] = {{listen_fd, POLLIN, 0}, {ctx.stop_fd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		if (p[1].revents)
			return;
		if (!p[0].revents)
			continue;
		// Like the kernel's queue: with every worker busy, connections
		// wait in the listen backlog.
		while (!ctx.pool.wait_for_slot(100)) {
			pollfd s = {ctx.stop_fd, POLLIN, 0};
			if (poll(&s, 1, 0) > 0)
				return;
		}
		int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (!ctx.pool.start([&ctx, fd] { serve_connection(ctx, fd); })) {
			stats.failed++;
			close(fd);
		}
	}
}

} // namespace tlsd
