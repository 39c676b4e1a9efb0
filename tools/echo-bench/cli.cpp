// SPDX-License-Identifier: GPL-2.0
/*
 * echo-bench's command line, checked in full before anything connects:
 * the mode, the server's address, and the concurrency levels.
 */

#include <getopt.h>
#include <netdb.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../common/number.h"
#include "echo_bench.h"

namespace echo_bench {

Config cfg;

namespace {

void usage(FILE *f)
{
	fprintf(f,
		"usage: echo-bench [-H HOST] [-p PORT] [--from N] [--to N] [--step N]\n"
		"                  [--levels N,N,...] [-r ROUNDS] [-s BYTES]\n"
		"                  [-o FILE] [--json FILE] [--label NAME]\n"
		"       echo-bench --check [-H HOST] [-p PORT] [-n CLIENTS] [--bytes N]\n"
		"  -H, --host HOST    server address (default 127.0.0.1)\n"
		"  -p, --port PORT    server port (default 12345)\n"
		"  --timeout SECS     a socket making no progress this long is an\n"
		"                     error (default 10)\n"
		"bench (default): for each level N, N clients (a thread each) connect,\n"
		"then each times ROUNDS round trips of a BYTES message; every echoed\n"
		"byte is compared.\n"
		"  --from N --to N --step N  levels N, then the multiples of step up\n"
		"                     to --to, and --to (default 1, 1000, 50)\n"
		"  --levels LIST      these levels instead, e.g. 1,10,100\n"
		"  -r, --rounds N     round trips per client per level (default 10)\n"
		"  --min-samples N    more rounds where there are few clients, so that\n"
		"                     a level has at least N round trips (default 0)\n"
		"  -s, --size BYTES   message size (default 64)\n"
		"  -o, --output FILE  the course's bench.txt: \"<threads> <mean us>\"\n"
		"                     a line (default bench.txt; '' for none)\n"
		"  --json FILE        mean, p50, p99, min, max per level\n"
		"  --label NAME       the server's name in the JSON\n"
		"check (--check): CLIENTS clients each stream --bytes pseudo-random\n"
		"bytes in writes of random sizes, reading as they go, then shut down\n"
		"writing and expect exactly their bytes back, then EOF; shows a\n"
		"progress bar.\n"
		"  -n, --clients N    (default 100)\n"
		"  --bytes N          per client (default 1048576)\n"
		"  --seed N           of the payloads (default 1)\n"
		"  -q, --quiet        no table / progress, only the result\n"
		"Exit status: 0 when every byte came back right, 1 on any connection\n"
		"error, timeout or wrong byte, 2 for usage errors.\n");
}

[[noreturn]] void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "echo-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'echo-bench --help' for more information.\n");
	exit(2);
}

unsigned long number(const char *opt, const char *s, unsigned long lo,
		     unsigned long hi)
{
	unsigned long v;

	if (!tools::parse_number(s, lo, hi, &v)) {
		fprintf(stderr, "echo-bench: %s %s: not a number in %lu-%lu\n",
			opt, s, lo, hi);
		exit(2);
	}
	return v;
}

constexpr unsigned kMaxClients = 10000;

void parse_levels(const char *list)
{
	std::string s(list);
	size_t pos = 0;

	while (pos <= s.size()) {
		size_t comma = s.find(',', pos);
		std::string item = s.substr(pos, comma - pos);
		cfg.levels.push_back(unsigned(
			number("--levels", item.c_str(), 1, kMaxClients)));
		if (comma == std::string::npos)
			break;
		pos = comma + 1;
	}
	std::sort(cfg.levels.begin(), cfg.levels.end());
	cfg.levels.erase(std::unique(cfg.levels.begin(), cfg.levels.end()),
			 cfg.levels.end());
}

