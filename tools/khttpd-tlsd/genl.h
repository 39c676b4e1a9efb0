// SPDX-License-Identifier: GPL-2.0
/*
 * Raw generic netlink for the kernel's "handshake" family: resolving it,
 * joining its "tlshd" multicast group, and its ACCEPT and DONE commands.
 * No libnl: the three messages are small and fixed.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tlsd {

struct handshake_family {
	uint16_t id = 0;
	uint32_t tlshd_group = 0; // multicast group id of "tlshd"
};

/*
 * A NETLINK_GENERIC socket for request/reply exchanges (one at a time:
 * callers serialize). Returns -1 after printing why.
 */
int genl_open_command_socket();

/*
 * Looks the family up with CTRL_CMD_GETFAMILY. Returns 0, -ENOENT when the
 * kernel has no such family (before 6.5, or without CONFIG_NET_HANDSHAKE),
 * or another negative errno.
 */
int genl_resolve_handshake(int nl_fd, handshake_family *out);

/*
 * A socket that receives the family's READY notifications, non-blocking.
 * Returns -1 after printing why.
 */
int genl_open_ready_socket(const handshake_family &fam);

// What ACCEPT hands over; the kernel installed sockfd in this process.
struct accepted_request {
	int sockfd = -1;
	uint32_t message_type = 0;
	uint32_t timeout_ms = 0; // 0: not given
	uint32_t auth_mode = 0;
	std::vector<uint32_t> peer_identities;
	uint32_t certificate_serial = 0; // key serials; 0: none given
	uint32_t privkey_serial = 0;
	std::string peername;
};

/*
 * HANDSHAKE_CMD_ACCEPT for the tlshd class. Returns 0 with *req filled,
 * -EAGAIN when nothing is pending, or another negative errno.
 */
int genl_handshake_accept(int nl_fd, const handshake_family &fam,
			  accepted_request *req);

/*
 * HANDSHAKE_CMD_DONE: status is 0 or a positive errno. Returns 0 or a
 * negative errno (the kernel's answer: -EBUSY when the request is gone,
 * e.g. cancelled by its timeout).
 */
int genl_handshake_done(int nl_fd, const handshake_family &fam, int sockfd,
			uint32_t status);

} // namespace tlsd
