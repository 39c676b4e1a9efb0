// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink by hand. A request is
 *     struct nlmsghdr | struct genlmsghdr | attributes (struct nlattr + payload,
 *     each padded to 4 bytes)
 * sent to the kernel (port 0) with NLM_F_REQUEST | NLM_F_ACK. The kernel
 * answers with zero or more messages of the family's type (the reply)
 * followed by an NLMSG_ERROR carrying 0 (the ack) or a negative errno;
 * every message of the exchange carries the request's sequence number.
 */

#include "genl.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "handshake_uapi.h"

namespace tlsd {

namespace {

std::atomic<uint32_t> next_seq{1};

class request_builder {
public:
	request_builder(uint16_t type, uint8_t cmd, uint8_t version)
	{
		auto *nlh = header();
		nlh->nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
		nlh->nlmsg_type = type;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = next_seq++;
		auto *genl = static_cast<genlmsghdr *>(NLMSG_DATA(nlh));
		genl->cmd = cmd;
		genl->version = version;
	}

	void put(uint16_t type, const void *data, size_t len)
	{
		auto *nlh = header();
		size_t at = NLMSG_ALIGN(nlh->nlmsg_len);
		auto *nla = reinterpret_cast<nlattr *>(buf_ + at);
		nla->nla_type = type;
		nla->nla_len = NLA_HDRLEN + len;
		memcpy(buf_ + at + NLA_HDRLEN, data, len);
		nlh->nlmsg_len = at + NLA_ALIGN(nla->nla_len);
	}
	void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof(v)); }
	void put_string(uint16_t type, const char *s) { put(type, s, strlen(s) + 1); }

	nlmsghdr *header() { return reinterpret_cast<nlmsghdr *>(buf_); }

private:
	// Room for the few small attributes of these requests.
	alignas(nlmsghdr) unsigned char buf_[256] = {};
};

// Calls fn(type, payload, length) for each attribute in [data, data+len).
void for_each_attr(const void *data, size_t len,
		   const std::function<void(uint16_t, const unsigned char *, size_t)> &fn)
{
	auto *p = static_cast<const unsigned char *>(data);

	while (len >= NLA_HDRLEN) {
		auto *nla = reinterpret_cast<const nlattr *>(p);
		if (nla->nla_len < NLA_HDRLEN || nla->nla_len > len)
			return;
		fn(nla->nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN,
		   nla->nla_len - NLA_HDRLEN);
		size_t step = NLA_ALIGN(nla->nla_len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
}

uint32_t attr_u32(const unsigned char *p, size_t len)
{
	uint32_t v = 0;
	if (len >= sizeof(v))
		memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Sends the request and reads until its ack or error, passing each reply
 * message's attributes (after the genl header) to on_reply. Returns 0 or
 * the kernel's negative errno.
 */
int transact(int nl_fd, request_builder &req,
	     const std::function<void(const unsigned char *, size_t)> &on_reply)
{
	nlmsghdr *out = req.header();
	sockaddr_nl kernel = {};
	kernel.nl_family = AF_NETLINK;

	if (sendto(nl_fd, out, out->nlmsg_len, 0,
		   reinterpret_cast<sockaddr *>(&kernel), sizeof(kernel)) < 0)
		return -errno;

	// Big enough for any reply of these commands (the kernel sizes them
	// at GENLMSG_DEFAULT_SIZE, a page less overhead).
	alignas(nlmsghdr) static thread_local unsigned char buf[32768];
	for (;;) {
		ssize_t n = recv(nl_fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno; // EAGAIN here: SO_RCVTIMEO, no answer
		}
		size_t left = n;
		for (auto *nlh = reinterpret_cast<nlmsghdr *>(buf); NLMSG_OK(nlh, left);
		     nlh = NLMSG_NEXT(nlh, left)) {
			if (nlh->nlmsg_seq != out->nlmsg_seq)
				continue; // a stale answer to an earlier, timed-out request
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				auto *err = static_cast<nlmsgerr *>(NLMSG_DATA(nlh));
				return err->error;
			}
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
				continue;
			auto *attrs = static_cast<unsigned char *>(NLMSG_DATA(nlh)) + GENL_HDRLEN;
			on_reply(attrs, nlh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN));
		}
	}
}

} // namespace

int genl_open_command_socket()
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		fprintf(stderr, "khttpd-tlsd: netlink socket: %s\n", strerror(errno));
		return -1;
	}
	// An answer always comes; the timeout only keeps a lost one (the
	// socket's buffer overflowing) from hanging the agent.
	timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	// Acks without a copy of the request: smaller, and nothing needs it.
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

