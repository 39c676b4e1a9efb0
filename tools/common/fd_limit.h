// SPDX-License-Identifier: GPL-2.0
/*
 * A socket per connection: the servers and load tools raise the soft limit
 * on open files to the hard one at start (1024 by default, below what they
 * are asked to hold).
 */
#pragma once

#include <sys/resource.h>

namespace tools {

inline void raise_fd_limit()
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

} // namespace tools
