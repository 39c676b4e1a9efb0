// SPDX-License-Identifier: GPL-2.0
/*
 * Response heads, the small built-in error pages and chunk sizes. Output
 * goes through a bounded writer (util.h) that never stores past cap; a
 * head that does not fit is reported as -1 rather than truncated.
 *
 * Field order is fixed: Server, Date, Content-Type, Content-Length,
 * Last-Modified, Location, Allow, ETag, Accept-Ranges, Content-Range,
 * Content-Encoding, Vary, Transfer-Encoding, Connection.
 *
 * Statuses that never carry content (1xx, 204, 304) get none of the
 * fields that describe content: Content-Type, Content-Length,
 * Content-Range, Content-Encoding, Transfer-Encoding. A 304 keeps Date,
 * ETag, Last-Modified and Vary, which RFC 9110 15.4.5 asks for (a cache
 * updates its stored response from them).
 */
#include "khttpd/core.h"
#include "util.h"

namespace {

constexpr khttpd_str html_type = lit_str("text/html; charset=utf-8");

/* Responses that never carry content (RFC 9110 6.4.1). */
constexpr bool status_has_no_content(int status)
{
	return (status >= 100 && status < 200) || status == 204 ||
	       status == 304;
}

size_t decimal_len(uint64_t v)
{
	char tmp[20];
	return static_cast<size_t>(tmp + 20 - format_u64(v, tmp));
}

} /* namespace */

extern "C" struct khttpd_str khttpd_status_reason(int status)
{
	switch (status) {
	case 100: return lit_str("Continue");
	case 101: return lit_str("Switching Protocols");
	case 200: return lit_str("OK");
	case 201: return lit_str("Created");
	case 202: return lit_str("Accepted");
	case 204: return lit_str("No Content");
	case 206: return lit_str("Partial Content");
	case 301: return lit_str("Moved Permanently");
	case 302: return lit_str("Found");
	case 303: return lit_str("See Other");
	case 304: return lit_str("Not Modified");
	case 307: return lit_str("Temporary Redirect");
	case 308: return lit_str("Permanent Redirect");
	case 400: return lit_str("Bad Request");
	case 401: return lit_str("Unauthorized");
	case 403: return lit_str("Forbidden");
	case 404: return lit_str("Not Found");
	case 405: return lit_str("Method Not Allowed");
	case 406: return lit_str("Not Acceptable");
	case 408: return lit_str("Request Timeout");
	case 409: return lit_str("Conflict");
	case 410: return lit_str("Gone");
	case 411: return lit_str("Length Required");
	case 412: return lit_str("Precondition Failed");
	case 413: return lit_str("Content Too Large");
	case 414: return lit_str("URI Too Long");
	case 415: return lit_str("Unsupported Media Type");
	case 416: return lit_str("Range Not Satisfiable");
	case 417: return lit_str("Expectation Failed");
	case 426: return lit_str("Upgrade Required");
	case 429: return lit_str("Too Many Requests");
	case 431: return lit_str("Request Header Fields Too Large");
	case 500: return lit_str("Internal Server Error");
	case 501: return lit_str("Not Implemented");
	case 502: return lit_str("Bad Gateway");
	case 503: return lit_str("Service Unavailable");
	case 504: return lit_str("Gateway Timeout");
	case 505: return lit_str("HTTP Version Not Supported");
	default: return lit_str("Unknown");
	}
}

