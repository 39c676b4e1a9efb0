// SPDX-License-Identifier: GPL-2.0
/*
 * The config file and the command line. The file has one "key = value"
 * per line; '#' starts a comment at the start of a line or after blanks.
 * Relative paths in it are relative to the file's directory, so that a
 * config directory can be moved as a whole. Flags override the file.
 */

#include "config.h"

#include <getopt.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

namespace tlsd {

namespace {

[[noreturn]] void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: khttpd-tlsd [-c FILE] [--cert PEM] [--key PEM] [--user USER]\n"
		"                   [--priority STRING] [--workers N] [-v]\n"
		"       khttpd-tlsd --listen PORT ...   (development mode)\n"
		"The TLS handshake agent of khttpd: takes the handshakes the kernel\n"
		"hands out (Linux 6.5+ net/handshake, class tlshd), performs them with\n"
		"GnuTLS and installs kTLS keys on the sockets. Needs CAP_NET_ADMIN.\n"
		"  -c, --config FILE    settings (default %s, if it exists)\n"
		"      --cert PEM       certificate, then its chain (certificate =)\n"
		"      --key PEM        its private key (key =)\n"
		"      --user USER      switch to USER once the key is read, keeping\n"
		"                       only CAP_NET_ADMIN (user =; needs root)\n"
		"      --priority STR   GnuTLS priority string (priority =)\n"
		"      --workers N      handshakes in progress at once, 1-%u\n"
		"                       (workers =; default %u)\n"
		"  -v, --verbose        log every handshake and its outcome\n"
		"      --handshake-timeout MS  deadline of a handshake in --listen\n"
		"                       mode or when the kernel gives none (10000)\n"
		"      --listen PORT    do not talk to the kernel: accept TLS\n"
		"                       connections on 127.0.0.1:PORT, do the same\n"
		"                       handshake and kTLS set-up, read the request\n"
		"                       and answer it through kTLS (for testing)\n"
		"  -h, --help           this text\n"
		"SIGUSR1 prints the handshake counters; SIGTERM and SIGINT stop it.\n",
		default_config_file, max_workers, default_workers);
	exit(rc);
}

std::string trim(const std::string &s)
{
	size_t b = s.find_first_not_of(" \t\r");
	if (b == std::string::npos)
		return "";
	size_t e = s.find_last_not_of(" \t\r");
	return s.substr(b, e - b + 1);
}

