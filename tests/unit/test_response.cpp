// SPDX-License-Identifier: GPL-2.0
#include <gtest/gtest.h>

#include <string>

#include "helpers.h"

namespace {

std::string Head(const khttpd_response &r)
{
	char buf[1024];
	long n = khttpd_response_head(buf, sizeof(buf), &r);
	EXPECT_GT(n, 0);
	return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TEST(Response, Reasons)
{
	struct {
		int code;
		const char *reason;
	} cases[] = {
		{100, "Continue"}, {200, "OK"}, {204, "No Content"},
		{206, "Partial Content"}, {301, "Moved Permanently"},
		{302, "Found"}, {304, "Not Modified"}, {400, "Bad Request"},
		{403, "Forbidden"}, {404, "Not Found"},
		{405, "Method Not Allowed"}, {408, "Request Timeout"},
		{411, "Length Required"}, {412, "Precondition Failed"},
		{413, "Content Too Large"}, {414, "URI Too Long"},
		{416, "Range Not Satisfiable"}, {417, "Expectation Failed"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"}, {501, "Not Implemented"},
		{503, "Service Unavailable"},
		{505, "HTTP Version Not Supported"}, {0, "Unknown"},
		{999, "Unknown"}, {-1, "Unknown"},
	};
	for (auto &c : cases)
		EXPECT_EQ(S(khttpd_status_reason(c.code)), c.reason) << c.code;
}

TEST(Response, Typical200ExactBytes)
{
	khttpd_response r = Base(200);
	r.has_body_length = 1;
	r.content_length = 1234;
	r.content_type = Str("text/html; charset=utf-8");
	r.last_modified = 0;
	EXPECT_EQ(Head(r),
		  "HTTP/1.1 200 OK\r\n"
		  "Server: khttpd\r\n"
		  "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "Content-Length: 1234\r\n"
		  "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
		  "\r\n");
}

TEST(Response, ConnectionHeader)
{
	khttpd_response r = Base(204);
	const std::string prefix = "HTTP/1.1 204 No Content\r\nServer: khttpd\r\n"
				   "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
	EXPECT_EQ(Head(r), prefix + "\r\n");
	r.keep_alive = 0;
	EXPECT_EQ(Head(r), prefix + "Connection: close\r\n\r\n");
	r.version_minor = 0;
	EXPECT_EQ(Head(r), prefix + "Connection: close\r\n\r\n");
	r.keep_alive = 1;
	EXPECT_EQ(Head(r), prefix + "Connection: keep-alive\r\n\r\n");
}

TEST(Response, AllFieldsInOrder)
{
	khttpd_response r = Base(301);
	r.has_body_length = 1;
	r.content_length = 0;
	r.content_type = Str("text/plain");
	r.location = Str("/dir/");
	r.allow = Str("GET, HEAD");
	r.last_modified = 2147483648;
	r.keep_alive = 0;
	r.content_length = UINT64_MAX;
	EXPECT_EQ(Head(r),
		  "HTTP/1.1 301 Moved Permanently\r\n"
		  "Server: khttpd\r\n"
		  "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		  "Content-Type: text/plain\r\n"
		  "Content-Length: 18446744073709551615\r\n"
		  "Last-Modified: Tue, 19 Jan 2038 03:14:08 GMT\r\n"
		  "Location: /dir/\r\n"
		  "Allow: GET, HEAD\r\n"
		  "Connection: close\r\n"
		  "\r\n");
}

// Every cap below the needed size fails, with an exactly-sized buffer, and
// nothing is written past cap.
TEST(Response, HeadTooSmall)
{
	khttpd_response r = Base(200);
	r.has_body_length = 1;
	r.content_length = 99;
	r.content_type = Str("image/png");
	r.location = Str("/x");
	r.allow = Str("GET");
	r.last_modified = 5;
	r.keep_alive = 0;
	const std::string want = Head(r);
	ASSERT_FALSE(want.empty());
	for (size_t cap = 0; cap < want.size(); cap++) {
		ExactBuf b(cap);
		EXPECT_EQ(khttpd_response_head(b.data(), cap, &r), -1) << cap;
	}
	ExactBuf b(want.size());
	ASSERT_EQ(khttpd_response_head(b.data(), want.size(), &r),
		  static_cast<long>(want.size()));
	EXPECT_EQ(b.str(want.size()), want);
}

TEST(Response, Error404)
{
	khttpd_response r = Base(404);
	char buf[1024];
	long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
	ASSERT_GT(n, 0);
	const std::string body =
		"<!DOCTYPE html><html><head><title>404 Not Found</title>"
		"</head><body><h1>404 Not Found</h1></body></html>\n";
	EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
		  "HTTP/1.1 404 Not Found\r\n"
		  "Server: khttpd\r\n"
		  "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "Content-Length: " + std::to_string(body.size()) + "\r\n"
		  "\r\n" + body);
	EXPECT_EQ(r.content_length, body.size());
	EXPECT_EQ(r.has_body_length, 1);
	EXPECT_EQ(S(r.content_type), "text/html; charset=utf-8");

	// HEAD: same head, no body.
	khttpd_response h = Base(404);
	long hn = khttpd_response_error(buf, sizeof(buf), &h, 1);
	EXPECT_EQ(hn, n - static_cast<long>(body.size()));
	EXPECT_EQ(h.content_length, body.size());
}

TEST(Response, ErrorAllowAndLocation)
{
	char buf[1024];
	for (int code : {405, 501}) {
		khttpd_response r = Base(code);
		long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
		ASSERT_GT(n, 0);
		std::string s(buf, static_cast<size_t>(n));
		EXPECT_NE(s.find("\r\nAllow: GET, HEAD, OPTIONS\r\n"),
			  std::string::npos) << s;
	}
	khttpd_response r = Base(405);
	r.allow = Str("GET");
	long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
	ASSERT_GT(n, 0);
	EXPECT_NE(std::string(buf, static_cast<size_t>(n)).find("\r\nAllow: GET\r\n"),
		  std::string::npos);

	r = Base(404);
	n = khttpd_response_error(buf, sizeof(buf), &r, 0);
	EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).find("Allow:"),
		  std::string::npos);

