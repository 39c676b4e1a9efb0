// SPDX-License-Identifier: GPL-2.0
/*
 * Handing a finished GnuTLS session's record keys to the kernel (kTLS).
 */
#pragma once

#include <gnutls/gnutls.h>

#include <string>

namespace tlsd {

// Whether kTLS can carry the session's cipher (AES-GCM, ChaCha20-Poly1305).
bool ktls_supports(gnutls_session_t session);

/*
 * Attaches the "tls" ULP to fd and installs the TX and RX keys, IVs and
 * sequence numbers of session. Returns 0, or an errno with *why set.
 */
int ktls_install(gnutls_session_t session, int fd, std::string *why);

} // namespace tlsd