extern "C" long khttpd_response_head(char *buf, size_t cap,
				     const struct khttpd_response *resp)
{
	writer w(buf, cap, 0);
	const bool content = !status_has_no_content(resp->status);

	w.lit("HTTP/1.1 ");
	w.num(static_cast<uint64_t>(resp->status < 0 ? 0 : resp->status));
	w.lit(" ");
	w.put(khttpd_status_reason(resp->status));
	w.lit("\r\nServer: khttpd\r\nDate: ");
	w.put(khttpd_str{resp->date, KHTTPD_DATE_LEN});
	w.lit("\r\n");
	if (content && resp->content_type.len)
		w.field("Content-Type: ", resp->content_type);
	/* RFC 9112 6.2: never both Content-Length and Transfer-Encoding */
	if (content && resp->has_body_length && !resp->chunked) {
		w.lit("Content-Length: ");
		w.num(resp->content_length);
		w.lit("\r\n");
	}
	if (resp->last_modified >= 0) {
		w.lit("Last-Modified: ");
		w.date(resp->last_modified);
		w.lit("\r\n");
	}
	if (resp->location.len)
		w.field("Location: ", resp->location);
	if (resp->allow.len)
		w.field("Allow: ", resp->allow);
	if (resp->etag.len)
		w.field("ETag: ", resp->etag);
	if (resp->accept_ranges)
		w.lit("Accept-Ranges: bytes\r\n");
	if (content && resp->content_range) {
		w.lit("Content-Range: bytes ");
		if (resp->status == 416) {
			w.lit("*");
		} else {
			w.num(resp->range.first);
			w.lit("-");
			w.num(resp->range.last);
		}
		w.lit("/");
		w.num(resp->complete_length);
		w.lit("\r\n");
	}
	if (content && resp->content_encoding.len)
		w.field("Content-Encoding: ", resp->content_encoding);
	if (resp->vary_accept_encoding)
		w.lit("Vary: Accept-Encoding\r\n");
	if (content && resp->chunked)
		w.lit("Transfer-Encoding: chunked\r\n");
	if (!resp->keep_alive)
		w.lit("Connection: close\r\n");
	else if (resp->version_minor == 0)
		w.lit("Connection: keep-alive\r\n");
	w.lit("\r\n");
	return w.result();
}

extern "C" long khttpd_response_error(char *buf, size_t cap,
				      struct khttpd_response *resp,
				      int head_only)
{
	static constexpr char part1[] = "<!DOCTYPE html><html><head><title>";
	static constexpr char part2[] = "</title></head><body><h1>";
	static constexpr char part3[] = "</h1></body></html>\n";
	const int status = resp->status < 0 ? 0 : resp->status;
	const khttpd_str reason = khttpd_status_reason(status);
	const bool no_content = status_has_no_content(status);

	if ((status == 405 || status == 501) && resp->allow.len == 0)
		resp->allow = khttpd_allow;
	/*
	 * The page below is neither chunked nor encoded. A 416 keeps the
	 * caller's Content-Range ("bytes * /size"); on other error pages a
	 * Content-Range or ETag describing the file would be wrong. A 304
	 * keeps its ETag (RFC 9110 15.4.5).
	 */
	resp->chunked = 0;
	resp->content_encoding = make_str(nullptr, 0);
	if (status != 416)
		resp->content_range = 0;
	if (!no_content)
		resp->etag = make_str(nullptr, 0);
	if (no_content) {
		resp->content_type = make_str(nullptr, 0);
		resp->has_body_length = 0;
		resp->content_length = 0;
	} else {
		/* "<code> <reason>" appears twice */
		const size_t title = decimal_len(static_cast<uint64_t>(status)) +
				     1 + reason.len;
		resp->content_type = html_type;
		resp->has_body_length = 1;
		resp->content_length = lit_len(part1) + lit_len(part2) +
				       lit_len(part3) + 2 * title;
	}

	long n = khttpd_response_head(buf, cap, resp);
	/*
	 * The page is a courtesy (a redirect needs none). When a long Location
	 * leaves it no room, the head goes alone and says so; decided from the
	 * sizes, not from head_only, so that HEAD gets the head GET gets.
	 */
	if (!no_content &&
	    (n < 0 || static_cast<size_t>(n) + resp->content_length > cap)) {
		resp->content_type = make_str(nullptr, 0);
		resp->content_length = 0;
		return khttpd_response_head(buf, cap, resp);
	}
	if (n < 0 || no_content || head_only)
		return n;

	writer w(buf, cap, static_cast<size_t>(n));
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			w.lit(part1);
		else
			w.lit(part2);
		w.num(static_cast<uint64_t>(status));
		w.lit(" ");
		w.put(reason);
	}
	w.lit(part3);
	return w.result();
}

extern "C" size_t khttpd_chunk_head(uint64_t len,
				    char out[KHTTPD_CHUNK_HEAD_MAX])
{
	writer w(out, KHTTPD_CHUNK_HEAD_MAX, 0);

	w.hex(len);
	w.lit("\r\n");
	return w.pos();	/* at most 16 + 2 bytes: always fits */
}
