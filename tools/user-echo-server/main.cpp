// SPDX-License-Identifier: GPL-2.0
/*
 * user-echo-server's start-up: the options, the listeners (the port is
 * checked to be free first), one worker thread each, then SIGINT or
 * SIGTERM stops them all and the process exits with status 0.
 */

#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../common/fd_limit.h"
#include "../common/listener.h"
#include "../common/workers.h"
#include "../common/number.h"
#include "echo.h"

namespace echo {

config cfg;
counters stats;

namespace {

[[noreturn]] void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: user-echo-server [-p PORT] [-b ADDR] [-t THREADS] [-T SECS]\n"
		"                        [-c MAX_CONNS] [--backlog N]\n"
		"  -p, --port PORT       TCP port (default 12345)\n"
		"  -b, --bind ADDR       address to listen on (default: IPv6 and IPv4)\n"
		"  -t, --threads N       worker threads (default: one per CPU)\n"
		"  -T, --timeout SECS    close connections idle this long, 0-3600\n"
		"                        (default 60; 0: never)\n"
		"  -c, --max-conns N     connections open at once (default 10000);\n"
		"                        one more is accepted and closed at once\n"
		"      --backlog N       listen backlog (default 1024)\n"
		"Echoes every byte back as it arrives; SIGINT or SIGTERM stops it.\n");
	exit(rc);
}

unsigned option_value(const char *opt, const char *s, unsigned long lo,
		      unsigned long hi)
{
	unsigned long v;

	if (!tools::parse_number(s, lo, hi, &v)) {
		fprintf(stderr,
			"user-echo-server: %s %s: not a number in %lu-%lu\n",
			opt, s, lo, hi);
		exit(2);
	}
	return unsigned(v);
}

void parse_args(int argc, char **argv)
{
	enum { OPT_BACKLOG = 256 };
	static const struct option longopts[] = {
		{ "port", required_argument, nullptr, 'p' },
		{ "bind", required_argument, nullptr, 'b' },
		{ "threads", required_argument, nullptr, 't' },
		{ "timeout", required_argument, nullptr, 'T' },
		{ "max-conns", required_argument, nullptr, 'c' },
		{ "backlog", required_argument, nullptr, OPT_BACKLOG },
		{ "help", no_argument, nullptr, 'h' },
		{},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "p:b:t:T:c:h", longopts,
				  nullptr)) != -1) {
		switch (opt) {
		case 'p':
			cfg.port = option_value("-p", optarg, 1, 65535);
			break;
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case 't':
			cfg.threads = option_value("-t", optarg, 1, 1024);
			break;
		case 'T':
			cfg.timeout_secs = option_value("-T", optarg, 0, 3600);
			break;
		case 'c':
			cfg.max_conns = option_value("-c", optarg, 1, 1000000);
			break;
		case OPT_BACKLOG:
			cfg.backlog = option_value("--backlog", optarg, 1,
						   65535);
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "user-echo-server: unexpected argument '%s'\n",
			argv[optind]);
		usage(2);
	}
	if (!cfg.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.threads = n > 0 ? unsigned(n) : 1;
	}
}

[[noreturn]] void die_listen(int err)
{
	fprintf(stderr, "user-echo-server: cannot listen on %s port %u: %s\n",
		cfg.bind_addr.c_str(), cfg.port, strerror(-err));
	exit(1);
}

/* Once listening: tests and scripts wait for this line. */
void print_banner()
{
	printf("user-echo-server: echoing on %s port %u with %u threads\n",
	       cfg.bind_addr.c_str(), cfg.port, cfg.threads);
	fflush(stdout);
}

} // namespace
} // namespace echo

using namespace echo;

int main(int argc, char **argv)
{
	parse_args(argc, argv);

	/* Room for max_conns connections: soft fd limit up to the hard one. */
	tools::raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	socklen_t alen;
	sockaddr_storage ss;
	if (!tools::listen_address(&cfg.bind_addr, cfg.port, &ss, &alen)) {
		fprintf(stderr,
			"user-echo-server: -b %s: not an IPv4 or IPv6 address\n",
			cfg.bind_addr.c_str());
		return 2;
	}
	std::vector<int> listeners;
	int err = tools::reuseport_listeners(ss, alen, cfg.threads,
					     int(cfg.backlog), &listeners);
	if (err)
		die_listen(err);

	int sig = tools::run_workers("user-echo-server", listeners, worker_run,
				     print_banner);
	if (sig < 0)
		return 1;
	fprintf(stderr,
		"user-echo-server: %s: %" PRIu64 " connections accepted, %" PRIu64
		" refused, %" PRIu64 " timed out, %" PRIu64 " bytes echoed\n",
		strsignal(sig), stats.accepted.load(), stats.refused.load(),
		stats.timed_out.load(), stats.bytes_echoed.load());
	return 0;
}
