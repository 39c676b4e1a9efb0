// SPDX-License-Identifier: GPL-2.0
/*
 * Capabilities with raw capget/capset (libcap may be absent). Dropping
 * root keeps CAP_NET_ADMIN through setuid() with PR_SET_KEEPCAPS, then
 * capset() narrows permitted and effective to it: HANDSHAKE_CMD_ACCEPT
 * and DONE are GENL_ADMIN_PERM operations.
 */

#include "privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tlsd {

namespace {

bool get_caps(__user_cap_data_struct data[2])
{
	__user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	return syscall(SYS_capget, &hdr, data) == 0;
}

bool has(const __user_cap_data_struct data[2], unsigned cap, bool effective)
{
	unsigned word = effective ? data[cap / 32].effective : data[cap / 32].permitted;
	return word & (1u << (cap % 32));
}

} // namespace

bool have_net_admin()
{
	__user_cap_data_struct data[2] = {};
	return get_caps(data) && has(data, CAP_NET_ADMIN, true);
}

bool drop_to_user(const std::string &user)
{
	errno = 0;
	passwd *pw = getpwnam(user.c_str());
	if (!pw) {
		fprintf(stderr, "khttpd-tlsd: user '%s': %s\n", user.c_str(),
			errno ? strerror(errno) : "no such user");
		return false;
	}
	if (pw->pw_uid == getuid() && pw->pw_uid == geteuid())
		return true; // already that user (e.g. systemd's User=)
	if (geteuid() != 0) {
		fprintf(stderr, "khttpd-tlsd: user = %s needs starting as root "
			"(or start it as %s with CAP_NET_ADMIN)\n", user.c_str(),
			user.c_str());
		return false;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;

	// Out of the bounding set first (needs CAP_SETPCAP, which root still
	// has): nothing can bring the other capabilities back, not even a
	// set-uid program run later.
	for (unsigned cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break; // past the kernel's last capability
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, nullptr) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		fprintf(stderr, "khttpd-tlsd: switching to user %s: %s\n", user.c_str(),
			strerror(errno));
		return false;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);

	__user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[2] = {};
	data[CAP_NET_ADMIN / 32].permitted = 1u << (CAP_NET_ADMIN % 32);
	data[CAP_NET_ADMIN / 32].effective = 1u << (CAP_NET_ADMIN % 32);
	if (syscall(SYS_capset, &hdr, data) < 0) {
		fprintf(stderr, "khttpd-tlsd: keeping CAP_NET_ADMIN as %s: %s\n",
			user.c_str(), strerror(errno));
		return false;
	}
	// Check that the switch cannot be undone.
	if (setuid(0) == 0) {
		fprintf(stderr, "khttpd-tlsd: still able to become root after switching "
			"to %s; refusing to run\n", user.c_str());
		return false;
	}
	return true;
}

} // namespace tlsd
