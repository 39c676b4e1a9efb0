// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.1 request-head parser (RFC 9112), picohttpparser style: it keeps
 * no state between calls, re-parses from the start of the buffer each time,
 * never allocates and never reads at or past buf + len. Views in the result
 * point into the caller's buffer.
 *
 * Return convention of the helpers: 1 = go on, 0 = need more bytes,
 * negative = the HTTP status to fail with. Errors are reported as early as
 * they are certain, so a client that sends garbage is answered before it
 * fills the receive buffer; no strict prefix of a valid head is ever an
 * error.
 *
 * Policy, beyond the letter of the RFC (see also core.h):
 *  - CRLF everywhere; a bare LF anywhere in the head is 400.
 *  - Empty lines before the request line are skipped (RFC 9112 2.2); they
 *    count in the returned length.
 *  - Methods are case-sensitive; an unknown token parses fine with
 *    KHTTPD_METHOD_UNKNOWN (the caller answers 501), a non-token is 400.
 *  - HTTP/1.0 and 1.1 only; HTTP/1.x (x > 1) is treated as 1.1; any other
 *    major version is 505.
 *  - Request-target: no CTLs or SP; longer than 8000 bytes is 414.
 *    origin-form, absolute-form (http/https, no userinfo; the authority
 *    replaces the Host header value) and "*" for OPTIONS; anything else,
 *    authority-form included, is 400.
 *  - obs-fold, whitespace before the colon, empty field names, CTLs other
 *    than HTAB in field values: 400. obs-text (0x80-0xFF) is allowed.
 *  - Content-Length: 1*DIGIT only. A list ("5, 5") is 400, overflow is
 *    400; repeated fields with identical values are fine, differing 400.
 *  - Transfer-Encoding with Content-Length is 400; any Transfer-Encoding
 *    sets chunked.
 *  - Host: more than one is 400; missing on HTTP/1.1 is 400.
 *  - More than KHTTPD_MAX_HEADERS fields is 431.
 *  - Conditional and range fields are only located here (their values,
 *    trimmed, are interpreted by conditional.cpp and range.cpp). If-Match,
 *    If-None-Match, If-Modified-Since, If-Unmodified-Since and If-Range
 *    sent more than once: the first field line wins (RFC 9110 would join
 *    the two lists; clients do not split them). Range sent more than once
 *    is dropped (len 0), so the whole file is sent.
 *  - accept_gzip: Accept-Encoding (all its field lines together) names
 *    "gzip" or "x-gzip" with a non-zero weight, or, when neither is
 *    named, "*" with a non-zero weight. A weight that is not a valid
 *    qvalue counts as 0: when in doubt, no gzip.
 */
#include "khttpd/core.h"
#include "util.h"

