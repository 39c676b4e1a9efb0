// SPDX-License-Identifier: GPL-2.0
/*
 * khttpd-tlsd's settings: the config file (key = value lines) overlaid by
 * the command line.
 */
#pragma once

#include <string>

namespace tlsd {

inline constexpr char default_config_file[] = "/etc/khttpd-tlsd.conf";
inline constexpr char default_priority[] =
	// Only what kTLS can carry: TLS 1.3 and 1.2 with the AEAD ciphers
	// linux/tls.h has crypto_info for (CCM and the SM4/ARIA ones left
	// out: no client needs them). Static RSA key exchange is dropped
	// for forward secrecy, as Mozilla's "intermediate" profile does.
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
	":-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-RSA";
inline constexpr unsigned default_workers = 1024;
inline constexpr unsigned max_workers = 65536;

// A path and where it was set ("FILE:LINE" or "--cert"), for error messages.
struct setting {
	std::string value;
	std::string origin;
};

struct config {
	std::string config_file; // the file read, or "" when there was none
	setting certificate;     // PEM, the leaf first, then its chain
	setting key;             // PEM private key
	std::string user;        // to switch to once the key is read
	std::string user_origin;
	std::string priority = default_priority;
	unsigned workers = default_workers; // handshakes at once
	bool verbose = false;
	unsigned listen_port = 0; // development mode (--listen), 0: off
	// Handshake deadline in --listen mode, and when the kernel gives none.
	unsigned handshake_timeout_ms = 10000;
};

/*
 * Fills cfg from argv and the config file (-c, else the default file if
 * it exists); exits with status 0 after -h and 2 on a usage error, and
 * returns false after printing why a setting is wrong.
 */
bool load_config(int argc, char **argv, config *cfg);

} // namespace tlsd
