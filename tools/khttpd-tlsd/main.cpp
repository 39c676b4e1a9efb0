// SPDX-License-Identifier: GPL-2.0
/*
 * khttpd-tlsd: the userspace TLS handshake agent for khttpd's tls_port.
 * Start-up order matters: settings, then the certificate and key (root
 * may be needed to read them), then the netlink sockets, then the switch
 * to the configured user with CAP_NET_ADMIN only, and only then threads
 * (credentials are per thread until glibc broadcasts them; doing it first
 * avoids relying on that). The main thread then only handles signals.
 */

#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "../common/fd_limit.h"
#include "agent.h"
#include "config.h"
#include "privileges.h"
#include "tls_server.h"
#include "workers.h"

using namespace tlsd;

namespace {

// How long in-flight handshakes get to report (DONE, EIO) at exit.
constexpr int exit_grace_ms = 3000;

std::string current_user()
{
	passwd *pw = getpwuid(geteuid());
	return pw ? pw->pw_name : std::to_string(geteuid());
}

} // namespace

int main(int argc, char **argv)
{
	config cfg;
	if (!load_config(argc, argv, &cfg))
		return 1;
	// Each handshake in progress holds a socket: 1024 workers need more
	// than the default soft limit of 1024 open files.
	tools::raise_fd_limit();

	tls_identity identity;
	if (!load_tls_identity(cfg, &identity))
		return 1;

	netlink_sockets nl;
	int listen_fd = -1;
	if (cfg.listen_port) {
		listen_fd = listen_setup(cfg.listen_port);
		if (listen_fd < 0)
			return 1;
	} else {
		int rc = netlink_setup(&nl);
		if (rc)
			return rc;
		if (!have_net_admin()) {
			fprintf(stderr, "khttpd-tlsd: needs CAP_NET_ADMIN (the kernel's "
				"handshake ACCEPT and DONE commands require it): run it as "
				"root, with 'user =' to drop root after start-up, or with "
				"AmbientCapabilities=CAP_NET_ADMIN (scripts/etc/khttpd-tlsd.service)\n");
			return 1;
		}
	}

	if (!cfg.user.empty() && !drop_to_user(cfg.user))
		return 1;
	if (!cfg.listen_port && !have_net_admin()) {
		fprintf(stderr, "khttpd-tlsd: lost CAP_NET_ADMIN switching to %s\n",
			cfg.user.c_str());
		return 1;
	}

	// Signals go to the main thread only: block them before any thread
	// exists, so every thread inherits the mask.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
	signal(SIGPIPE, SIG_IGN);

	int stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0) {
		perror("khttpd-tlsd: eventfd");
		return 1;
	}
	worker_pool pool(cfg.workers);
	agent_context ctx{cfg, identity, pool, stop_fd};

	std::string source = cfg.listen_port
		? "TLS connections on 127.0.0.1:" + std::to_string(cfg.listen_port) +
			  " (development mode, --listen)"
		: "handshakes from the kernel (generic netlink family 'handshake', "
		  "group 'tlshd')";
	fprintf(stderr, "khttpd-tlsd: serving %s; protocols %s; ALPN http/1.1; "
		"%u workers; user %s%s; taking %s\n",
		identity.certificate_summary.c_str(), identity.protocols.c_str(),
		cfg.workers, current_user().c_str(),
		cfg.user.empty() ? "" : " (CAP_NET_ADMIN only)", source.c_str());

	std::thread loop([&] {
		if (cfg.listen_port)
			run_listen_mode(ctx, listen_fd);
		else
			run_netlink_agent(ctx, nl);
	});

	for (;;) {
		int sig = 0;
		sigwait(&sigs, &sig);
		if (sig == SIGUSR1) {
			stats.print("counters");
			continue;
		}
		break;
	}

	// Stop: the loop stops taking work and every worker's poll wakes up;
	// handshakes in flight fail (reported to the kernel as EIO).
	uint64_t one = 1;
	if (write(stop_fd, &one, sizeof(one)) < 0)
		perror("khttpd-tlsd: eventfd write");
	loop.join();
	bool idle = pool.wait_idle(exit_grace_ms);
	stats.print("exit");
	fflush(stderr);
	if (!idle)
		_exit(0); // workers still hold references into this frame
	free_tls_identity(&identity);
	return 0;
}