	r = Base(301);
	r.location = Str("/docs/");
	n = khttpd_response_error(buf, sizeof(buf), &r, 0);
	ASSERT_GT(n, 0);
	std::string s(buf, static_cast<size_t>(n));
	EXPECT_NE(s.find("\r\nLocation: /docs/\r\n"), std::string::npos);
	EXPECT_NE(s.find("<title>301 Moved Permanently</title>"),
		  std::string::npos);
}

TEST(Response, ErrorBodyMatchesContentLength)
{
	char buf[2048];
	for (int code : {400, 403, 404, 405, 408, 411, 413, 414, 416, 417, 431,
			 500, 501, 503, 505, 299, 1000}) {
		khttpd_response r = Base(code);
		long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
		ASSERT_GT(n, 0) << code;
		std::string s(buf, static_cast<size_t>(n));
		size_t sep = s.find("\r\n\r\n");
		ASSERT_NE(sep, std::string::npos);
		EXPECT_EQ(s.size() - sep - 4, r.content_length) << code;
		EXPECT_NE(s.find("Content-Length: " +
				 std::to_string(r.content_length) + "\r\n"),
			  std::string::npos);
	}
}

TEST(Response, ErrorNoContentStatuses)
{
	char buf[1024];
	for (int code : {100, 204, 304}) {
		khttpd_response r = Base(code);
		r.content_type = Str("text/plain");
		long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
		ASSERT_GT(n, 0);
		std::string s(buf, static_cast<size_t>(n));
		EXPECT_EQ(s.find("Content-"), std::string::npos) << s;
		EXPECT_EQ(s.substr(s.size() - 4), "\r\n\r\n");
	}
}

/*
 * The page is a courtesy. With room for the head but not for the page (a
 * long Location), the head goes alone, "Content-Length: 0", and HEAD gets
 * that same head, so that both answers agree; with no room for even that,
 * -1. Each cap is an exact-size buffer, so a byte written past it shows.
 */
TEST(Response, ErrorWithoutRoomForItsPage)
{
	auto make = [] {
		khttpd_response r = Base(503);
		r.keep_alive = 0;
		return r;
	};
	char big[1024];
	khttpd_response r = make();
	const long full = khttpd_response_error(big, sizeof(big), &r, 0);
	ASSERT_GT(full, 0);
	const std::string full_bytes(big, static_cast<size_t>(full));
	const std::string page_len = std::to_string(r.content_length);
	r = make();
	const long head = khttpd_response_error(big, sizeof(big), &r, 1);
	ASSERT_EQ(static_cast<size_t>(head), full - r.content_length);
	r = make();
	const long bare = khttpd_response_error(big, static_cast<size_t>(full - 1),
						&r, 0);
	ASSERT_GT(bare, 0);
	const std::string bare_head(big, static_cast<size_t>(bare));
	EXPECT_NE(bare_head.find("\r\nContent-Length: 0\r\n"), std::string::npos)
		<< bare_head;
	EXPECT_EQ(bare_head.find("Content-Type:"), std::string::npos);
	EXPECT_EQ(bare_head.substr(bare_head.size() - 4), "\r\n\r\n");
	EXPECT_EQ(r.content_length, 0u);

	for (int head_only = 0; head_only < 2; head_only++) {
		for (long cap = 0; cap <= full; cap++) {
			khttpd_response r2 = make();
			ExactBuf b(static_cast<size_t>(cap));
			long n = khttpd_response_error(b.data(),
						       static_cast<size_t>(cap),
						       &r2, head_only);
			if (cap == full) {
				ASSERT_EQ(n, head_only ? head : full);
				EXPECT_EQ(std::to_string(r2.content_length), page_len);
				// In an exact buffer, the bytes a big one gets.
				EXPECT_EQ(b.str(static_cast<size_t>(n)),
					  full_bytes.substr(0, static_cast<size_t>(n)));
			} else if (cap >= bare) {
				ASSERT_EQ(n, bare) << cap << " " << head_only;
				EXPECT_EQ(b.str(static_cast<size_t>(n)), bare_head);
			} else {
				EXPECT_EQ(n, -1) << cap << " " << head_only;
			}
		}
	}
}

} // namespace

namespace {

TEST(Response, PreformattedDateIsUsedVerbatim)
{
	khttpd_response r = Base(204);
	const char date[] = "Mon, 01 Jan 2001 00:00:00 GMT";
	static_assert(sizeof(date) - 1 == KHTTPD_DATE_LEN);
	r.date = date;
	std::string h = Head(r);
	EXPECT_NE(h.find("\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"),
		  std::string::npos) << h;
}

} // namespace
