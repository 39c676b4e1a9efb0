// SPDX-License-Identifier: GPL-2.0
/*
 * The thread shape of the userspace servers (the twin, user-echo-server):
 * one worker per listener, each with its own epoll set, running until
 * SIGINT or SIGTERM. Only the main thread takes those signals (the
 * workers start with them blocked); it then makes an eventfd readable,
 * which every worker has in its epoll set, and joins them.
 */
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace tools {

/*
 * Worker has listen_fd, ep and thread members; run(w, stop_fd) is its
 * thread. ready() is called once everything is set up, before the first
 * client can be served (the servers print their banner there). Returns
 * the signal that stopped them, or -1 (after saying why, prefixed by
 * prog) when they could not be started; the listeners are closed either
 * way.
 */
template <class Worker>
int run_workers(const char *prog, const std::vector<int> &listeners,
		void (*run)(Worker *, int), void (*ready)())
{
	std::vector<std::unique_ptr<Worker>> workers;
	int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	bool ok = stop_fd >= 0;

	if (!ok)
		fprintf(stderr, "%s: eventfd: %m\n", prog);
	for (int fd : listeners) {
		auto w = std::make_unique<Worker>();
		w->listen_fd = fd;
		w->ep = ok ? epoll_create1(EPOLL_CLOEXEC) : -1;
		if (ok && w->ep < 0) {
			fprintf(stderr, "%s: epoll_create1: %m\n", prog);
			ok = false;
		}
		workers.push_back(std::move(w));
	}

	int sig = -1;
	if (ok) {
		sigset_t sigs;
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGINT);
		sigaddset(&sigs, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
		ready();
		for (auto &w : workers)
			w->thread = std::thread(run, w.get(), stop_fd);
		sigwait(&sigs, &sig);
		uint64_t one = 1;
		if (write(stop_fd, &one, sizeof(one)) < 0)
			fprintf(stderr, "%s: eventfd write: %m\n", prog);
	}
	for (auto &w : workers) {
		if (w->thread.joinable())
			w->thread.join();
		close(w->listen_fd);
		if (w->ep >= 0)
			close(w->ep);
	}
	if (stop_fd >= 0)
		close(stop_fd);
	return sig;
}

} // namespace tools
