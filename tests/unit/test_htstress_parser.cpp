// SPDX-License-Identifier: GPL-2.0
// Unit tests for htstress's incremental response parser.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../tools/htstress/response_parser.h"

using htstress::ResponseParser;

namespace {

struct Outcome {
	ResponseParser::Result res;
	size_t used; // total bytes of the input consumed
};

// Feeds s cut at the given offsets, each piece in an exact-size heap copy
// so ASan catches a read past any piece. Stops at the first non-kMore.
Outcome Feed(ResponseParser &rp, const std::string &s,
	     const std::vector<size_t> &cuts)
{
	size_t pos = 0, total = 0;
	std::vector<size_t> ends = cuts;
	ends.push_back(s.size());
	for (size_t end : ends) {
		if (end <= pos)
			continue;
		size_t n = end - pos;
		std::unique_ptr<char[]> piece(new char[n]);
		std::memcpy(piece.get(), s.data() + pos, n);
		size_t used = 0;
		auto r = rp.feed(piece.get(), n, &used);
		total += used;
		if (r != ResponseParser::kMore)
			return {r, total};
		EXPECT_EQ(used, n);
		pos = end;
	}
	return {ResponseParser::kMore, total};
}

Outcome FeedWhole(ResponseParser &rp, const std::string &s)
{
	return Feed(rp, s, {});
}

// The same result must come out whatever the read boundaries are: every
// single split point, and one byte at a time.
void ExpectAllSplits(const std::string &s, ResponseParser::Result want,
		     size_t want_used, int status)
{
	auto rp = std::make_unique<ResponseParser>();
	for (size_t cut = 0; cut <= s.size(); cut++) {
		rp->reset();
		Outcome o = Feed(*rp, s, {cut});
		ASSERT_EQ(o.res, want) << "split at " << cut;
		if (want == ResponseParser::kDone) {
			ASSERT_EQ(o.used, want_used) << "split at " << cut;
			ASSERT_EQ(rp->status(), status) << "split at " << cut;
		}
	}
	std::vector<size_t> bytes;
	for (size_t i = 1; i < s.size(); i++)
		bytes.push_back(i);
	rp->reset();
	Outcome o = Feed(*rp, s, bytes);
	ASSERT_EQ(o.res, want) << "byte by byte";
	if (want == ResponseParser::kDone) {
		ASSERT_EQ(o.used, want_used) << "byte by byte";
	}
}

TEST(HtstressParser, ContentLength)
{
	std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 200);
	ResponseParser rp;
	FeedWhole(rp, r);
	EXPECT_TRUE(rp.keep_alive());
	EXPECT_FALSE(rp.until_close());
}

TEST(HtstressParser, ZeroLengthAndNoBodyStatuses)
{
	for (const char *s : {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			      "HTTP/1.1 204 No Content\r\n\r\n",
			      "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"}) {
		std::string r = s;
		ResponseParser rp;
		Outcome o = FeedWhole(rp, r);
		EXPECT_EQ(o.res, ResponseParser::kDone) << s;
		EXPECT_EQ(o.used, r.size()) << s;
	}
}

TEST(HtstressParser, Chunked)
{
	std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5;name=value\r\nhello\r\n"
			"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			"0\r\nX-Trailer: 1\r\n\r\n";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 200);
}

TEST(HtstressParser, ChunkedWinsOverLength)
{
	std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			"transfer-encoding: gzip, Chunked\r\n\r\n"
			"3\r\nabc\r\n0\r\n\r\n";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 200);
}

TEST(HtstressParser, BareLineFeeds)
{
	std::string r = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 200);
	std::string c = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
			"2\nok\n0\n\n";
	ExpectAllSplits(c, ResponseParser::kDone, c.size(), 200);
}

TEST(HtstressParser, LargeHeadAcrossReads)
{
	std::string r = "HTTP/1.1 404 Not Found\r\nX-Pad: " +
			std::string(3000, 'p') +
			"\r\nContent-Length: 3\r\n\r\nabc";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 404);
}

TEST(HtstressParser, HeadTooLarge)
{
	std::string r = "HTTP/1.1 200 OK\r\nX-Pad: " +
			std::string(ResponseParser::kMaxHead, 'p') + "\r\n\r\n";
	ResponseParser rp;
	EXPECT_EQ(FeedWhole(rp, r).res, ResponseParser::kError);
	rp.reset();
	EXPECT_EQ(Feed(rp, r, {100, 5000}).res, ResponseParser::kError);
}