namespace {

constexpr size_t max_target_len = 8000;

enum : long {
	NEED_MORE = 0,
	GO_ON = 1,
	BAD_REQUEST = -400,
	URI_TOO_LONG = -414,
	FIELDS_TOO_LARGE = -431,
	VERSION_NOT_SUPPORTED = -505,
};

struct method_name {
	const char *name;
	size_t len;
	int method;
};

constexpr method_name methods[] = {
	{"GET", 3, KHTTPD_METHOD_GET},
	{"HEAD", 4, KHTTPD_METHOD_HEAD},
	{"POST", 4, KHTTPD_METHOD_POST},
	{"PUT", 3, KHTTPD_METHOD_PUT},
	{"DELETE", 6, KHTTPD_METHOD_DELETE},
	{"OPTIONS", 7, KHTTPD_METHOD_OPTIONS},
	{"TRACE", 5, KHTTPD_METHOD_TRACE},
	{"CONNECT", 7, KHTTPD_METHOD_CONNECT},
	{"PATCH", 5, KHTTPD_METHOD_PATCH},
};

int lookup_method(const char *p, size_t n)
{
	for (const method_name &m : methods) {
		if (m.len != n)
			continue;
		size_t i = 0;
		while (i < n && p[i] == m.name[i])
			i++;
		if (i == n)
			return m.method;
	}
	return KHTTPD_METHOD_UNKNOWN;
}

/* Accept-Encoding verdicts, combined over all its field lines. */
enum coding_verdict : unsigned char {
	CODING_ABSENT = 0,	/* not named */
	CODING_REFUSED,		/* named, but only with q=0 */
	CODING_ACCEPTED,	/* named with q > 0 */
};

/* Per-call scratch state for header interpretation. */
struct head_state {
	unsigned int host_count;
	bool conn_close;
	bool conn_keep_alive;
	bool transfer_encoding;
	bool seen_if_match;
	bool seen_if_none_match;
	bool seen_if_modified_since;
	bool seen_if_unmodified_since;
	bool seen_if_range;
	unsigned int range_count;
	coding_verdict gzip;
	coding_verdict star;
};

void clear_request(khttpd_request *req)
{
	req->method = KHTTPD_METHOD_UNKNOWN;
	req->method_name = make_str(nullptr, 0);
	req->target = make_str(nullptr, 0);
	req->path = make_str(nullptr, 0);
	req->query = make_str(nullptr, 0);
	req->version_minor = 1;
	req->keep_alive = 0;
	req->has_content_length = 0;
	req->content_length = 0;
	req->chunked = 0;
	req->host = make_str(nullptr, 0);
	req->num_headers = 0;
	req->if_match = make_str(nullptr, 0);
	req->if_none_match = make_str(nullptr, 0);
	req->if_modified_since = make_str(nullptr, 0);
	req->if_unmodified_since = make_str(nullptr, 0);
	req->range = make_str(nullptr, 0);
	req->if_range = make_str(nullptr, 0);
	req->accept_gzip = 0;
}

/* method SP */
long parse_method(const char *&p, const char *end, khttpd_request *req)
{
	const char *start = p;

	while (p < end && is_tchar(static_cast<unsigned char>(*p)))
		p++;
	if (p == end)
		return NEED_MORE;
	if (*p != ' ' || p == start)
		return BAD_REQUEST;
	req->method_name = make_str(start, static_cast<size_t>(p - start));
	req->method = lookup_method(start, static_cast<size_t>(p - start));
	p++;
	return GO_ON;
}

/* request-target SP (the form is checked once the line is complete) */
long parse_target(const char *&p, const char *end, khttpd_request *req)
{
	const char *start = p;

	while (p < end && *p != ' ') {
		if (is_ctl(static_cast<unsigned char>(*p)))
			return BAD_REQUEST;
		if (static_cast<size_t>(p - start) >= max_target_len)
			return URI_TOO_LONG;
		p++;
	}
	if (p == end)
		return NEED_MORE;
	if (p == start)
		return BAD_REQUEST;
	req->target = make_str(start, static_cast<size_t>(p - start));
	p++;
	return GO_ON;
}

/* "HTTP/" DIGIT "." DIGIT CRLF */
long parse_version(const char *&p, const char *end, khttpd_request *req)
{
	static constexpr char pattern[] = "HTTP/#.#\r\n";
	constexpr size_t n = lit_len(pattern);

	for (size_t i = 0; i < n; i++) {
		if (p + i == end)
			return NEED_MORE;
		unsigned char c = static_cast<unsigned char>(p[i]);
		if (pattern[i] == '#' ? !is_digit(c) : c != pattern[i])
			return BAD_REQUEST;
	}
	if (p[5] != '1')
		return VERSION_NOT_SUPPORTED;
	req->version_minor = p[7] == '0' ? 0 : 1;
	p += n;
	return GO_ON;
}

/* Split the target into path and query (and host for absolute-form). */
long classify_target(khttpd_request *req, khttpd_str *abs_host)
{
	const char *t = req->target.ptr;
	size_t n = req->target.len;
	size_t i;

	if (t[0] == '/') {
		i = 0;
	} else if (n == 1 && t[0] == '*') {
		if (req->method != KHTTPD_METHOD_OPTIONS)
			return BAD_REQUEST;
		req->path = req->target;
		return GO_ON;
	} else {
		if (starts_with_nocase(t, n, "http://"))
			i = lit_len("http://");
		else if (starts_with_nocase(t, n, "https://"))
			i = lit_len("https://");
		else
			return BAD_REQUEST;
		size_t a = i;
		while (i < n && t[i] != '/' && t[i] != '?') {
			if (t[i] == '@' || t[i] == '#')
				return BAD_REQUEST;
			i++;
		}
		if (i == a)
			return BAD_REQUEST;
		*abs_host = make_str(t + a, i - a);
		if (i == n || t[i] == '?') {
			req->path = lit_str("/");
			if (i < n)
				req->query = make_str(t + i + 1, n - i - 1);
			return GO_ON;
		}
	}

	size_t path_start = i;
	while (i < n && t[i] != '?')
		i++;
	req->path = make_str(t + path_start, i - path_start);
	if (i < n)
		req->query = make_str(t + i + 1, n - i - 1);
	return GO_ON;
}

/* Connection: #token; looks for "close" and "keep-alive". */
void parse_connection(const char *v, size_t n, head_state *st)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && (is_ows(static_cast<unsigned char>(v[i])) ||
				 v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && is_ows(static_cast<unsigned char>(v[e - 1])))
			e--;
		if (eq_nocase(v + s, e - s, "close"))
			st->conn_close = true;
		else if (eq_nocase(v + s, e - s, "keep-alive"))
			st->conn_keep_alive = true;
	}
}

