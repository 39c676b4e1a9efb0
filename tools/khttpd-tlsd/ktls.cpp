// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS set-up: setsockopt(TCP_ULP, "tls"), then one tls12_crypto_info_*
 * per direction (SOL_TLS, TLS_TX / TLS_RX). GnuTLS gives each direction's
 * key, its IV and the next record sequence number with
 * gnutls_record_get_state(). How they map onto the kernel's fields:
 *
 *   AES-GCM, TLS 1.3: the 12-byte IV splits into salt (4) and iv (8); the
 *       kernel XORs salt||iv with the sequence number, as RFC 8446 does.
 *   AES-GCM, TLS 1.2: GnuTLS's IV is the 4-byte implicit salt; iv is the
 *       first explicit nonce the kernel sends (it then counts up), and the
 *       sequence number is a fine unique start, as other stacks use.
 *   ChaCha20-Poly1305 (both): the 12-byte IV is iv, no salt.
 */

#include "ktls.h"

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace tlsd {

namespace {

struct record_state {
	gnutls_datum_t iv = {};
	gnutls_datum_t key = {};
	unsigned char seq[8] = {};
};

bool get_state(gnutls_session_t session, bool read, record_state *st)
{
	return gnutls_record_get_state(session, read ? 1 : 0, nullptr, &st->iv,
				       &st->key, st->seq) == 0;
}

template <class Info>
int set_info(int fd, int direction, Info *info)
{
	int rc = setsockopt(fd, SOL_TLS, direction, info, sizeof(*info)) < 0 ? errno : 0;
	// The keys must not outlive their use on this thread's stack.
	explicit_bzero(info, sizeof(*info));
	return rc;
}

template <class Info, unsigned cipher, size_t key_size, size_t salt_size,
	  size_t iv_size>
int install_aes_gcm(gnutls_session_t session, int fd, int direction, bool tls13,
		    std::string *why)
{
	record_state st;
	if (!get_state(session, direction == TLS_RX, &st)) {
		*why = "gnutls_record_get_state failed";
		return EIO;
	}
	size_t want_iv = tls13 ? salt_size + iv_size : salt_size;
	if (st.key.size != key_size || st.iv.size < want_iv) {
		*why = "unexpected key or IV size from GnuTLS";
		return EIO;
	}
	Info info = {};
	info.info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	info.info.cipher_type = cipher;
	memcpy(info.key, st.key.data, key_size);
	memcpy(info.salt, st.iv.data, salt_size);
	if (tls13)
		memcpy(info.iv, st.iv.data + salt_size, iv_size);
	else
		memcpy(info.iv, st.seq, iv_size);
	memcpy(info.rec_seq, st.seq, sizeof(info.rec_seq));
	return set_info(fd, direction, &info);
}

int install_chacha(gnutls_session_t session, int fd, int direction, bool tls13,
		   std::string *why)
{
	record_state st;
	if (!get_state(session, direction == TLS_RX, &st)) {
		*why = "gnutls_record_get_state failed";
		return EIO;
	}
	if (st.key.size != TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE ||
	    st.iv.size != TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE) {
		*why = "unexpected key or IV size from GnuTLS";
		return EIO;
	}
	tls12_crypto_info_chacha20_poly1305 info = {};
	info.info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	info.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
	memcpy(info.key, st.key.data, sizeof(info.key));
	memcpy(info.iv, st.iv.data, sizeof(info.iv));
	memcpy(info.rec_seq, st.seq, sizeof(info.rec_seq));
	return set_info(fd, direction, &info);
}

int install_direction(gnutls_session_t session, int fd, int direction,
		      std::string *why)
{
	bool tls13 = gnutls_protocol_get_version(session) == GNUTLS_TLS1_3;

	switch (gnutls_cipher_get(session)) {
	case GNUTLS_CIPHER_AES_128_GCM:
		return install_aes_gcm<tls12_crypto_info_aes_gcm_128, TLS_CIPHER_AES_GCM_128,
				       TLS_CIPHER_AES_GCM_128_KEY_SIZE,
				       TLS_CIPHER_AES_GCM_128_SALT_SIZE,
				       TLS_CIPHER_AES_GCM_128_IV_SIZE>(session, fd, direction,
								      tls13, why);
	case GNUTLS_CIPHER_AES_256_GCM:
		return install_aes_gcm<tls12_crypto_info_aes_gcm_256, TLS_CIPHER_AES_GCM_256,
				       TLS_CIPHER_AES_GCM_256_KEY_SIZE,
				       TLS_CIPHER_AES_GCM_256_SALT_SIZE,
				       TLS_CIPHER_AES_GCM_256_IV_SIZE>(session, fd, direction,
								      tls13, why);
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		return install_chacha(session, fd, direction, tls13, why);
	default:
		*why = std::string("kTLS cannot carry ") +
		       gnutls_cipher_get_name(gnutls_cipher_get(session));
		return EIO;
	}
}

} // namespace

bool ktls_supports(gnutls_session_t session)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(session);
	if (v != GNUTLS_TLS1_2 && v != GNUTLS_TLS1_3)
		return false;
	switch (gnutls_cipher_get(session)) {
	case GNUTLS_CIPHER_AES_128_GCM:
	case GNUTLS_CIPHER_AES_256_GCM:
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		return true;
	default:
		return false;
	}
}

int ktls_install(gnutls_session_t session, int fd, std::string *why)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		int e = errno;
		*why = std::string("setsockopt(TCP_ULP, \"tls\"): ") + strerror(e) +
		       (e == ENOENT ? " (the tls module is not loaded: modprobe tls)" : "");
		return e;
	}
	for (int direction : {TLS_TX, TLS_RX}) {
		int e = install_direction(session, fd, direction, why);
		if (e) {
			// ENOENT: the kernel could not get the cipher's
			// crypto transform (its module not loaded and not
			// loadable, e.g. gcm or chacha20poly1305).
			if (why->empty())
				*why = std::string("setsockopt(SOL_TLS, ") +
				       (direction == TLS_TX ? "TLS_TX" : "TLS_RX") +
				       ") for " + gnutls_cipher_get_name(gnutls_cipher_get(session)) +
				       ": " + strerror(e) +
				       (e == ENOENT ? " (the kernel has no such AEAD: modprobe gcm "
						      "ghash-generic chacha20poly1305?)" : "");
			return e;
		}
	}
	return 0;
}

} // namespace tlsd
