// SPDX-License-Identifier: GPL-2.0
// Response heads with validators, ranges, encodings and chunking.
#include <gtest/gtest.h>

#include <string>

#include "helpers.h"

namespace {

// The head, checked to fit an exactly-sized buffer and not one byte less.
std::string Head(const khttpd_response &r)
{
	char big[2048];
	long n = khttpd_response_head(big, sizeof(big), &r);
	EXPECT_GT(n, 0);
	if (n <= 0)
		return std::string();
	const size_t len = static_cast<size_t>(n);
	ExactBuf exact(len);
	EXPECT_EQ(khttpd_response_head(exact.data(), len, &r), n);
	EXPECT_EQ(exact.str(len), std::string(big, len));
	ExactBuf small(len - 1);
	EXPECT_EQ(khttpd_response_head(small.data(), len - 1, &r), -1);
	return std::string(big, len);
}

const char kDate[] = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

TEST(ResponseExt, Full200AllNewFieldsInOrder)
{
	khttpd_response r = Base(200);
	r.has_body_length = 1;
	r.content_length = 1000;
	r.content_type = Str("text/css");
	r.last_modified = 0;
	r.etag = Str("\"1-3e8-0\"");
	r.accept_ranges = 1;
	r.content_encoding = Str("gzip");
	r.vary_accept_encoding = 1;
	r.keep_alive = 0;
	EXPECT_EQ(Head(r), std::string("HTTP/1.1 200 OK\r\nServer: khttpd\r\n") +
		  kDate +
		  "Content-Type: text/css\r\n"
		  "Content-Length: 1000\r\n"
		  "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
		  "ETag: \"1-3e8-0\"\r\n"
		  "Accept-Ranges: bytes\r\n"
		  "Content-Encoding: gzip\r\n"
		  "Vary: Accept-Encoding\r\n"
		  "Connection: close\r\n"
		  "\r\n");
}

TEST(ResponseExt, Partial206)
{
	khttpd_response r = Base(206);
	r.has_body_length = 1;
	r.content_length = 500;
	r.content_type = Str("video/mp4");
	r.last_modified = 784111777;
	r.etag = Str("\"abc\"");
	r.accept_ranges = 1;
	r.content_range = 1;
	r.range = {500, 999};
	r.complete_length = 1000;
	EXPECT_EQ(Head(r),
		  std::string("HTTP/1.1 206 Partial Content\r\nServer: khttpd\r\n") +
		  kDate +
		  "Content-Type: video/mp4\r\n"
		  "Content-Length: 500\r\n"
		  "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		  "ETag: \"abc\"\r\n"
		  "Accept-Ranges: bytes\r\n"
		  "Content-Range: bytes 500-999/1000\r\n"
		  "\r\n");

	r.range = {0, UINT64_MAX - 1};
	r.complete_length = UINT64_MAX;
	r.content_length = UINT64_MAX;
	r.version_minor = 0;
	EXPECT_NE(Head(r).find("\r\nContent-Range: bytes 0-18446744073709551614/"
			       "18446744073709551615\r\nConnection: keep-alive\r\n"),
		  std::string::npos);
}

TEST(ResponseExt, Unsatisfiable416Head)
{
	khttpd_response r = Base(416);
	r.content_range = 1;
	r.range = {7, 8};	// ignored for 416
	r.complete_length = 1000;
	r.accept_ranges = 1;
	EXPECT_EQ(Head(r),
		  std::string("HTTP/1.1 416 Range Not Satisfiable\r\n"
			      "Server: khttpd\r\n") +
		  kDate +
		  "Accept-Ranges: bytes\r\n"
		  "Content-Range: bytes */1000\r\n"
		  "\r\n");
}

// khttpd_response_error() keeps the caller's Content-Range for 416.
TEST(ResponseExt, Error416KeepsContentRange)
{
	khttpd_response r = Base(416);
	r.content_range = 1;
	r.complete_length = 0;
	r.etag = Str("\"abc\"");
	r.chunked = 1;
	r.content_encoding = Str("gzip");
	char buf[1024];
	long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
	ASSERT_GT(n, 0);
	const std::string body =
		"<!DOCTYPE html><html><head><title>416 Range Not Satisfiable"
		"</title></head><body><h1>416 Range Not Satisfiable</h1>"
		"</body></html>\n";
	EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
		  std::string("HTTP/1.1 416 Range Not Satisfiable\r\n"
			      "Server: khttpd\r\n") +
		  kDate +
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "Content-Length: " + std::to_string(body.size()) + "\r\n"
		  "Content-Range: bytes */0\r\n"
		  "\r\n" + body);
	EXPECT_EQ(r.content_range, 1);
	EXPECT_EQ(r.chunked, 0);
	EXPECT_EQ(r.content_encoding.len, 0u);
}