void resolve()
{
	addrinfo hints = {}, *res;
	hints.ai_socktype = SOCK_STREAM;
	int r = getaddrinfo(cfg.host.c_str(), cfg.port.c_str(), &hints, &res);
	if (r) {
		fprintf(stderr, "echo-bench: %s port %s: %s\n", cfg.host.c_str(),
			cfg.port.c_str(), gai_strerror(r));
		exit(2);
	}
	memcpy(&cfg.addr, res->ai_addr, res->ai_addrlen);
	cfg.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

} // namespace

void parse_args(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_STEP, OPT_LEVELS, OPT_JSON,
	       OPT_LABEL, OPT_CHECK, OPT_MIN_SAMPLES, OPT_BYTES, OPT_SEED, OPT_TIMEOUT,
	       OPT_HELP };
	static const option longopts[] = {
		{ "host", required_argument, nullptr, 'H' },
		{ "port", required_argument, nullptr, 'p' },
		{ "from", required_argument, nullptr, OPT_FROM },
		{ "to", required_argument, nullptr, OPT_TO },
		{ "step", required_argument, nullptr, OPT_STEP },
		{ "levels", required_argument, nullptr, OPT_LEVELS },
		{ "rounds", required_argument, nullptr, 'r' },
		{ "min-samples", required_argument, nullptr, OPT_MIN_SAMPLES },
		{ "size", required_argument, nullptr, 's' },
		{ "output", required_argument, nullptr, 'o' },
		{ "json", required_argument, nullptr, OPT_JSON },
		{ "label", required_argument, nullptr, OPT_LABEL },
		{ "check", no_argument, nullptr, OPT_CHECK },
		{ "clients", required_argument, nullptr, 'n' },
		{ "bytes", required_argument, nullptr, OPT_BYTES },
		{ "seed", required_argument, nullptr, OPT_SEED },
		{ "timeout", required_argument, nullptr, OPT_TIMEOUT },
		{ "quiet", no_argument, nullptr, 'q' },
		{ "help", no_argument, nullptr, OPT_HELP },
		{},
	};
	unsigned long from = 1, to = 1000, step = 50;
	int opt;

	while ((opt = getopt_long(argc, argv, "H:p:r:s:o:n:qh", longopts,
				  nullptr)) != -1) {
		switch (opt) {
		case 'H':
			cfg.host = optarg;
			break;
		case 'p':
			number("-p", optarg, 1, 65535);
			cfg.port = optarg;
			break;
		case OPT_FROM:
			from = number("--from", optarg, 1, kMaxClients);
			break;
		case OPT_TO:
			to = number("--to", optarg, 1, kMaxClients);
			break;
		case OPT_STEP:
			step = number("--step", optarg, 1, kMaxClients);
			break;
		case OPT_LEVELS:
			parse_levels(optarg);
			break;
		case 'r':
			cfg.rounds = unsigned(number("-r", optarg, 1, 1000000));
			break;
		case OPT_MIN_SAMPLES:
			cfg.min_samples = unsigned(number("--min-samples", optarg,
							  0, 10000000));
			break;
		case 's':
			cfg.size = number("-s", optarg, 1, 1 << 20);
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case OPT_JSON:
			cfg.json = optarg;
			break;
		case OPT_LABEL:
			cfg.label = optarg;
			break;
		case OPT_CHECK:
			cfg.check = true;
			break;
		case 'n':
			cfg.clients = unsigned(number("-n", optarg, 1,
						      kMaxClients));
			break;
		case OPT_BYTES:
			cfg.bytes = number("--bytes", optarg, 1, 1ul << 40);
			break;
		case OPT_SEED:
			cfg.seed = number("--seed", optarg, 0, ~0ul);
			break;
		case OPT_TIMEOUT:
			cfg.timeout = double(number("--timeout", optarg, 1,
						    3600));
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg.levels.empty()) {
		if (from > to)
			usage_error("--from is above --to%s", "");
		cfg.levels.push_back(unsigned(from));
		for (unsigned long n = (from / step + 1) * step; n < to;
		     n += step)
			cfg.levels.push_back(unsigned(n));
		if (to > from)
			cfg.levels.push_back(unsigned(to));
	}
	resolve();
}

} // namespace echo_bench
