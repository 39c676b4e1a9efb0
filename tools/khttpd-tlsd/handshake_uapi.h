// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's TLS handshake upcall protocol (net/handshake, Linux 6.5+):
 * the generic netlink family "handshake", version 1. The values are those
 * of the uapi header <linux/handshake.h>, generated from the kernel's
 * Documentation/netlink/specs/handshake.yaml; Debian 12's linux-libc-dev
 * (6.1) does not ship that header, so the few values used here are
 * restated, and checked against the real header when it is there.
 */
#pragma once

#if __has_include(<linux/handshake.h>)
#include <linux/handshake.h>
#define TLSD_HAVE_UAPI_HANDSHAKE 1
#endif

namespace tlsd::uapi {

inline constexpr char family_name[] = "handshake";
inline constexpr unsigned char family_version = 1;
inline constexpr char tlshd_group[] = "tlshd";

// enum handshake_handler_class
inline constexpr unsigned handler_class_tlshd = 1;
// enum handshake_msg_type
inline constexpr unsigned msg_type_clienthello = 1;
inline constexpr unsigned msg_type_serverhello = 2;
// enum handshake_auth
inline constexpr unsigned auth_unauth = 1;
inline constexpr unsigned auth_psk = 2;
inline constexpr unsigned auth_x509 = 3;

// Attributes of HANDSHAKE_A_ACCEPT_CERTIFICATE (a nest): key serials.
inline constexpr unsigned short a_x509_cert = 1;
inline constexpr unsigned short a_x509_privkey = 2;

// Attributes of READY and of ACCEPT's request and reply.
inline constexpr unsigned short a_accept_sockfd = 1;        // s32
inline constexpr unsigned short a_accept_handler_class = 2; // u32
inline constexpr unsigned short a_accept_message_type = 3;  // u32
inline constexpr unsigned short a_accept_timeout = 4;       // u32, ms
inline constexpr unsigned short a_accept_auth_mode = 5;     // u32
inline constexpr unsigned short a_accept_peer_identity = 6; // u32, repeated
inline constexpr unsigned short a_accept_certificate = 7;   // nest
inline constexpr unsigned short a_accept_peername = 8;      // string

// Attributes of DONE.
inline constexpr unsigned short a_done_status = 1;      // u32, positive errno
inline constexpr unsigned short a_done_sockfd = 2;      // s32
inline constexpr unsigned short a_done_remote_auth = 3; // u32, repeated

// Commands.
inline constexpr unsigned char cmd_ready = 1;
inline constexpr unsigned char cmd_accept = 2;
inline constexpr unsigned char cmd_done = 3;

#ifdef TLSD_HAVE_UAPI_HANDSHAKE
static_assert(handler_class_tlshd == HANDSHAKE_HANDLER_CLASS_TLSHD);
static_assert(msg_type_serverhello == HANDSHAKE_MSG_TYPE_SERVERHELLO);
static_assert(auth_x509 == HANDSHAKE_AUTH_X509);
static_assert(a_accept_sockfd == HANDSHAKE_A_ACCEPT_SOCKFD);
static_assert(a_accept_peername == HANDSHAKE_A_ACCEPT_PEERNAME);
static_assert(a_done_status == HANDSHAKE_A_DONE_STATUS);
static_assert(a_done_sockfd == HANDSHAKE_A_DONE_SOCKFD);
static_assert(cmd_done == HANDSHAKE_CMD_DONE);
#endif

} // namespace tlsd::uapi
