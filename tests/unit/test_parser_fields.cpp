// SPDX-License-Identifier: GPL-2.0
// The conditional, range and Accept-Encoding fields of the parser.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "helpers.h"

namespace {

std::string Req(const std::string &fields)
{
	return "GET /f HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n";
}

struct Parsed {
	long rc;
	khttpd_request req;
	std::unique_ptr<ExactBuf> buf;
};

Parsed Parse(const std::string &s)
{
	Parsed p;
	p.buf = std::make_unique<ExactBuf>(s);
	p.rc = khttpd_parse_request(p.buf->data(), p.buf->size(), &p.req);
	return p;
}

struct FieldCase {
	const char *name;
	std::string fields;
	const char *if_match;
	const char *if_none_match;
	const char *if_modified_since;
	const char *if_unmodified_since;
	const char *range;
	const char *if_range;
};

const std::vector<FieldCase> &FieldCases()
{
	static const std::vector<FieldCase> cases = {
		{"none", "", "", "", "", "", "", ""},
		{"all",
		 "If-Match: \"a\"\r\nIf-None-Match: W/\"b\", \"c\"\r\n"
		 "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		 "If-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"
		 "Range: bytes=0-99\r\nIf-Range: \"a\"\r\n",
		 "\"a\"", "W/\"b\", \"c\"", "Sun, 06 Nov 1994 08:49:37 GMT",
		 "Sunday, 06-Nov-94 08:49:37 GMT", "bytes=0-99", "\"a\""},
		{"case_insensitive_names",
		 "if-match: *\r\nIF-NONE-MATCH: *\r\niF-mOdIfIeD-sInCe: x\r\n"
		 "IF-UNMODIFIED-SINCE: y\r\nrAnGe: bytes=1-\r\nif-range: z\r\n",
		 "*", "*", "x", "y", "bytes=1-", "z"},
		{"values_trimmed",
		 "If-Match: \t \"a\" \t\r\nRange:   bytes=-5  \r\n"
		 "If-Range:\tSun Nov  6 08:49:37 1994\t\r\n",
		 "\"a\"", "", "", "", "bytes=-5", "Sun Nov  6 08:49:37 1994"},
		{"empty_values", "If-None-Match:\r\nRange: \r\n", "", "", "", "",
		 "", ""},
		{"range_twice_dropped", "Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
		 "", "", "", "", "", ""},
		{"range_three_times_dropped",
		 "Range: bytes=0-1\r\nRange: bytes=2-3\r\nRange: bytes=4-5\r\n",
		 "", "", "", "", "", ""},
		{"conditionals_twice_first_wins",
		 "If-Match: \"1\"\r\nIf-None-Match: \"2\"\r\n"
		 "If-Modified-Since: a\r\nIf-Unmodified-Since: b\r\n"
		 "If-Range: \"3\"\r\n"
		 "If-Match: \"4\"\r\nIf-None-Match: \"5\"\r\n"
		 "If-Modified-Since: c\r\nIf-Unmodified-Since: d\r\n"
		 "If-Range: \"6\"\r\n",
		 "\"1\"", "\"2\"", "a", "b", "", "\"3\""},
		{"first_empty_still_wins", "If-None-Match:\r\nIf-None-Match: \"x\"\r\n",
		 "", "", "", "", "", ""},
		{"similar_names_ignored",
		 "If-Matches: x\r\nX-Range: bytes=0-1\r\nRanges: bytes=0-1\r\n"
		 "If-None-Match-X: y\r\n",
		 "", "", "", "", "", ""},
	};
	return cases;
}

class Fields : public ::testing::TestWithParam<FieldCase> {};

TEST_P(Fields, Extracted)
{
	const FieldCase &c = GetParam();
	const std::string s = Req(c.fields);
	Parsed p = Parse(s);
	ASSERT_EQ(p.rc, static_cast<long>(s.size()));
	EXPECT_EQ(S(p.req.if_match), c.if_match);
	EXPECT_EQ(S(p.req.if_none_match), c.if_none_match);
	EXPECT_EQ(S(p.req.if_modified_since), c.if_modified_since);
	EXPECT_EQ(S(p.req.if_unmodified_since), c.if_unmodified_since);
	EXPECT_EQ(S(p.req.range), c.range);
	EXPECT_EQ(S(p.req.if_range), c.if_range);
	EXPECT_EQ(p.req.accept_gzip, 0);
	for (khttpd_str v : {p.req.if_match, p.req.if_none_match,
			     p.req.if_modified_since, p.req.if_unmodified_since,
			     p.req.range, p.req.if_range}) {
		if (v.len) {
			EXPECT_GE(v.ptr, p.buf->data());
			EXPECT_LE(v.ptr + v.len, p.buf->data() + p.buf->size());
		}
	}
}

TEST_P(Fields, EveryStrictPrefixIsIncomplete)
{
	const std::string s = Req(GetParam().fields);
	for (size_t n = 0; n < s.size(); n++) {
		ExactBuf b(std::string_view(s).substr(0, n));
		khttpd_request req;
		EXPECT_EQ(khttpd_parse_request(b.data(), n, &req), 0)
			<< "prefix length " << n;
	}
}

INSTANTIATE_TEST_SUITE_P(Parser, Fields, ::testing::ValuesIn(FieldCases()),
			 [](const auto &info) {
				 return std::string(info.param.name);
			 });

// Fields from a previous parse never leak into the next one.
TEST(ParserFields, ClearedBetweenParses)
{
	khttpd_request req;
	const std::string a = Req("Range: bytes=0-1\r\nIf-Match: *\r\n"
				  "Accept-Encoding: gzip\r\n");
	ExactBuf ba(a);
	ASSERT_GT(khttpd_parse_request(ba.data(), ba.size(), &req), 0);
	EXPECT_EQ(req.accept_gzip, 1);
	const std::string b = Req("");
	ExactBuf bb(b);
	ASSERT_GT(khttpd_parse_request(bb.data(), bb.size(), &req), 0);
	EXPECT_EQ(req.range.len, 0u);
	EXPECT_EQ(req.if_match.len, 0u);
	EXPECT_EQ(req.accept_gzip, 0);
}

struct GzipCase {
	std::string fields;
	int want;
};

TEST(ParserFields, AcceptGzip)
{
	const GzipCase cases[] = {
		{"", 0},
		{"Accept-Encoding: gzip\r\n", 1},
		{"Accept-Encoding: GZIP\r\n", 1},
		{"Accept-Encoding: x-gzip\r\n", 1},
		{"Accept-Encoding: X-Gzip\r\n", 1},
		{"Accept-Encoding: *\r\n", 1},
		{"Accept-Encoding: gzip, deflate, br\r\n", 1},
		{"Accept-Encoding: deflate, br\r\n", 0},
		{"Accept-Encoding: br,gzip\r\n", 1},
		{"Accept-Encoding:  br , gzip ,deflate\r\n", 1},
		{"Accept-Encoding: identity\r\n", 0},
		{"Accept-Encoding:\r\n", 0},
		{"Accept-Encoding: ,, ,\r\n", 0},
		{"Accept-Encoding: gzipx, xgzip, gzi\r\n", 0},
		{"Accept-Encoding: gzip;q=0\r\n", 0},
		{"Accept-Encoding: gzip;q=0.0\r\n", 0},
		{"Accept-Encoding: gzip;q=0.000\r\n", 0},
		{"Accept-Encoding: gzip;q=0.\r\n", 0},
		{"Accept-Encoding: gzip ; q=0\r\n", 0},
		{"Accept-Encoding: gzip;Q=0\r\n", 0},
		{"Accept-Encoding: gzip;q = 0\r\n", 0},
		{"Accept-Encoding: gzip;\tq=0.00\r\n", 0},
		{"Accept-Encoding: gzip;q=0.001\r\n", 1},
		{"Accept-Encoding: gzip;q=0.5\r\n", 1},
		{"Accept-Encoding: gzip;q=1\r\n", 1},
		{"Accept-Encoding: gzip;q=1.000\r\n", 1},
		{"Accept-Encoding: gzip ; Q = 0.8 , br\r\n", 1},
		{"Accept-Encoding: gzip;level=1;q=0.1\r\n", 1},
		{"Accept-Encoding: gzip;level=1\r\n", 1},
		{"Accept-Encoding: gzip;q=0;foo=1\r\n", 0},
		// malformed weights count as 0: no gzip when in doubt
		{"Accept-Encoding: gzip;q=\r\n", 0},
		{"Accept-Encoding: gzip;q\r\n", 0},
		{"Accept-Encoding: gzip;q=2\r\n", 0},
		{"Accept-Encoding: gzip;q=1.5\r\n", 0},
		{"Accept-Encoding: gzip;q=0.0001\r\n", 0},
		{"Accept-Encoding: gzip;q=abc\r\n", 0},
		{"Accept-Encoding: gzip;q=-1\r\n", 0},
		// "*" only speaks for codings not named
		{"Accept-Encoding: *;q=0\r\n", 0},
		{"Accept-Encoding: *;q=0.5\r\n", 1},
		{"Accept-Encoding: gzip;q=0, *\r\n", 0},
		{"Accept-Encoding: *, gzip;q=0\r\n", 0},
		{"Accept-Encoding: br, *;q=0.1\r\n", 1},
		{"Accept-Encoding: gzip, *;q=0\r\n", 1},
		{"Accept-Encoding: x-gzip;q=0, gzip\r\n", 1},
		// field lines combine
		{"Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n", 1},
		{"Accept-Encoding: gzip;q=0\r\nAccept-Encoding: *\r\n", 0},
		{"Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n", 1},
		{"accept-encoding: gzip\r\n", 1},
		{"Accept-Encodings: gzip\r\n", 0},
		{"Accept: gzip\r\n", 0},
	};
	for (const GzipCase &c : cases) {
		const std::string s = Req(c.fields);
		Parsed p = Parse(s);
		ASSERT_EQ(p.rc, static_cast<long>(s.size())) << c.fields;
		EXPECT_EQ(p.req.accept_gzip, c.want) << c.fields;
		// And every prefix is incomplete.
		for (size_t n = 0; n < s.size(); n++) {
			ExactBuf b(std::string_view(s).substr(0, n));
			khttpd_request req;
			ASSERT_EQ(khttpd_parse_request(b.data(), n, &req), 0)
				<< c.fields << " at " << n;
		}
	}
}

// The new fields keep the existing limits: a control byte is 400.
TEST(ParserFields, ControlBytesStillRejected)
{
	EXPECT_EQ(Parse(Req(std::string("Range: bytes=0-1\x01\r\n"))).rc, -400);
	EXPECT_EQ(Parse(Req(std::string("If-None-Match: \"a\x7f\"\r\n"))).rc,
		  -400);
}

} // namespace
