// SPDX-License-Identifier: GPL-2.0
/*
 * htstress's command line: options, the URL and -f's list of paths, turned
 * into cfg and the requests the workers send. Every mistake is reported
 * here, before anything connects, with exit status 2.
 */
#include <getopt.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "htstress.h"

namespace htstress {
namespace {

void usage(FILE *f)
{
	fprintf(f,
		"Usage: htstress [options] [http://]hostname[:port]/path\n"
		"Options:\n"
		"   -n, --number       total number of requests (0 for infinite, "
		"Ctrl-C to abort)\n"
		"   -c, --concurrency  number of concurrent connections per "
		"thread\n"
		"   -t, --threads      number of threads (set this to the number "
		"of CPU cores)\n"
		"   -k, --keepalive    HTTP/1.1 keep-alive: many requests per "
		"connection\n"
		"                      (default: HTTP/1.0, one request per "
		"connection)\n"
		"   -f, --file FILE    request the paths listed in FILE, one per "
		"line, in turn\n"
		"                      (instead of the URL's path)\n"
		"   -D, --duration SEC run for SEC seconds (with -n: whichever "
		"ends first)\n"
		"   -u, --udaddr       path to unix domain socket\n"
		"   -h, --host         host to use for http request\n"
		"   -d, --debug        debug HTTP request and response\n"
		"   -4, -6             resolve hostname to IPv4 / IPv6 only\n"
		"   --timeout SEC      a connection making no progress for SEC "
		"seconds is a socket\n"
		"                      error (default 30)\n"
		"   --json             print the results as one JSON object\n"
		"   --help             display this message\n"
		"\n"
		"A request is good when its response is complete with a 2xx "
		"status, bad when\n"
		"complete with another status or malformed, and a socket error "
		"when connect,\n"
		"read or write fails or the connection closes mid-response. "
		"Exit status: 0 if\n"
		"every request was good, 1 otherwise, 2 for usage errors.\n");
}

[[noreturn]] void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "htstress: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'htstress --help' for more information.\n");
	exit(2);
}

uint64_t parse_uint(const char *s, const char *what, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v > max)
		usage_error("invalid %s", what);
	return v;
}

double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v > 0) || v > 1e7)
		usage_error("invalid %s", what);
	return v;
}

// The request line cannot carry spaces or control characters.
bool valid_path(const std::string &p)
{
	if (p.empty() || p[0] != '/')
		return false;
	for (unsigned char ch : p)
		if (ch <= 0x20 || ch == 0x7f)
			return false;
	return true;
}

// [http://]host[:port][/path]; host may be a bracketed IPv6 literal.
void parse_url(const std::string &u)
{
	std::string s = u;
	if (s.rfind("https://", 0) == 0)
		usage_error("%s: https is not supported", u.c_str());
	if (s.rfind("http://", 0) == 0)
		s.erase(0, 7);
	size_t slash = s.find('/');
	std::string auth = s.substr(0, slash);
	std::string path = slash == std::string::npos ? "/" : s.substr(slash);
	std::string host_part; // as it goes into the Host header
	if (!auth.empty() && auth[0] == '[') {
		size_t rb = auth.find(']');
		if (rb == std::string::npos)
			usage_error("bad IPv6 address in URL: %s", u.c_str());
		cfg.node = auth.substr(1, rb - 1);
		host_part = auth.substr(0, rb + 1);
		std::string rest = auth.substr(rb + 1);
		if (!rest.empty()) {
			if (rest[0] != ':')
				usage_error("bad URL: %s", u.c_str());
			cfg.port = rest.substr(1);
		}
	} else {
		size_t colon = auth.find(':');
		cfg.node = auth.substr(0, colon);
		host_part = cfg.node;
		if (colon != std::string::npos)
			cfg.port = auth.substr(colon + 1);
	}
	if (cfg.node.empty())
		usage_error("missing host name in URL: %s", u.c_str());
	if (cfg.port.empty() ||
	    cfg.port.find_first_not_of("0123456789") != std::string::npos ||
	    cfg.port.size() > 5 || std::stoul(cfg.port) == 0 ||
	    std::stoul(cfg.port) > 65535)
		usage_error("bad port in URL: %s", u.c_str());
	if (!valid_path(path))
		usage_error("bad path in URL: %s", u.c_str());
	if (cfg.paths.empty())
		cfg.paths.push_back(path);
	if (cfg.host_header.empty())
		cfg.host_header = cfg.port == "80" ? host_part
						   : host_part + ":" + cfg.port;
	cfg.url = "http://" + host_part + ":" + cfg.port + path;
}

