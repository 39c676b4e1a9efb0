// SPDX-License-Identifier: GPL-2.0
/*
 * The twin's start-up: the command line, the listeners (checked to be free
 * first), the privilege drop and the root, then one worker thread each
 * until SIGINT or SIGTERM stops them all.
 */

#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../common/fd_limit.h"
#include "../common/listener.h"
#include "../common/workers.h"
#include "twin.h"

namespace twin {

config cfg;
int root_fd = -1;

namespace {

[[noreturn]] void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: twin [-p PORT] [-r ROOT] [-t THREADS] [--no-listing]\n"
		"            [--timeout SECS] [-b ADDR] [-u UID] [-g GID]\n"
		"            [--cache-size MIB] [--cache-file-max KIB]\n"
		"  -p PORT              TCP port (default 8081)\n"
		"  -r ROOT              document root (default .)\n"
		"  -t THREADS           worker threads (default: CPUs)\n"
		"  -b ADDR              address to bind (default: IPv6 and IPv4,\n"
		"                       as the module's)\n"
		"  -u UID, -g GID       started as root, serve as this numeric\n"
		"                       user and group (default 65534, 65534)\n"
		"  --no-listing         403 for directories without index.html\n"
		"  --timeout SECS       idle/stalled connection timeout (default 60)\n"
		"  --cache-size MIB     response cache size, shared out among the\n"
		"                       threads (default 64; 0 disables the cache)\n"
		"  --cache-file-max KIB largest file kept in the cache (default 64)\n"
		"  (the units and ranges of the module's cache_size= and\n"
		"  cache_file_max= parameters)\n");
	exit(rc);
}

unsigned long parse_num(const char *opt, const char *s, unsigned long lo,
			unsigned long hi)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "twin: %s: bad value '%s' (%lu..%lu)\n", opt, s,
			lo, hi);
		exit(1);
	}
	return v;
}

void parse_args(int argc, char **argv)
{
	enum { OPT_NO_LISTING = 256, OPT_TIMEOUT, OPT_CACHE_FILE, OPT_CACHE };
	unsigned long cache_mib = 64;
	static const struct option longopts[] = {
		{ "port", required_argument, nullptr, 'p' },
		{ "root", required_argument, nullptr, 'r' },
		{ "threads", required_argument, nullptr, 't' },
		{ "bind", required_argument, nullptr, 'b' },
		{ "user", required_argument, nullptr, 'u' },
		{ "group", required_argument, nullptr, 'g' },
		{ "no-listing", no_argument, nullptr, OPT_NO_LISTING },
		{ "timeout", required_argument, nullptr, OPT_TIMEOUT },
		{ "cache-file-max", required_argument, nullptr, OPT_CACHE_FILE },
		{ "cache-size", required_argument, nullptr, OPT_CACHE },
		{ "help", no_argument, nullptr, 'h' },
		{},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "p:r:t:b:u:g:h", longopts,
				  nullptr)) != -1) {
		switch (opt) {
		case 'p':
			cfg.port = unsigned(parse_num("-p", optarg, 1, 65535));
			break;
		case 'r':
			cfg.root = optarg;
			break;
		case 't':
			cfg.threads = unsigned(parse_num("-t", optarg, 1, 1024));
			break;
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case 'u':
			cfg.uid = uid_t(parse_num("-u", optarg, 0, 4294967294UL));
			break;
		case 'g':
			cfg.gid = gid_t(parse_num("-g", optarg, 0, 4294967294UL));
			break;
		case OPT_NO_LISTING:
			cfg.listing = false;
			break;
		case OPT_TIMEOUT:
			cfg.timeout_secs =
				unsigned(parse_num("--timeout", optarg, 1, 3600));
			break;
		case OPT_CACHE_FILE:
			cfg.cache_file_max = parse_num("--cache-file-max",
						       optarg, 0, 16384) << 10;
			break;
		case OPT_CACHE:
			cache_mib = parse_num("--cache-size", optarg, 0,
					      65536);
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (!cfg.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.threads = n > 0 ? unsigned(n) : 1;
	}
	cfg.cache_max = (cache_mib << 20) / cfg.threads;
	if (!cfg.cache_max)
		cfg.cache_file_max = 0;
}

void die_bind(int err)
{
	fprintf(stderr, "twin: cannot listen on %s port %u: %s\n",
		cfg.bind_addr.c_str(), cfg.port, strerror(-err));
	exit(1);
}

/*
 * Started as root: become cfg.uid/cfg.gid for good, with no supplementary
 * groups, before anything is opened for clients.
 */
void drop_privileges()
{
	if (geteuid() != 0)
		return;
	if (setgroups(0, nullptr) || setgid(cfg.gid) || setuid(cfg.uid)) {
		fprintf(stderr, "twin: cannot become %u:%u: %s\n",
			unsigned(cfg.uid), unsigned(cfg.gid), strerror(errno));
		exit(1);
	}
}

[[noreturn]] void die_root(int err)
{
	fprintf(stderr, "twin: root %s: %s (as uid %u)\n", cfg.root.c_str(),
		strerror(err), unsigned(geteuid()));
	exit(1);
}

/* After the drop: what the root is, it is to the serving user. */
void open_root()
{
	root_fd = open(cfg.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		die_root(errno);
	int fd = openat2_beneath("", O_PATH);
	if (fd == -ENOSYS) {
		fprintf(stderr,
			"twin: openat2(RESOLVE_BENEATH) unavailable; it is "
			"what confines paths to the root (Linux 5.6+)\n");
		exit(1);
	}
	if (fd < 0)	/* a root the user may reach but not search */
		die_root(-fd);
	close(fd);
}

/* Once listening: tests and scripts wait for this line. */
void print_banner()
{
	printf("twin: serving %s on port %u with %u threads\n",
	       cfg.root.c_str(), cfg.port, cfg.threads);
	fflush(stdout);
}

} // namespace
} // namespace twin

using namespace twin;

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	drop_privileges();
	open_root();

	/* Room for many connections: raise the soft fd limit to the hard one. */
	tools::raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	/* Without -b, as the module without bind=: IPv6 and IPv4. */
	socklen_t alen;
	struct sockaddr_storage ss;
	if (!tools::listen_address(&cfg.bind_addr, cfg.port, &ss, &alen)) {
		fprintf(stderr, "twin: -b %s: not an IPv4 or IPv6 address\n",
			cfg.bind_addr.c_str());
		exit(1);
	}
	std::vector<int> listeners;
	/* The module's default backlog. */
	int err = tools::reuseport_listeners(ss, alen, cfg.threads, 1024,
					     &listeners);
	if (err)
		die_bind(err);

	int sig = tools::run_workers("twin", listeners, worker_run,
				     print_banner);
	if (sig < 0)
		return 1;
	close(root_fd);
	return 0;
}