/* Trim OWS from both ends of v[s..e). */
void trim(const char *v, size_t *s, size_t *e)
{
	while (*s < *e && is_ows(static_cast<unsigned char>(v[*s])))
		(*s)++;
	while (*e > *s && is_ows(static_cast<unsigned char>(v[*e - 1])))
		(*e)--;
}

/*
 * qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
 * True for a valid non-zero weight; zero and malformed weights are false.
 */
bool qvalue_nonzero(const char *v, size_t n)
{
	if (n == 0 || (v[0] != '0' && v[0] != '1'))
		return false;
	bool nonzero = v[0] == '1';
	if (n == 1)
		return nonzero;
	if (v[1] != '.' || n > 5)
		return false;
	for (size_t i = 2; i < n; i++) {
		if (!is_digit(static_cast<unsigned char>(v[i])))
			return false;
		if (v[i] != '0') {
			if (v[0] == '1')
				return false;	/* above 1 */
			nonzero = true;
		}
	}
	return nonzero;
}

void note_coding(coding_verdict *slot, bool accepted)
{
	/* named twice: any non-zero weight wins */
	if (accepted)
		*slot = CODING_ACCEPTED;
	else if (*slot == CODING_ABSENT)
		*slot = CODING_REFUSED;
}

/*
 * Accept-Encoding: #( codings [ weight ] ), weight = OWS ";" OWS "q="
 * qvalue. Parameters other than q are skipped; whitespace around ';' and
 * '=' and case are tolerated.
 */
void parse_accept_encoding(const char *v, size_t n, head_state *st)
{
	size_t i = 0;

	while (i < n) {
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		if (i < n)
			i++;	/* the comma */

		/* the coding, up to the first ';' */
		size_t c = s;
		while (c < e && v[c] != ';')
			c++;
		size_t cs = s, ce = c;
		trim(v, &cs, &ce);
		if (cs == ce)
			continue;	/* empty list element */

		bool accepted = true;	/* no weight means q=1 */
		while (c < e) {
			size_t ps = ++c;	/* past the ';' */
			while (c < e && v[c] != ';')
				c++;
			size_t eq = ps;
			while (eq < c && v[eq] != '=')
				eq++;
			size_t ns = ps, ne = eq;
			trim(v, &ns, &ne);
			if (!eq_nocase(v + ns, ne - ns, "q"))
				continue;
			size_t vs = eq < c ? eq + 1 : c, ve = c;
			trim(v, &vs, &ve);
			accepted = qvalue_nonzero(v + vs, ve - vs);
		}

		const char *coding = v + cs;
		const size_t len = ce - cs;
		if (eq_nocase(coding, len, "gzip") ||
		    eq_nocase(coding, len, "x-gzip"))
			note_coding(&st->gzip, accepted);
		else if (eq_nocase(coding, len, "*"))
			note_coding(&st->star, accepted);
	}
}

/* The first field line wins for the conditional fields. */
void keep_first(khttpd_str *field, bool *seen, const char *v, size_t n)
{
	if (*seen)
		return;
	*seen = true;
	*field = make_str(v, n);
}

long parse_content_length(const char *v, size_t n, khttpd_request *req)
{
	uint64_t value = 0;

	if (!parse_u64(v, n, &value))
		return BAD_REQUEST;
	if (req->has_content_length && req->content_length != value)
		return BAD_REQUEST;
	req->has_content_length = 1;
	req->content_length = value;
	return GO_ON;
}

long interpret_field(const char *name, size_t name_len, const char *v,
		     size_t n, khttpd_request *req, head_state *st)
{
	switch (to_lower(static_cast<unsigned char>(name[0]))) {
	case 'a':
		if (eq_nocase(name, name_len, "accept-encoding"))
			parse_accept_encoding(v, n, st);
		break;
	case 'c':
		if (eq_nocase(name, name_len, "content-length"))
			return parse_content_length(v, n, req);
		if (eq_nocase(name, name_len, "connection"))
			parse_connection(v, n, st);
		break;
	case 'h':
		if (eq_nocase(name, name_len, "host")) {
			if (++st->host_count > 1)
				return BAD_REQUEST;
			req->host = make_str(v, n);
		}
		break;
	case 'i':
		if (eq_nocase(name, name_len, "if-match"))
			keep_first(&req->if_match, &st->seen_if_match, v, n);
		else if (eq_nocase(name, name_len, "if-none-match"))
			keep_first(&req->if_none_match,
				   &st->seen_if_none_match, v, n);
		else if (eq_nocase(name, name_len, "if-modified-since"))
			keep_first(&req->if_modified_since,
				   &st->seen_if_modified_since, v, n);
		else if (eq_nocase(name, name_len, "if-unmodified-since"))
			keep_first(&req->if_unmodified_since,
				   &st->seen_if_unmodified_since, v, n);
		else if (eq_nocase(name, name_len, "if-range"))
			keep_first(&req->if_range, &st->seen_if_range, v, n);
		break;
	case 'r':
		if (eq_nocase(name, name_len, "range")) {
			if (++st->range_count == 1)
				req->range = make_str(v, n);
			else
				req->range = make_str(nullptr, 0);
		}
		break;
	case 't':
		if (eq_nocase(name, name_len, "transfer-encoding"))
			st->transfer_encoding = true;
		break;
	}
	return GO_ON;
}

