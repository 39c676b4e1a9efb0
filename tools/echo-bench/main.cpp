// SPDX-License-Identifier: GPL-2.0
/*
 * echo-bench: the options pick the bench or the checker (echo_bench.h).
 */

#include <signal.h>

#include "../common/fd_limit.h"
#include "echo_bench.h"

int main(int argc, char **argv)
{
	using namespace echo_bench;

	parse_args(argc, argv);
	/* A socket per client: soft fd limit up to the hard one. */
	tools::raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	return cfg.check ? run_check() : run_bench();
}
