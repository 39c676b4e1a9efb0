// SPDX-License-Identifier: GPL-2.0
/*
 * The agent proper. One thread owns ACCEPT: on every READY notification
 * (and once at start, and every few seconds in case a notification was
 * lost to a full socket buffer) it accepts everything pending and hands
 * each socket to a worker, so the kernel's short queue of pending
 * requests (3 on a 1 GiB machine) empties at once. It never waits for a
 * handshake; only when every worker is busy does it leave requests
 * queued in the kernel until one is free. The workers report with DONE
 * and close their copy of the socket.
 */

#include "agent.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "handshake_uapi.h"
#include "placement.h"

namespace tlsd {

namespace {

// DONE comes from many workers over one socket, a request at a time.
std::mutex done_mu;

// How often to ACCEPT without a notification: cheap insurance.
constexpr int idle_poll_ms = 5000;
// How soon to retry when every worker was busy.
constexpr int busy_poll_ms = 50;

void report_done(const agent_context &ctx, const netlink_sockets &nl, int fd,
		 unsigned status, const std::string &peer)
{
	int rc;
	{
		std::lock_guard lock(done_mu);
		rc = genl_handshake_done(nl.done_fd, nl.family, fd, status);
	}
	if (rc < 0) {
		stats.done_failed++;
		if (ctx.cfg.verbose)
			fprintf(stderr, "khttpd-tlsd: %s: DONE: %s\n", peer.c_str(),
				strerror(-rc));
	}
	close(fd);
}

void handshake_job(const agent_context &ctx, const netlink_sockets &nl,
		   accepted_request req)
{
	std::string peer = req.peername.empty() ? peer_of(req.sockfd) : req.peername;

	// This agent serves khttpd: the server side, with its own certificate.
	// A client-side request (an NFS or NVMe mount wanting tlshd) is not
	// ours to do.
	if (req.message_type != uapi::msg_type_serverhello ||
	    req.auth_mode != uapi::auth_x509) {
		stats.failed++;
		if (ctx.cfg.verbose)
			fprintf(stderr, "khttpd-tlsd: %s: refused: not a server x509 "
				"request (message type %u, auth mode %u); is this "
				"for tlshd?\n", peer.c_str(), req.message_type,
				req.auth_mode);
		report_done(ctx, nl, req.sockfd, EOPNOTSUPP, peer);
		return;
	}

	unsigned timeout = req.timeout_ms ? req.timeout_ms : ctx.cfg.handshake_timeout_ms;
	place_handshake_thread(req.sockfd);
	handshake_outcome res = tls_server_handshake(ctx.identity, req.sockfd,
						     timeout, ctx.stop_fd);
	stats.record(res);
	if (ctx.cfg.verbose) {
		if (res.status == 0)
			fprintf(stderr, "khttpd-tlsd: %s: %s\n", peer.c_str(),
				res.summary.c_str());
		else
			fprintf(stderr, "khttpd-tlsd: %s: failed (DONE status %s): %s\n",
				peer.c_str(), strerrorname_np(res.status),
				res.error.c_str());
	}
	report_done(ctx, nl, req.sockfd, res.status, peer);
}

// Accepts until the kernel has nothing pending; false when the workers are
// all busy (requests may be left pending).
bool accept_pending(const agent_context &ctx, const netlink_sockets &nl)
{
	static bool error_said;

	for (;;) {
		if (!ctx.pool.wait_for_slot(0))
			return false;
		accepted_request req;
		int rc = genl_handshake_accept(nl.command_fd, nl.family, &req);
		if (rc == -EAGAIN)
			return true;
		if (rc < 0) {
			if (!error_said)
				fprintf(stderr, "khttpd-tlsd: HANDSHAKE_CMD_ACCEPT: %s\n",
					strerror(-rc));
			error_said = true;
			return true;
		}
		int fd = req.sockfd;
		if (!ctx.pool.start([&ctx, &nl, r = std::move(req)]() mutable {
			    handshake_job(ctx, nl, std::move(r));
		    })) {
			stats.failed++;
			report_done(ctx, nl, fd, EIO, "?");
		}
	}
}

// Reads every queued notification; true if there was any (or an overflow).
bool drain_notifications(int ready_fd)
{
	alignas(4) static unsigned char buf[8192];
	bool any = false;
	for (;;) {
		ssize_t n = recv(ready_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			any = true; // READY is the only thing this group carries
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			any = true; // notifications were lost: accept anyway
			continue;
		}
		return any;
	}
}

} // namespace

int netlink_setup(netlink_sockets *nl)
{
	nl->command_fd = genl_open_command_socket();
	nl->done_fd = genl_open_command_socket();
	if (nl->command_fd < 0 || nl->done_fd < 0)
		return 1;
	int rc = genl_resolve_handshake(nl->command_fd, &nl->family);
	if (rc == -ENOENT) {
		fprintf(stderr, "khttpd-tlsd: this kernel has no TLS handshake upcall "
			"(Linux 6.5+ with CONFIG_NET_HANDSHAKE)\n");
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "khttpd-tlsd: looking up the generic netlink family "
			"'handshake': %s\n", strerror(-rc));
		return 1;
	}
	nl->ready_fd = genl_open_ready_socket(nl->family);
	return nl->ready_fd < 0 ? 1 : 0;
}

void run_netlink_agent(const agent_context &ctx, const netlink_sockets &nl)
{
	// Requests may have been queued before we joined the group.
	bool pending = true;

	for (;;) {
		bool busy = false;
		if (pending) {
			busy = !accept_pending(ctx, nl);
			pending = busy;
		}
		pollfd p[2] = {{nl.ready_fd, POLLIN, 0}, {ctx.stop_fd, POLLIN, 0}};
		int n = poll(p, 2, busy ? busy_poll_ms : idle_poll_ms);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "khttpd-tlsd: poll: %s\n", strerror(errno));
			return;
		}
		if (p[1].revents)
			return;
		if (n == 0 || drain_notifications(nl.ready_fd) || p[0].revents)
			pending = true;
	}
}

} // namespace tlsd