// Other error pages drop what describes the file, not the page.
TEST(ResponseExt, ErrorDropsFileFields)
{
	for (int code : {404, 412, 500}) {
		khttpd_response r = Base(code);
		r.content_range = 1;
		r.range = {0, 1};
		r.complete_length = 10;
		r.etag = Str("\"abc\"");
		r.chunked = 1;
		r.content_encoding = Str("gzip");
		char buf[1024];
		long n = khttpd_response_error(buf, sizeof(buf), &r, 0);
		ASSERT_GT(n, 0);
		const std::string s(buf, static_cast<size_t>(n));
		EXPECT_EQ(s.find("Content-Range"), std::string::npos) << s;
		EXPECT_EQ(s.find("ETag"), std::string::npos) << s;
		EXPECT_EQ(s.find("Transfer-Encoding"), std::string::npos) << s;
		EXPECT_EQ(s.find("Content-Encoding"), std::string::npos) << s;
		EXPECT_NE(s.find("Content-Length: "), std::string::npos) << s;
	}
}

// RFC 9110 15.4.5: a 304 keeps Date, ETag, Last-Modified, Vary and drops
// the content fields, even when the caller leaves them set.
TEST(ResponseExt, NotModified304)
{
	khttpd_response r = Base(304);
	r.has_body_length = 0;
	r.content_length = 1000;
	r.content_type = Str("text/plain");
	r.last_modified = 784111777;
	r.etag = Str("\"abc\"");
	r.accept_ranges = 1;
	r.vary_accept_encoding = 1;
	const std::string want =
		std::string("HTTP/1.1 304 Not Modified\r\nServer: khttpd\r\n") +
		kDate +
		"Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		"ETag: \"abc\"\r\n"
		"Accept-Ranges: bytes\r\n"
		"Vary: Accept-Encoding\r\n"
		"\r\n";
	EXPECT_EQ(Head(r), want);

	// Even with the content fields set, they stay out.
	r.has_body_length = 1;
	r.chunked = 1;
	r.content_encoding = Str("gzip");
	r.content_range = 1;
	EXPECT_EQ(Head(r), want);

	// Through khttpd_response_error(): the same, ETag kept.
	khttpd_response e = r;
	char buf[1024];
	long n = khttpd_response_error(buf, sizeof(buf), &e, 0);
	EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), want);
}

TEST(ResponseExt, ChunkedNeverWithContentLength)
{
	khttpd_response r = Base(200);
	r.content_type = Str("text/html; charset=utf-8");
	r.has_body_length = 1;	// the caller forgot to clear it
	r.content_length = 5;
	r.chunked = 1;
	EXPECT_EQ(Head(r), std::string("HTTP/1.1 200 OK\r\nServer: khttpd\r\n") +
		  kDate +
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "Transfer-Encoding: chunked\r\n"
		  "\r\n");
	r.has_body_length = 0;
	r.keep_alive = 0;
	EXPECT_EQ(Head(r), std::string("HTTP/1.1 200 OK\r\nServer: khttpd\r\n") +
		  kDate +
		  "Content-Type: text/html; charset=utf-8\r\n"
		  "Transfer-Encoding: chunked\r\n"
		  "Connection: close\r\n"
		  "\r\n");
}

TEST(ResponseExt, NoContentStatusesDropContentFields)
{
	for (int code : {100, 204}) {
		khttpd_response r = Base(code);
		r.content_type = Str("text/plain");
		r.has_body_length = 1;
		r.chunked = 1;
		const std::string s = Head(r);
		EXPECT_EQ(s.find("Content-"), std::string::npos) << s;
		EXPECT_EQ(s.find("Transfer-Encoding"), std::string::npos) << s;
	}
}

std::string Chunk(uint64_t len)
{
	ExactBuf b(static_cast<size_t>(KHTTPD_CHUNK_HEAD_MAX));
	size_t n = khttpd_chunk_head(len, b.data());
	EXPECT_LE(n, static_cast<size_t>(KHTTPD_CHUNK_HEAD_MAX));
	return b.str(n);
}

TEST(ResponseExt, ChunkHead)
{
	const struct {
		uint64_t len;
		const char *want;
	} cases[] = {
		{0, "0\r\n"},
		{1, "1\r\n"},
		{9, "9\r\n"},
		{10, "a\r\n"},
		{15, "f\r\n"},
		{16, "10\r\n"},
		{255, "ff\r\n"},
		{256, "100\r\n"},
		{4096, "1000\r\n"},
		{0xdeadbeef, "deadbeef\r\n"},
		{0x100000000, "100000000\r\n"},
		{UINT64_MAX, "ffffffffffffffff\r\n"},
	};
	for (const auto &c : cases)
		EXPECT_EQ(Chunk(c.len), c.want) << c.len;
	EXPECT_EQ(Chunk(UINT64_MAX).size(),
		  static_cast<size_t>(KHTTPD_CHUNK_HEAD_MAX));
}

} // namespace
