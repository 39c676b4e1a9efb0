// SPDX-License-Identifier: GPL-2.0
/*
 * The server side of a TLS handshake with GnuTLS, on a socket someone else
 * accepted, ending with the record keys installed in the kernel (kTLS).
 */
#pragma once

#include <gnutls/gnutls.h>

#include <string>

#include "config.h"

namespace tlsd {

// What every session shares: read once at start, before dropping root.
struct tls_identity {
	gnutls_certificate_credentials_t credentials = nullptr;
	gnutls_priority_t priority = nullptr;
	gnutls_datum_t ticket_key = {}; // session tickets (1.2) and 1.3 tickets
	std::string certificate_summary; // subject, SANs, key type, expiry
	std::string protocols;           // what the priority string allows
};

// Returns false after printing why (naming the file and where it was set).
bool load_tls_identity(const config &cfg, tls_identity *id);
void free_tls_identity(tls_identity *id);

struct handshake_outcome {
	// 0, or the errno that HANDSHAKE_CMD_DONE reports: EACCES the
	// handshake failed (the peer's fault or a policy refusal), ETIMEDOUT
	// the deadline passed, EIO anything else (transport error, stop,
	// kTLS could not be installed).
	unsigned status = 0;
	bool resumed = false;
	std::string error;   // why it failed, for -v
	std::string summary; // protocol, cipher, ALPN, SNI, resumption
};

/*
 * Runs the handshake on fd within timeout_ms (both directions waited on
 * with poll; a readable stop_fd aborts it), then installs kTLS. fd is left
 * open, in blocking mode as it was.
 */
handshake_outcome tls_server_handshake(const tls_identity &id, int fd,
				       unsigned timeout_ms, int stop_fd);

} // namespace tlsd