void read_paths(const char *file)
{
	std::ifstream in(file);
	if (!in) {
		fprintf(stderr, "htstress: cannot open %s: %s\n", file,
			strerror(errno));
		exit(2);
	}
	std::string line;
	for (int lineno = 1; std::getline(in, line); lineno++) {
		while (!line.empty() && isspace(static_cast<unsigned char>(
						line.back())))
			line.pop_back();
		size_t b = line.find_first_not_of(" \t");
		if (b == std::string::npos || line[b] == '#')
			continue; // blank lines and comments
		line.erase(0, b);
		if (!valid_path(line)) {
			fprintf(stderr,
				"htstress: %s:%d: not a path (must start with "
				"'/', no spaces): %s\n",
				file, lineno, line.c_str());
			exit(2);
		}
		cfg.paths.push_back(line);
	}
	if (cfg.paths.empty()) {
		fprintf(stderr, "htstress: %s: no paths\n", file);
		exit(2);
	}
}

} // namespace

void parse_args(int argc, char *argv[])
{
	if (argc == 1) {
		usage(stderr);
		exit(2);
	}
	// The classic's -h takes a host; a lone "htstress -h" asks for help.
	if (argc == 2 && !strcmp(argv[1], "-h")) {
		usage(stdout);
		exit(0);
	}

	enum { kOptHelp = 256, kOptJson, kOptTimeout };
	static const option long_options[] = {
		{"number", required_argument, nullptr, 'n'},
		{"concurrency", required_argument, nullptr, 'c'},
		{"threads", required_argument, nullptr, 't'},
		{"keepalive", no_argument, nullptr, 'k'},
		{"file", required_argument, nullptr, 'f'},
		{"duration", required_argument, nullptr, 'D'},
		{"udaddr", required_argument, nullptr, 'u'},
		{"host", required_argument, nullptr, 'h'},
		{"debug", no_argument, nullptr, 'd'},
		{"json", no_argument, nullptr, kOptJson},
		{"timeout", required_argument, nullptr, kOptTimeout},
		{"help", no_argument, nullptr, kOptHelp},
		{nullptr, 0, nullptr, 0},
	};
	const char *paths_file = nullptr;
	opterr = 0;
	for (;;) {
		int o = getopt_long(argc, argv, ":n:c:t:kf:D:u:h:d46", long_options,
				    nullptr);
		if (o == -1)
			break;
		switch (o) {
		case 'n':
			cfg.max_requests = parse_uint(optarg, "number of requests",
						      UINT64_MAX / 2);
			break;
		case 'c':
			cfg.concurrency = static_cast<int>(
				parse_uint(optarg, "concurrency", 1000000));
			if (!cfg.concurrency)
				usage_error("%s", "concurrency must be at least 1");
			break;
		case 't':
			cfg.threads = static_cast<int>(
				parse_uint(optarg, "number of threads", 4096));
			if (!cfg.threads)
				usage_error("%s", "threads must be at least 1");
			break;
		case 'k':
			cfg.keepalive = true;
			break;
		case 'f':
			paths_file = optarg;
			break;
		case 'D':
			cfg.duration = parse_seconds(optarg, "duration");
			break;
		case 'u':
			cfg.udaddr = optarg;
			break;
		case 'h':
			cfg.host_header = optarg;
			break;
		case 'd':
			cfg.debug = true;
			break;
		case '4':
			cfg.family = AF_INET;
			break;
		case '6':
			cfg.family = AF_INET6;
			break;
		case kOptJson:
			cfg.json = true;
			break;
		case kOptTimeout:
			cfg.timeout = parse_seconds(optarg, "timeout");
			break;
		case kOptHelp:
			usage(stdout);
			exit(0);
		case ':':
			usage_error("option %s requires an argument",
				    argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("%s", "missing URL");
	if (optind + 1 < argc)
		usage_error("unexpected argument %s", argv[optind + 1]);
	if (paths_file)
		read_paths(paths_file);
	parse_url(argv[optind]);
	for (unsigned char ch : cfg.host_header)
		if (ch < 0x20 || ch == 0x7f)
			usage_error("%s", "bad host name");

	for (const std::string &p : cfg.paths) {
		std::string r = "GET " + p +
				(cfg.keepalive ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
		r += "Host: " + cfg.host_header + "\r\n\r\n";
		cfg.requests.push_back(std::move(r));
	}
}

} // namespace htstress