int genl_resolve_handshake(int nl_fd, handshake_family *out)
{
	request_builder req(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2);
	req.put_string(CTRL_ATTR_FAMILY_NAME, uapi::family_name);

	handshake_family fam;
	bool have_group = false;
	int rc = transact(nl_fd, req, [&](const unsigned char *attrs, size_t len) {
		for_each_attr(attrs, len, [&](uint16_t type, const unsigned char *p, size_t n) {
			if (type == CTRL_ATTR_FAMILY_ID && n >= 2) {
				memcpy(&fam.id, p, sizeof(fam.id));
			} else if (type == CTRL_ATTR_MCAST_GROUPS) {
				// A nest of groups, each a nest of name and id.
				for_each_attr(p, n, [&](uint16_t, const unsigned char *g, size_t gn) {
					std::string name;
					uint32_t id = 0;
					for_each_attr(g, gn, [&](uint16_t t, const unsigned char *v, size_t vn) {
						if (t == CTRL_ATTR_MCAST_GRP_NAME)
							name.assign(reinterpret_cast<const char *>(v),
								    strnlen(reinterpret_cast<const char *>(v), vn));
						else if (t == CTRL_ATTR_MCAST_GRP_ID)
							id = attr_u32(v, vn);
					});
					if (name == uapi::tlshd_group) {
						fam.tlshd_group = id;
						have_group = true;
					}
				});
			}
		});
	});
	if (rc < 0)
		return rc;
	if (!fam.id || !have_group)
		return -EPROTO;
	*out = fam;
	return 0;
}

int genl_open_ready_socket(const handshake_family &fam)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			NETLINK_GENERIC);
	if (fd < 0) {
		fprintf(stderr, "khttpd-tlsd: netlink socket: %s\n", strerror(errno));
		return -1;
	}
	sockaddr_nl local = {};
	local.nl_family = AF_NETLINK;
	if (bind(fd, reinterpret_cast<sockaddr *>(&local), sizeof(local)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &fam.tlshd_group,
		       sizeof(fam.tlshd_group)) < 0) {
		fprintf(stderr, "khttpd-tlsd: joining the handshake family's '%s' "
			"multicast group: %s\n", uapi::tlshd_group, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int genl_handshake_accept(int nl_fd, const handshake_family &fam,
			  accepted_request *req)
{
	request_builder msg(fam.id, uapi::cmd_accept, uapi::family_version);
	msg.put_u32(uapi::a_accept_handler_class, uapi::handler_class_tlshd);

	accepted_request r;
	int rc = transact(nl_fd, msg, [&](const unsigned char *attrs, size_t len) {
		for_each_attr(attrs, len, [&](uint16_t type, const unsigned char *p, size_t n) {
			switch (type) {
			case uapi::a_accept_sockfd:
				r.sockfd = static_cast<int>(attr_u32(p, n));
				break;
			case uapi::a_accept_message_type:
				r.message_type = attr_u32(p, n);
				break;
			case uapi::a_accept_timeout:
				r.timeout_ms = attr_u32(p, n);
				break;
			case uapi::a_accept_auth_mode:
				r.auth_mode = attr_u32(p, n);
				break;
			case uapi::a_accept_peer_identity:
				r.peer_identities.push_back(attr_u32(p, n));
				break;
			case uapi::a_accept_certificate:
				for_each_attr(p, n, [&](uint16_t t, const unsigned char *v, size_t vn) {
					if (t == uapi::a_x509_cert)
						r.certificate_serial = attr_u32(v, vn);
					else if (t == uapi::a_x509_privkey)
						r.privkey_serial = attr_u32(v, vn);
				});
				break;
			case uapi::a_accept_peername:
				r.peername.assign(reinterpret_cast<const char *>(p),
						  strnlen(reinterpret_cast<const char *>(p), n));
				break;
			}
		});
	});
	if (rc < 0) {
		// The fd is installed before the ack: never leak one.
		if (r.sockfd >= 0)
			close(r.sockfd);
		return rc;
	}
	if (r.sockfd < 0)
		return -EPROTO;
	*req = std::move(r);
	return 0;
}

int genl_handshake_done(int nl_fd, const handshake_family &fam, int sockfd,
			uint32_t status)
{
	request_builder msg(fam.id, uapi::cmd_done, uapi::family_version);
	msg.put_u32(uapi::a_done_status, status);
	msg.put_u32(uapi::a_done_sockfd, static_cast<uint32_t>(sockfd));
	return transact(nl_fd, msg, [](const unsigned char *, size_t) {});
}

} // namespace tlsd