bool parse_unsigned(const std::string &s, unsigned lo, unsigned hi,
		    unsigned *out)
{
	char *end;

	if (s.empty() || s[0] == '-' || s[0] == '+')
		return false;
	errno = 0;
	unsigned long v = strtoul(s.c_str(), &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

std::string relative_to(const std::string &file, const std::string &path)
{
	if (path.empty() || path[0] == '/')
		return path;
	size_t slash = file.rfind('/');
	if (slash == std::string::npos)
		return path;
	return file.substr(0, slash + 1) + path;
}

// The values given on the command line, applied over the file's.
struct flags {
	std::optional<std::string> config_file, cert, key, user, priority;
	std::optional<unsigned> workers;
	bool verbose = false;
	unsigned listen_port = 0;
	std::optional<unsigned> timeout_ms;
};

flags parse_flags(int argc, char **argv)
{
	enum { opt_cert = 256, opt_key, opt_user, opt_priority, opt_workers,
	       opt_listen, opt_timeout };
	static const option options[] = {
		{"config", required_argument, nullptr, 'c'},
		{"cert", required_argument, nullptr, opt_cert},
		{"key", required_argument, nullptr, opt_key},
		{"user", required_argument, nullptr, opt_user},
		{"priority", required_argument, nullptr, opt_priority},
		{"workers", required_argument, nullptr, opt_workers},
		{"listen", required_argument, nullptr, opt_listen},
		{"handshake-timeout", required_argument, nullptr, opt_timeout},
		{"verbose", no_argument, nullptr, 'v'},
		{"help", no_argument, nullptr, 'h'},
		{},
	};
	flags f;
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", options, nullptr)) != -1) {
		unsigned n;

		switch (c) {
		case 'c': f.config_file = optarg; break;
		case opt_cert: f.cert = optarg; break;
		case opt_key: f.key = optarg; break;
		case opt_user: f.user = optarg; break;
		case opt_priority: f.priority = optarg; break;
		case opt_workers:
			if (!parse_unsigned(optarg, 1, max_workers, &n)) {
				fprintf(stderr, "khttpd-tlsd: --workers %s: not a number in 1-%u\n",
					optarg, max_workers);
				exit(2);
			}
			f.workers = n;
			break;
		case opt_listen:
			if (!parse_unsigned(optarg, 1, 65535, &n)) {
				fprintf(stderr, "khttpd-tlsd: --listen %s: not a port number\n",
					optarg);
				exit(2);
			}
			f.listen_port = n;
			break;
		case opt_timeout:
			if (!parse_unsigned(optarg, 1, 3600000, &n)) {
				fprintf(stderr, "khttpd-tlsd: --handshake-timeout %s: not a "
					"number of ms in 1-3600000\n", optarg);
				exit(2);
			}
			f.timeout_ms = n;
			break;
		case 'v': f.verbose = true; break;
		case 'h': usage(0);
		default: usage(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "khttpd-tlsd: unexpected argument '%s'\n", argv[optind]);
		usage(2);
	}
	return f;
}

bool read_config_file(const std::string &path, config *cfg)
{
	std::ifstream in(path);
	if (!in) {
		fprintf(stderr, "khttpd-tlsd: cannot read config file %s: %s\n",
			path.c_str(), strerror(errno));
		return false;
	}
	cfg->config_file = path;

	std::string line;
	bool seen[5] = {};
	static const char *const keys[] = {"certificate", "key", "user",
					   "priority", "workers"};
	for (unsigned lineno = 1; std::getline(in, line); lineno++) {
		std::string where = path + ":" + std::to_string(lineno);

		// A '#' after a blank, or first on the line, starts a comment.
		for (size_t i = 0; i < line.size(); i++) {
			if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' ||
					       line[i - 1] == '\t')) {
				line.resize(i);
				break;
			}
		}
		line = trim(line);
		if (line.empty())
			continue;
		size_t eq = line.find('=');
		if (eq == std::string::npos) {
			fprintf(stderr, "khttpd-tlsd: %s: expected 'key = value', got '%s'\n",
				where.c_str(), line.c_str());
			return false;
		}
		std::string key = trim(line.substr(0, eq));
		std::string value = trim(line.substr(eq + 1));
		unsigned k = 0;
		while (k < 5 && key != keys[k])
			k++;
		if (k == 5) {
			fprintf(stderr, "khttpd-tlsd: %s: unknown key '%s' (known: "
				"certificate, key, user, priority, workers)\n",
				where.c_str(), key.c_str());
			return false;
		}
		if (seen[k]) {
			fprintf(stderr, "khttpd-tlsd: %s: '%s' is set twice\n",
				where.c_str(), key.c_str());
			return false;
		}
		seen[k] = true;
		if (value.empty()) {
			fprintf(stderr, "khttpd-tlsd: %s: '%s' has no value\n",
				where.c_str(), key.c_str());
			return false;
		}
		switch (k) {
		case 0: cfg->certificate = {relative_to(path, value), where}; break;
		case 1: cfg->key = {relative_to(path, value), where}; break;
		case 2: cfg->user = value; cfg->user_origin = where; break;
		case 3: cfg->priority = value; break;
		case 4:
			if (!parse_unsigned(value, 1, max_workers, &cfg->workers)) {
				fprintf(stderr, "khttpd-tlsd: %s: workers = %s: not a number in 1-%u\n",
					where.c_str(), value.c_str(), max_workers);
				return false;
			}
			break;
		}
	}
	return true;
}

} // namespace

bool load_config(int argc, char **argv, config *cfg)
{
	flags f = parse_flags(argc, argv);

	if (f.config_file) {
		if (!read_config_file(*f.config_file, cfg))
			return false;
	} else if (access(default_config_file, F_OK) == 0) {
		if (!read_config_file(default_config_file, cfg))
			return false;
	}
	if (f.cert)
		cfg->certificate = {*f.cert, "--cert"};
	if (f.key)
		cfg->key = {*f.key, "--key"};
	if (f.user) {
		cfg->user = *f.user;
		cfg->user_origin = "--user";
	}
	if (f.priority)
		cfg->priority = *f.priority;
	if (f.workers)
		cfg->workers = *f.workers;
	cfg->verbose = f.verbose;
	cfg->listen_port = f.listen_port;
	if (f.timeout_ms)
		cfg->handshake_timeout_ms = *f.timeout_ms;

	const char *from = cfg->config_file.empty() ? nullptr : cfg->config_file.c_str();
	if (cfg->certificate.value.empty() || cfg->key.value.empty()) {
		fprintf(stderr, "khttpd-tlsd: no %s: set '%s = FILE' in %s or pass %s\n",
			cfg->certificate.value.empty() ? "certificate" : "key",
			cfg->certificate.value.empty() ? "certificate" : "key",
			from ? from : default_config_file,
			cfg->certificate.value.empty() ? "--cert" : "--key");
		return false;
	}
	if (!cfg->user.empty()) {
		errno = 0;
		if (!getpwnam(cfg->user.c_str())) {
			fprintf(stderr, "khttpd-tlsd: %s: user '%s': %s\n",
				cfg->user_origin.c_str(), cfg->user.c_str(),
				errno ? strerror(errno) : "no such user");
			return false;
		}
	}
	return true;
}

} // namespace tlsd
