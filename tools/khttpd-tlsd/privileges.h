// SPDX-License-Identifier: GPL-2.0
/*
 * Running with no more privilege than netlink and kTLS need: CAP_NET_ADMIN.
 */
#pragma once

#include <string>

namespace tlsd {

// Whether CAP_NET_ADMIN is in this thread's effective set.
bool have_net_admin();

/*
 * Switches to user (its uid, primary gid, no supplementary groups),
 * keeping CAP_NET_ADMIN alone, and empties the bounding set of the rest.
 * Must run before any thread is created: setuid and capset apply to the
 * caller's thread. Returns false after printing why.
 */
bool drop_to_user(const std::string &user);

} // namespace tlsd
