// SPDX-License-Identifier: GPL-2.0
/*
 * GnuTLS, server side. The transport is our own push/pull pair on the fd,
 * not GnuTLS's: each waits with poll() for at most what is left of the
 * handshake's deadline (a client that stops mid-handshake cannot hold a
 * worker), and neither changes the socket's flags or timeouts, which the
 * kernel's user of the socket (khttpd) relies on afterwards. pull reads
 * exactly the byte count GnuTLS asks for (it asks for a record header,
 * then the rest of that record), so nothing the client sent after its
 * Finished - typically the first HTTP request - is consumed here: it stays
 * in the socket for kTLS to decrypt. gnutls_record_check_pending() is
 * checked anyway before handing over.
 *
 * push does not send: it appends to the transport's buffer, which goes out
 * in one send() when GnuTLS next reads, or when the handshake returns.
 * GnuTLS hands over a TLS 1.3 server flight in three pieces (ServerHello,
 * the encrypted EncryptedExtensions..Finished, the session tickets); sent
 * as they come, each wakes the client, which tries its handshake step
 * again and finds it incomplete. OpenSSL buffers a flight the same way.
 */

#include "tls_server.h"

#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "ktls.h"

namespace tlsd {

namespace {

constexpr char alpn_http11[] = "http/1.1";

bool read_file(const setting &s, const char *what, std::string *out)
{
	std::ifstream in(s.value, std::ios::binary);
	if (!in) {
		fprintf(stderr, "khttpd-tlsd: %s: %s %s: %s\n", s.origin.c_str(), what,
			s.value.c_str(), strerror(errno));
		return false;
	}
	std::ostringstream ss;
	ss << in.rdbuf();
	*out = ss.str();
	return true;
}

gnutls_datum_t datum(std::string &s)
{
	return {reinterpret_cast<unsigned char *>(s.data()),
		static_cast<unsigned>(s.size())};
}

std::string san_list(gnutls_x509_crt_t crt)
{
	std::string out;
	for (unsigned seq = 0;; seq++) {
		char buf[512];
		size_t size = sizeof(buf) - 1;
		unsigned critical;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size,
								&critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type < 0)
			continue; // too long or unparsable: skip that one
		std::string item;
		if (type == GNUTLS_SAN_DNSNAME) {
			item = "DNS:" + std::string(buf, size);
		} else if (type == GNUTLS_SAN_IPADDRESS) {
			char ip[INET6_ADDRSTRLEN];
			int af = size == 4 ? AF_INET : size == 16 ? AF_INET6 : 0;
			if (!af || !inet_ntop(af, buf, ip, sizeof(ip)))
				continue;
			item = std::string("IP:") + ip;
		} else {
			continue;
		}
		out += (out.empty() ? "" : ",") + item;
	}
	return out.empty() ? "none" : out;
}

// "subject CN=..., SAN DNS:..., RSA 2048-bit key, 2 certificates, valid until ..."
std::string describe_chain(std::string &pem)
{
	gnutls_datum_t d = datum(pem);
	gnutls_x509_crt_t *crts = nullptr;
	unsigned n = 0;
	if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0 || !n)
		return "(certificate not parsed)";

	std::string out;
	gnutls_datum_t dn = {};
	if (gnutls_x509_crt_get_dn3(crts[0], &dn, 0) == 0) {
		out = "subject " + std::string(reinterpret_cast<char *>(dn.data), dn.size);
		gnutls_free(dn.data);
	}
	out += ", SAN " + san_list(crts[0]);
	unsigned bits = 0;
	int pk = gnutls_x509_crt_get_pk_algorithm(crts[0], &bits);
	out += std::string(", ") + (pk >= 0 ? gnutls_pk_algorithm_get_name(
				     static_cast<gnutls_pk_algorithm_t>(pk)) : "?") +
	       " " + std::to_string(bits) + "-bit key";
	if (n > 1)
		out += ", chain of " + std::to_string(n);
	time_t until = gnutls_x509_crt_get_expiration_time(crts[0]);
	char date[32];
	tm t;
	if (until != static_cast<time_t>(-1) && gmtime_r(&until, &t) &&
	    strftime(date, sizeof(date), "%Y-%m-%d", &t))
		out += std::string(until < time(nullptr) ? ", EXPIRED " : ", valid until ") + date;
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return out;
}

// The protocol versions a priority string leaves enabled, e.g. "TLS1.3,TLS1.2".
std::string enabled_protocols(gnutls_priority_t prio)
{
	const unsigned *list;
	int n = gnutls_priority_protocol_list(prio, &list);
	std::string out;
	for (int i = 0; i < n; i++) {
		const char *name = gnutls_protocol_get_name(static_cast<gnutls_protocol_t>(list[i]));
		out += (out.empty() ? "" : ",") + std::string(name ? name : "?");
	}
	return out;
}

struct transport {
	int fd;
	int stop_fd;
	timespec deadline;
	bool timed_out = false;
	bool stopped = false;
	gnutls_session_t session;
	std::vector<unsigned char> unsent; // what push took, not yet sent
};

