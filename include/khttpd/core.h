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
	struct khttpd_str host;
	unsigned int num_headers;

	/* Field values (trimmed) for conditional and range requests. */
	struct khttpd_str if_match;
	struct khttpd_str if_none_match;
	struct khttpd_str if_modified_since;
	struct khttpd_str if_unmodified_since;
	struct khttpd_str range;	/* len 0 also when sent twice */
	struct khttpd_str if_range;
	int accept_gzip;		/* Accept-Encoding allows gzip */
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

/*
 * Parse an HTTP-date: IMF-fixdate and the obsolete RFC 850 and asctime()
 * forms. Returns 0 and stores the Unix time, or -1.
 */
int khttpd_parse_date(const char *s, size_t len, int64_t *out);

/* What validators and ranges are computed from. */
struct khttpd_file_meta {
	uint64_t ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/*
 * A strong entity tag derived from inode, size and mtime (with the
 * quotes). Returns its length; it always fits KHTTPD_ETAG_MAX.
 */
#define KHTTPD_ETAG_MAX 64
size_t khttpd_etag_format(const struct khttpd_file_meta *meta,
			  char out[KHTTPD_ETAG_MAX]);

/*
 * Evaluate the preconditions of a GET or HEAD in RFC 9110 section 13.2.2
 * order against the representation's etag and last_modified: If-Match,
 * then If-Unmodified-Since (only without If-Match) -> 412 when they fail;
 * If-None-Match (weak comparison, lists, "*"), then If-Modified-Since
 * (only without If-None-Match) -> 304 when they fail. Returns 412, 304,
 * or 200 to go on. Unparseable dates are ignored, as the RFC says.
 */
int khttpd_conditional(const struct khttpd_request *req,
		       struct khttpd_str etag, int64_t last_modified);

/* One byte range, both ends inclusive. */
struct khttpd_range {
	uint64_t first;
	uint64_t last;
};

/*
 * Evaluate Range (bytes=a-b, a-, -n) together with If-Range for a
 * representation of size bytes. Returns 206 with *range set for one
 * satisfiable range; 416 when no range is satisfiable; 200 when the whole
 * representation is to be sent: no Range, a Range that is not
 * bytes=..., invalid syntax, an If-Range that does not match (strong
 * comparison; a date must equal last_modified exactly, and never matches
 * when last_modified is -1: none, or too weak to compare), or more than one
 * range (khttpd answers multiple ranges with the whole file).
 */
int khttpd_range_evaluate(const struct khttpd_request *req, uint64_t size,
			  struct khttpd_str etag, int64_t last_modified,
			  struct khttpd_range *range);

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
	/*
	 * The Date, already formatted (KHTTPD_DATE_LEN bytes): servers
	 * format it once a second, not once a response.
	 */
	const char *date;
	int64_t last_modified;		/* < 0: no Last-Modified */
	struct khttpd_str etag;		/* len 0: no ETag */
	int accept_ranges;		/* Accept-Ranges: bytes */
	/*
	 * 206: Content-Range: bytes first-last/complete_length.
	 * 416: Content-Range: bytes * /complete_length.
	 */
	int content_range;
	struct khttpd_range range;
	uint64_t complete_length;
	struct khttpd_str content_encoding;	/* len 0: none */
	int vary_accept_encoding;	/* Vary: Accept-Encoding */
	int chunked;			/* Transfer-Encoding: chunked */
};

/*
 * Write the status line and header fields, ending with the empty line, to
 * buf. Returns the length, or -1 if it does not fit in cap (nothing
 * useful is left in buf then). Never Content-Length with chunked; for
 * 1xx, 204 and 304 none of the content fields (Content-Type, -Length,
 * -Range, -Encoding, Transfer-Encoding), whatever resp says.
 */
long khttpd_response_head(char *buf, size_t cap,
			  const struct khttpd_response *resp);

/*
 * Write a complete error (or redirect) response, head and a short HTML
 * body, for resp->status. resp->content_length and content_type are set
 * by this function; with head_only the body is left out but
 * Content-Length still describes it (HEAD). The page is neither chunked
 * nor encoded (chunked, content_encoding cleared), and etag and, except
 * for 416, content_range are cleared for statuses with a body. When the
 * page does not fit in cap (a long Location) the head goes without it,
 * with "Content-Length: 0" and no Content-Type, for HEAD too. Returns the
 * length or -1.
 */
long khttpd_response_error(char *buf, size_t cap,
			   struct khttpd_response *resp, int head_only);

/* Chunked transfer coding (for streamed directory listings). */
#define KHTTPD_CHUNK_HEAD_MAX 18	/* 16 hex digits + CRLF */
/* Write "<hex len>\r\n" to out; returns its length. */
size_t khttpd_chunk_head(uint64_t len, char out[KHTTPD_CHUNK_HEAD_MAX]);
/* The chunk trailer is "\r\n"; the last chunk is "0\r\n\r\n". */

/* One directory entry as the listing shows it. */
struct khttpd_listing_entry {
	struct khttpd_str name;		/* raw bytes, as on disk */
	int is_dir;
	uint64_t size;
	int64_t mtime;
};

/*
 * An HTML5 directory listing in three parts, each written into buf
 * (never past cap). They return the length written, or -1 when it does
 * not fit (the caller flushes buf and retries in an empty one; an entry
 * always fits in KHTTPD_LISTING_ENTRY_MAX bytes).
 *
 * dir is the decoded path of the directory ("/" or "/a/b/"), shown
 * HTML-escaped in the title and heading. Entries show the name
 * HTML-escaped (with '/' appended for directories), link to it
 * percent-encoded, and give size and modification time. The parent link
 * is left out at the root. An entry whose name holds a control byte is
 * left out (returns 0): no request path can name it.
 */
#define KHTTPD_LISTING_ENTRY_MAX 3072
long khttpd_listing_begin(char *buf, size_t cap, struct khttpd_str dir,
			  int at_root);
long khttpd_listing_entry(char *buf, size_t cap,
			  const struct khttpd_listing_entry *entry);
long khttpd_listing_end(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* KHTTPD_CORE_H */
