// SPDX-License-Identifier: GPL-2.0
/*
 * The two ways khttpd-tlsd gets sockets to shake hands on: from the kernel
 * (the agent proper) or from its own listener (--listen, for testing).
 * Both run in a thread of their own until stop_fd becomes readable.
 */
#pragma once

#include "config.h"
#include "genl.h"
#include "tls_server.h"
#include "workers.h"

namespace tlsd {

struct agent_context {
	const config &cfg;
	const tls_identity &identity;
	worker_pool &pool;
	int stop_fd;
};

struct netlink_sockets {
	handshake_family family;
	int command_fd = -1; // ACCEPT, from the accept loop only
	int done_fd = -1;    // DONE, from the workers (under a lock)
	int ready_fd = -1;   // READY notifications
};

/*
 * Opens the sockets and resolves the family. Returns 0, or the exit status
 * after printing why (1 when the kernel has no handshake upcall).
 */
int netlink_setup(netlink_sockets *nl);

void run_netlink_agent(const agent_context &ctx, const netlink_sockets &nl);

// Opens 127.0.0.1:port; -1 after printing why.
int listen_setup(unsigned port);

void run_listen_mode(const agent_context &ctx, int listen_fd);

// "ADDR:PORT" of a connected socket's peer, for -v.
std::string peer_of(int fd);

} // namespace tlsd