long ms_left(const timespec &deadline)
{
	timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (deadline.tv_sec - now.tv_sec) * 1000 +
		  (deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

// Waits for events on the socket; false (errno set for GnuTLS) on timeout or stop.
bool wait_for(transport *t, short events)
{
	for (;;) {
		long left = ms_left(t->deadline);
		if (left == 0) {
			t->timed_out = true;
			gnutls_transport_set_errno(t->session, ETIMEDOUT);
			return false;
		}
		pollfd p[2] = {{t->fd, events, 0}, {t->stop_fd, POLLIN, 0}};
		int n = poll(p, t->stop_fd >= 0 ? 2 : 1, static_cast<int>(left));
		if (n < 0 && errno != EINTR) {
			gnutls_transport_set_errno(t->session, errno);
			return false;
		}
		if (n > 0 && (p[1].revents & POLLIN)) {
			t->stopped = true;
			gnutls_transport_set_errno(t->session, ECANCELED);
			return false;
		}
		if (n > 0 && p[0].revents)
			return true; // ready, or an error recv/send will report
	}
}

// Sends what push buffered; false (errno set for GnuTLS) if it cannot.
bool flush(transport *t)
{
	size_t off = 0;
	while (off < t->unsent.size()) {
		ssize_t n = send(t->fd, t->unsent.data() + off, t->unsent.size() - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			off += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			gnutls_transport_set_errno(t->session, errno);
			return false;
		}
		if (!wait_for(t, POLLOUT))
			return false;
	}
	t->unsent.clear();
	return true;
}

ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	auto *t = static_cast<transport *>(ptr);
	if (!flush(t))
		return -1;
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			gnutls_transport_set_errno(t->session, errno);
			return -1;
		}
		if (!wait_for(t, POLLIN))
			return -1;
	}
}

// Buffers: see the top of the file.
ssize_t push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	auto *t = static_cast<transport *>(ptr);
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		auto *p = static_cast<const unsigned char *>(iov[i].iov_base);
		t->unsent.insert(t->unsent.end(), p, p + iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return static_cast<ssize_t>(total);
}

/*
 * A TLS 1.3 server answers nothing to the client's Finished (GnuTLS sends
 * its session tickets with its own flight), so TCP's ACK for it waits for
 * the delayed-ACK timer, 40 ms or more. A client that writes its request
 * without TCP_NODELAY (ab does) has Nagle hold the request until that ACK:
 * ab -l -c 1 waited 45 ms per request for its response here against 4 ms
 * with nginx, whose tickets (OpenSSL sends them after the client's
 * Finished) carry the ACK. TCP_QUICKACK sends a pending ACK at once; with
 * none pending it changes nothing that lasts.
 */
void ack_now(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

// Handshake errors that are the transport's, not the peer's TLS.
bool is_transport_error(int err)
{
	return err == GNUTLS_E_PULL_ERROR || err == GNUTLS_E_PUSH_ERROR ||
	       err == GNUTLS_E_PREMATURE_TERMINATION;
}

std::string server_name(gnutls_session_t session)
{
	char name[256];
	size_t size = sizeof(name);
	unsigned type;
	if (gnutls_server_name_get(session, name, &size, &type, 0) < 0 ||
	    type != GNUTLS_NAME_DNS)
		return "";
	return std::string(name, strnlen(name, size));
}

std::string describe_session(gnutls_session_t session)
{
	gnutls_datum_t alpn = {};
	std::string out = gnutls_protocol_get_name(gnutls_protocol_get_version(session));
	out += std::string(" ") + gnutls_cipher_get_name(gnutls_cipher_get(session));
	out += ", ALPN ";
	if (gnutls_alpn_get_selected_protocol(session, &alpn) == 0)
		out += std::string(reinterpret_cast<char *>(alpn.data), alpn.size);
	else
		out += "none";
	std::string sni = server_name(session);
	out += ", SNI " + (sni.empty() ? std::string("none") : sni);
	out += gnutls_session_is_resumed(session) ? ", resumed" : ", full handshake";
	return out;
}

} // namespace

bool load_tls_identity(const config &cfg, tls_identity *id)
{
	std::string cert_pem, key_pem;
	if (!read_file(cfg.certificate, "certificate", &cert_pem) ||
	    !read_file(cfg.key, "key", &key_pem))
		return false;

	int rc = gnutls_certificate_allocate_credentials(&id->credentials);
	if (rc < 0) {
		fprintf(stderr, "khttpd-tlsd: %s\n", gnutls_strerror(rc));
		return false;
	}
	gnutls_datum_t cert = datum(cert_pem), key = datum(key_pem);
	rc = gnutls_certificate_set_x509_key_mem2(id->credentials, &cert, &key,
						  GNUTLS_X509_FMT_PEM, nullptr, 0);
	explicit_bzero(key_pem.data(), key_pem.size());
	if (rc < 0) {
		fprintf(stderr, "khttpd-tlsd: certificate %s (%s) with key %s (%s): %s\n",
			cfg.certificate.value.c_str(), cfg.certificate.origin.c_str(),
			cfg.key.value.c_str(), cfg.key.origin.c_str(), gnutls_strerror(rc));
		return false;
	}
	id->certificate_summary = describe_chain(cert_pem);

	const char *err_pos = nullptr;
	rc = gnutls_priority_init2(&id->priority, cfg.priority.c_str(), &err_pos, 0);
	if (rc < 0) {
		fprintf(stderr, "khttpd-tlsd: priority string '%s': %s%s%s\n",
			cfg.priority.c_str(), gnutls_strerror(rc),
			err_pos ? " at: " : "", err_pos ? err_pos : "");
		return false;
	}
	id->protocols = enabled_protocols(id->priority);

	rc = gnutls_session_ticket_key_generate(&id->ticket_key);
	if (rc < 0) {
		fprintf(stderr, "khttpd-tlsd: session ticket key: %s\n", gnutls_strerror(rc));
		return false;
	}
	return true;
}

