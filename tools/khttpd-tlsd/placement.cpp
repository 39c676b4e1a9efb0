// SPDX-License-Identifier: GPL-2.0
/*
 * On loopback a client's send runs the receive softirq on the client's own
 * CPU, and that wakes the handshake thread the bytes are for. The scheduler
 * then often places the thread on that CPU, where its milliseconds of
 * public-key crypto preempt the client, while the other CPU idles: ab -l
 * -c 16 waited for its CPU 1.2-1.4 ms per handshake, against 0.4-0.5 with
 * nginx, whose busy workers are seldom woken, and 0.4-0.6 with this
 * (docs/bench/changes.md). The socket knows that CPU (SO_INCOMING_CPU), so
 * the thread leaves it to the client for the handshake. For a remote client
 * the CPU that took its packets from the NIC is nobody's in particular, and
 * the thread may run anywhere.
 */

#include "placement.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlsd {

namespace {

bool is_loopback(const sockaddr_storage &a)
{
	if (a.ss_family == AF_INET) {
		auto *in = reinterpret_cast<const sockaddr_in *>(&a);
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (a.ss_family == AF_INET6) {
		auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&a);
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		       in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

bool same_address(const sockaddr_storage &a, const sockaddr_storage &b)
{
	if (a.ss_family != b.ss_family)
		return false;
	if (a.ss_family == AF_INET)
		return reinterpret_cast<const sockaddr_in *>(&a)->sin_addr.s_addr ==
		       reinterpret_cast<const sockaddr_in *>(&b)->sin_addr.s_addr;
	if (a.ss_family == AF_INET6)
		return IN6_ARE_ADDR_EQUAL(&reinterpret_cast<const sockaddr_in6 *>(&a)->sin6_addr,
					  &reinterpret_cast<const sockaddr_in6 *>(&b)->sin6_addr);
	return false;
}

// A peer on this machine: a loopback address, or our own address.
bool client_is_local(int fd)
{
	sockaddr_storage peer{}, self{};
	socklen_t plen = sizeof(peer), slen = sizeof(self);

	if (getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &plen) < 0 ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&self), &slen) < 0)
		return false;
	return is_loopback(peer) || same_address(peer, self);
}

} // namespace

void place_handshake_thread(int fd)
{
	// The main thread's mask is the agent's (taskset, cgroup); it is never
	// narrowed, so the workers start over from it each time.
	cpu_set_t cpus;
	if (sched_getaffinity(getpid(), sizeof(cpus), &cpus) < 0)
		return;

	int client_cpu = -1;
	socklen_t len = sizeof(client_cpu);
	if (client_is_local(fd) &&
	    getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &client_cpu, &len) == 0 &&
	    client_cpu >= 0 && client_cpu < CPU_SETSIZE && CPU_ISSET(client_cpu, &cpus) &&
	    CPU_COUNT(&cpus) > 1)
		CPU_CLR(client_cpu, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
}

} // namespace tlsd