TEST(HtstressParser, InterimResponseSkipped)
{
	std::string r = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	ExpectAllSplits(r, ResponseParser::kDone, r.size(), 201);
}

TEST(HtstressParser, BytesAfterResponseNotConsumed)
{
	std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
	ResponseParser rp;
	Outcome o = FeedWhole(rp, r);
	EXPECT_EQ(o.res, ResponseParser::kDone);
	EXPECT_EQ(o.used, r.size() - 5);
}

TEST(HtstressParser, KeepAliveRules)
{
	struct {
		const char *head;
		bool keep_alive;
	} cases[] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		 false},
		{"HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n",
		 false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
		 true},
		// A body delimited by the close never allows reuse.
		{"HTTP/1.1 200 OK\r\n\r\n", false},
		{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false},
	};
	for (const auto &c : cases) {
		ResponseParser rp;
		FeedWhole(rp, c.head);
		EXPECT_EQ(rp.keep_alive(), c.keep_alive) << c.head;
	}
}

TEST(HtstressParser, UntilClose)
{
	ResponseParser rp;
	Outcome o = FeedWhole(rp, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome body");
	EXPECT_EQ(o.res, ResponseParser::kMore);
	EXPECT_TRUE(rp.until_close());
	EXPECT_EQ(rp.finish(), ResponseParser::kDone);
	EXPECT_EQ(rp.status(), 200);
}

TEST(HtstressParser, ClosedEarly)
{
	ResponseParser rp;
	EXPECT_FALSE(rp.started());
	EXPECT_EQ(rp.finish(), ResponseParser::kError);
	EXPECT_STREQ(rp.error(), "connection closed before response");

	rp.reset();
	FeedWhole(rp, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	EXPECT_TRUE(rp.started());
	EXPECT_EQ(rp.finish(), ResponseParser::kError);
	EXPECT_STREQ(rp.error(), "connection closed mid-response");

	rp.reset();
	FeedWhole(rp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
	EXPECT_EQ(rp.finish(), ResponseParser::kError);

	rp.reset();
	FeedWhole(rp, "HTTP/1.1 200 OK\r\nContent-Le");
	EXPECT_EQ(rp.finish(), ResponseParser::kError);
}

TEST(HtstressParser, HugeBodyCountedNotBuffered)
{
	ResponseParser rp;
	Outcome o = FeedWhole(
		rp, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n");
	EXPECT_EQ(o.res, ResponseParser::kMore);
	std::string chunk(1 << 16, 'x');
	size_t used;
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(rp.feed(chunk.data(), chunk.size(), &used),
			  ResponseParser::kMore);
	EXPECT_EQ(rp.finish(), ResponseParser::kError);
}

TEST(HtstressParser, Malformed)
{
	for (const char *s : {
		     "FOO BAR\r\n\r\n",
		     "HTTP/1.1 20 OK\r\n\r\n",
		     "HTTP/1.1 2000 OK\r\n\r\n",
		     "HTTP/1.1 600 Huh\r\n\r\n",
		     "HTTP/x.1 200 OK\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
		     "HTTP/1.1 101 Switching Protocols\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "1234567890abcdef0\r\n",
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "2\r\nokX\r\n",
	     }) {
		ResponseParser rp;
		Outcome o = FeedWhole(rp, s);
		EXPECT_EQ(o.res, ResponseParser::kError) << s;
		EXPECT_NE(rp.error(), nullptr) << s;
	}
}

TEST(HtstressParser, SameContentLengthTwiceIsFine)
{
	ResponseParser rp;
	Outcome o = FeedWhole(rp, "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n"
				  "content-length: 2\r\n\r\nno");
	EXPECT_EQ(o.res, ResponseParser::kDone);
	EXPECT_EQ(rp.status(), 500);
}

TEST(HtstressParser, ResetBetweenResponses)
{
	ResponseParser rp;
	std::string a = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
	std::string b = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n"
			"\r\n0\r\n\r\n";
	for (int i = 0; i < 3; i++) {
		rp.reset();
		EXPECT_EQ(Feed(rp, a, {20}).res, ResponseParser::kDone);
		EXPECT_EQ(rp.status(), 200);
		rp.reset();
		EXPECT_EQ(Feed(rp, b, {10, 30}).res, ResponseParser::kDone);
		EXPECT_EQ(rp.status(), 404);
	}
}

} // namespace