void free_tls_identity(tls_identity *id)
{
	if (id->ticket_key.data) {
		explicit_bzero(id->ticket_key.data, id->ticket_key.size);
		gnutls_free(id->ticket_key.data);
		id->ticket_key = {};
	}
	if (id->priority)
		gnutls_priority_deinit(id->priority);
	if (id->credentials)
		gnutls_certificate_free_credentials(id->credentials);
	id->priority = nullptr;
	id->credentials = nullptr;
}

handshake_outcome tls_server_handshake(const tls_identity &id, int fd,
				       unsigned timeout_ms, int stop_fd)
{
	handshake_outcome out;
	gnutls_session_t session;

	// NO_AUTO_SEND_TICKET is not set: the TLS 1.3 tickets go out as part
	// of gnutls_handshake(), before the keys move to the kernel.
	int rc = gnutls_init(&session, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		out.status = EIO;
		out.error = gnutls_strerror(rc);
		return out;
	}

	transport t{fd, stop_fd, {}, false, false, session, {}};
	clock_gettime(CLOCK_MONOTONIC, &t.deadline);
	t.deadline.tv_sec += timeout_ms / 1000;
	t.deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (t.deadline.tv_nsec >= 1000000000L) {
		t.deadline.tv_sec++;
		t.deadline.tv_nsec -= 1000000000L;
	}

	// MANDATORY: a client that offers ALPN without http/1.1 is refused
	// with no_application_protocol (as nginx does); one that offers no
	// ALPN at all is served.
	gnutls_datum_t proto = {reinterpret_cast<unsigned char *>(const_cast<char *>(alpn_http11)),
				sizeof(alpn_http11) - 1};
	if ((rc = gnutls_priority_set(session, id.priority)) < 0 ||
	    (rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, id.credentials)) < 0 ||
	    (rc = gnutls_session_ticket_enable_server(session, &id.ticket_key)) < 0 ||
	    (rc = gnutls_alpn_set_protocols(session, &proto, 1, GNUTLS_ALPN_MANDATORY)) < 0) {
		out.status = EIO;
		out.error = gnutls_strerror(rc);
		gnutls_deinit(session);
		return out;
	}
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_ptr(session, &t);
	gnutls_transport_set_pull_function(session, pull);
	gnutls_transport_set_vec_push_function(session, push);

	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc) && !t.timed_out && !t.stopped);

	if (rc < 0) {
		if (t.timed_out) {
			out.status = ETIMEDOUT;
			out.error = "handshake timed out";
		} else if (t.stopped) {
			out.status = EIO;
			out.error = "stopped";
		} else if (is_transport_error(rc)) {
			out.status = EIO;
			out.error = gnutls_strerror(rc);
		} else {
			out.status = EACCES;
			out.error = gnutls_strerror(rc);
			// Tell the client why (protocol_version,
			// no_application_protocol, handshake_failure, ...).
			gnutls_alert_send_appropriate(session, rc);
		}
		flush(&t); // what the handshake left, an alert included
		std::string sni = server_name(session);
		if (!sni.empty())
			out.error += " (SNI " + sni + ")";
		gnutls_deinit(session);
		return out;
	}

	out.summary = describe_session(session);
	out.resumed = gnutls_session_is_resumed(session);
	if (!flush(&t)) {
		// The session tickets must be out before kTLS sends a record.
		out.status = t.timed_out ? ETIMEDOUT : EIO;
		out.error = t.timed_out ? "handshake timed out" : "sending the last flight failed";
	} else if (gnutls_record_check_pending(session) != 0) {
		// Decrypted bytes GnuTLS holds would be lost to kTLS.
		out.status = EIO;
		out.error = "GnuTLS read application data past the handshake";
	} else if (!ktls_supports(session)) {
		// Only with a priority string override that allows more.
		out.status = EACCES;
		out.error = std::string("negotiated ") + out.summary + ", which kTLS cannot carry";
		gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_HANDSHAKE_FAILURE);
		flush(&t);
	} else {
		// After what was left of the handshake (TLS 1.2's last flight,
		// which carries the ACK itself) is out.
		ack_now(fd);
		std::string why;
		int e = ktls_install(session, fd, &why);
		if (e) {
			out.status = EIO;
			out.error = "kTLS: " + why;
		}
	}
	gnutls_deinit(session);
	return out;
}

} // namespace tlsd
