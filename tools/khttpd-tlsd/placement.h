// SPDX-License-Identifier: GPL-2.0
/*
 * Which CPUs a handshake's thread may run on.
 */
#pragma once

namespace tlsd {

/*
 * Before a handshake on fd: when the client is on this machine, keep the
 * calling thread off the CPU the client's packets came in on (its own, on
 * loopback); otherwise let it run on every CPU the agent was given.
 */
void place_handshake_thread(int fd);

} // namespace tlsd
