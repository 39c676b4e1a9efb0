/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between the kernel C glue and the freestanding C++ protocol
 * core. Everything crossing it is a plain struct, a fixed-width integer or a
 * pointer+length pair; the core never allocates and keeps no state between
 * calls, so the same object code runs in the module, in the unit tests, the
 * fuzzers and the userspace twin server.
 *
 * Header-only on purpose: it must compile as C (gnu11, kernel and
 * userspace) and as C++20 (freestanding), so it includes nothing but the
 * fixed-width types, which each side provides.
 */
#ifndef KHTTPD_CORE_H
#define KHTTPD_CORE_H

#if defined(__KERNEL__) && !defined(__cplusplus)
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A view into a caller-owned buffer; never NUL-terminated. */
struct khttpd_str {
	const char *ptr;
	size_t len;
};

enum khttpd_method {
	KHTTPD_METHOD_UNKNOWN = 0,
	KHTTPD_METHOD_GET,
	KHTTPD_METHOD_HEAD,
	KHTTPD_METHOD_POST,
	KHTTPD_METHOD_PUT,
	KHTTPD_METHOD_DELETE,
	KHTTPD_METHOD_OPTIONS,
	KHTTPD_METHOD_TRACE,
	KHTTPD_METHOD_CONNECT,
	KHTTPD_METHOD_PATCH,
};

/* Limits the parser enforces (431 beyond them). */
#define KHTTPD_MAX_HEADERS 64

/*
 * What the parser extracts from one request head. Views point into the
 * buffer handed to khttpd_parse_request() and stay valid as long as it does.
 */
struct khttpd_request {
	int method;			/* enum khttpd_method */
	struct khttpd_str method_name;
	struct khttpd_str target;	/* request-target as sent */
	struct khttpd_str path;		/* target up to '?' (origin-form) */
	struct khttpd_str query;	/* after '?', without it; len 0 if none */
	int version_minor;		/* HTTP/1.<minor>: 0 or 1 */
	int keep_alive;			/* after Connection and version rules */
	int has_content_length;
	uint64_t content_length;
	int chunked;			/* Transfer-Encoding present */
	int expect_continue;		/* Expect: 100-continue */
	struct khttpd_str host;
	unsigned int num_headers;
};

/*
 * Parse the request head at the start of buf[0..len).
 *
 * Returns the length of the head (request line + header fields + the empty
 * line) when it is complete and valid; 0 when more bytes are needed (every
 * strict prefix of a valid head returns 0); or a negative HTTP status code
 * (-400, -414, -431, -501, -505) when the head can never become valid.
 * Never reads buf[len] or beyond.
 */
long khttpd_parse_request(const char *buf, size_t len,
			  struct khttpd_request *req);

/*
 * The status to answer when a head is still incomplete but the receive
 * buffer holding it (of length len) is full: 414 if the request line itself
 * has not ended, 431 otherwise.
 */
int khttpd_parse_overflow_status(const char *buf, size_t len);

/*
 * Turn the path part of a request target into a path relative to the
 * document root: percent-decoded once, "." and ".." segments resolved,
 * repeated slashes collapsed, never climbing above the root. The result has
 * no leading or trailing '/'; it is empty for the root itself.
 *
 * Writes at most cap bytes to out (no NUL unless room remains; the caller
 * terminates). Returns the length written, or a negative HTTP status:
 * -400 for a malformed target (not starting with '/', bad %-escape,
 * encoded NUL or '/', control bytes), -404 for a path that would leave the
 * root, -414 when the result does not fit in cap.
 * *dir_slash is set when the target path ends in '/'.
 */
long khttpd_path_normalize(const char *path, size_t len, char *out,
			   size_t cap, int *dir_slash);

/* MIME type for a file name by its extension (case-insensitive). */
struct khttpd_str khttpd_mime_type(const char *name, size_t len);

/* Reason phrase for a status code ("Unknown" for codes it does not know). */
struct khttpd_str khttpd_status_reason(int status);

/* Format a Unix time as an IMF-fixdate (exactly 29 bytes, no NUL). */
#define KHTTPD_DATE_LEN 29
void khttpd_format_date(int64_t unix_time, char out[KHTTPD_DATE_LEN]);

/* Everything the response head depends on. */
struct khttpd_response {
	int status;
	int keep_alive;
	int version_minor;		/* of the request; 1 if unknown */
	int has_body_length;		/* emit Content-Length */
	uint64_t content_length;
	struct khttpd_str content_type;	/* len 0: no Content-Type */
	struct khttpd_str location;	/* len 0: no Location */
	struct khttpd_str allow;	/* len 0: no Allow */
	int64_t date;			/* Unix time for Date */
	int64_t last_modified;		/* < 0: no Last-Modified */
};

/*
 * Write the status line and header fields, ending with the empty line, to
 * buf. Returns the length, or -1 if it does not fit in cap (nothing
 * useful is left in buf then).
 */
long khttpd_response_head(char *buf, size_t cap,
			  const struct khttpd_response *resp);

/*
 * Write a complete error (or redirect) response, head and a short HTML
 * body, for resp->status. resp->content_length and content_type are set
 * by this function; with head_only the body is left out but
 * Content-Length still describes it (HEAD). Returns the length or -1.
 */
long khttpd_response_error(char *buf, size_t cap,
			   struct khttpd_response *resp, int head_only);

#ifdef __cplusplus
}
#endif

#endif /* KHTTPD_CORE_H */