/*
 * One header field line, or the empty line ending the head. Returns GO_ON
 * after a field, and sets *done after the empty line.
 */
long parse_field(const char *&p, const char *end, khttpd_request *req,
		 head_state *st, bool *done)
{
	if (p == end)
		return NEED_MORE;
	if (*p == '\r') {
		if (p + 1 == end)
			return NEED_MORE;
		if (p[1] != '\n')
			return BAD_REQUEST;
		p += 2;
		*done = true;
		return GO_ON;
	}

	/* field-name ":"; this also rejects obs-fold and bare LF */
	const char *name = p;
	while (p < end && is_tchar(static_cast<unsigned char>(*p)))
		p++;
	if (p == end)
		return NEED_MORE;
	if (*p != ':' || p == name)
		return BAD_REQUEST;
	size_t name_len = static_cast<size_t>(p - name);
	p++;

	/* OWS field-value OWS CRLF */
	while (p < end && is_ows(static_cast<unsigned char>(*p)))
		p++;
	const char *value = p;
	while (p < end && *p != '\r') {
		unsigned char c = static_cast<unsigned char>(*p);
		if (is_ctl(c) && c != '\t')
			return BAD_REQUEST;
		p++;
	}
	if (p == end || p + 1 == end)
		return NEED_MORE;
	if (p[1] != '\n')
		return BAD_REQUEST;
	const char *vend = p;
	while (vend > value && is_ows(static_cast<unsigned char>(vend[-1])))
		vend--;
	p += 2;

	if (++req->num_headers > KHTTPD_MAX_HEADERS)
		return FIELDS_TOO_LARGE;
	return interpret_field(name, name_len, value,
			       static_cast<size_t>(vend - value), req, st);
}

} /* namespace */

extern "C" long khttpd_parse_request(const char *buf, size_t len,
				     struct khttpd_request *req)
{
	const char *p = buf;
	const char *end = buf + len;
	head_state st = {};
	khttpd_str abs_host = make_str(nullptr, 0);
	long r;

	clear_request(req);

	/* RFC 9112 2.2: ignore at least one empty line before the request. */
	while (p < end && *p == '\r') {
		if (p + 1 == end)
			return NEED_MORE;
		if (p[1] != '\n')
			return BAD_REQUEST;
		p += 2;
	}

	if ((r = parse_method(p, end, req)) != GO_ON)
		return r;
	if ((r = parse_target(p, end, req)) != GO_ON)
		return r;
	if ((r = parse_version(p, end, req)) != GO_ON)
		return r;
	if ((r = classify_target(req, &abs_host)) != GO_ON)
		return r;

	bool done = false;
	while (!done) {
		if ((r = parse_field(p, end, req, &st, &done)) != GO_ON)
			return r;
	}

	if (st.transfer_encoding && req->has_content_length)
		return BAD_REQUEST;
	if (st.host_count == 0 && req->version_minor == 1)
		return BAD_REQUEST;
	if (abs_host.ptr)
		req->host = abs_host;	/* RFC 9112 3.2.2 */
	req->chunked = st.transfer_encoding;
	req->accept_gzip = st.gzip == CODING_ACCEPTED ||
			   (st.gzip == CODING_ABSENT && st.star == CODING_ACCEPTED);
	if (req->version_minor == 0)
		req->keep_alive = st.conn_keep_alive && !st.conn_close;
	else
		req->keep_alive = !st.conn_close;
	return static_cast<long>(p - buf);
}

extern "C" int khttpd_parse_overflow_status(const char *buf, size_t len)
{
	size_t i = 0;

	while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
		i += 2;
	for (; i < len; i++)
		if (buf[i] == '\n')
			return 431;
	return 414;
}
