// SPDX-License-Identifier: GPL-2.0
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "helpers.h"

using namespace std::string_literals;

namespace {

// The views in *req point into the buffer, so it lives until the next call.
std::unique_ptr<ExactBuf> last_buf;

long Parse(const std::string &s, khttpd_request *req)
{
	last_buf = std::make_unique<ExactBuf>(s);
	return khttpd_parse_request(last_buf->data(), last_buf->size(), req);
}

long Parse(const std::string &s)
{
	khttpd_request req;
	return Parse(s, &req);
}

struct ValidCase {
	const char *name;
	std::string head;
	int method;
	const char *method_name;
	const char *path;
	const char *query;
	int minor;
	int keep_alive;
	const char *host;
	unsigned num_headers;
};

const std::vector<ValidCase> &ValidCases()
{
	static const std::vector<ValidCase> cases = {
		{"simple_get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 1, "a", 1},
		{"curl",
		 "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: localhost:8081\r\n"
		 "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/index.html", "x=1&y=2", 1, 1,
		 "localhost:8081", 3},
		{"head_10", "HEAD /a/b HTTP/1.0\r\n\r\n", KHTTPD_METHOD_HEAD,
		 "HEAD", "/a/b", "", 0, 0, "", 0},
		{"ab_10_keepalive",
		 "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n"
		 "User-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/x", "", 0, 1, "h", 4},
		{"close_11",
		 "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 0, "h", 2},
		{"leading_crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 1, "h", 1},
		{"options_star", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_OPTIONS, "OPTIONS", "*", "", 1, 1, "h", 1},
		{"unknown_method", "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_UNKNOWN, "BREW", "/pot", "", 1, 1, "h", 1},
		{"lowercase_method_unknown", "get / HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_UNKNOWN, "get", "/", "", 1, 1, "h", 1},
		{"absolute_form",
		 "GET http://example.com:8080/p/q?z HTTP/1.1\r\nHost: other\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/p/q", "z", 1, 1, "example.com:8080",
		 1},
		{"absolute_form_https_upper_empty_path",
		 "GET HTTPS://Example.COM HTTP/1.1\r\nHost: x\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 1, "Example.COM", 1},
		{"absolute_form_query_no_path",
		 "GET http://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "q=1", 1, 1, "h", 1},
		{"http_1_2_is_11", "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 1, "h", 1},
		{"ows_and_obs_text",
		 "GET / HTTP/1.1\r\nHost:h \t\r\nX-Y:\t v\xc3\xa9\tw \r\n"
		 "Empty:\r\n\r\n",
		 KHTTPD_METHOD_GET, "GET", "/", "", 1, 1, "h", 3},
		{"post_body_length",
		 "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n"
		 "Expect: 100-Continue\r\n\r\n",
		 KHTTPD_METHOD_POST, "POST", "/f", "", 1, 1, "h", 3},
		{"empty_query", "DELETE /d? HTTP/1.1\r\nHost: h\r\n\r\n",
		 KHTTPD_METHOD_DELETE, "DELETE", "/d", "", 1, 1, "h", 1},
	};
	return cases;
}

class ValidRequest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidRequest, ParsesFully)
{
	const ValidCase &c = GetParam();
	khttpd_request req;
	long r = Parse(c.head, &req);
	ASSERT_EQ(r, static_cast<long>(c.head.size()));
	EXPECT_EQ(req.method, c.method);
	EXPECT_EQ(S(req.method_name), c.method_name);
	EXPECT_EQ(S(req.path), c.path);
	EXPECT_EQ(S(req.query), c.query);
	EXPECT_EQ(req.version_minor, c.minor);
	EXPECT_EQ(req.keep_alive, c.keep_alive);
	EXPECT_EQ(S(req.host), c.host);
	EXPECT_EQ(req.num_headers, c.num_headers);
}

TEST_P(ValidRequest, EveryStrictPrefixIsIncomplete)
{
	const ValidCase &c = GetParam();
	for (size_t n = 0; n < c.head.size(); n++) {
		khttpd_request req;
		ExactBuf b(std::string_view(c.head).substr(0, n));
		EXPECT_EQ(khttpd_parse_request(b.data(), n, &req), 0)
			<< "prefix length " << n;
	}
}

TEST_P(ValidRequest, TrailingBytesAreNotPartOfTheHead)
{
	const ValidCase &c = GetParam();
	EXPECT_EQ(Parse(c.head + "BODYBYTES\r\n\r\n"),
		  static_cast<long>(c.head.size()));
}

INSTANTIATE_TEST_SUITE_P(Parser, ValidRequest,
			 ::testing::ValuesIn(ValidCases()),
			 [](const auto &info) {
				 return std::string(info.param.name);
			 });

TEST(Parser, Pipelined)
{
	const std::string a = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
	const std::string b = "HEAD /two?x HTTP/1.1\r\nHost: h\r\n\r\n";
	const std::string c = "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	const std::string all = a + b + c;
	ExactBuf buf(all);
	size_t off = 0;
	khttpd_request req;

	long r = khttpd_parse_request(buf.data(), all.size(), &req);
	ASSERT_EQ(r, static_cast<long>(a.size()));
	EXPECT_EQ(S(req.path), "/one");
	off += static_cast<size_t>(r);

	r = khttpd_parse_request(buf.data() + off, all.size() - off, &req);
	ASSERT_EQ(r, static_cast<long>(b.size()));
	EXPECT_EQ(req.method, KHTTPD_METHOD_HEAD);
	EXPECT_EQ(S(req.path), "/two");
	EXPECT_EQ(S(req.query), "x");
	off += static_cast<size_t>(r);

	r = khttpd_parse_request(buf.data() + off, all.size() - off, &req);
	ASSERT_EQ(r, static_cast<long>(c.size()));
	EXPECT_EQ(S(req.path), "/three");
	EXPECT_EQ(req.keep_alive, 0);
	off += static_cast<size_t>(r);
	EXPECT_EQ(off, all.size());

	// A partial fourth request after the three.
	std::string more = all + "GET /fo";
	ExactBuf buf2(more);
	EXPECT_EQ(khttpd_parse_request(buf2.data() + off, more.size() - off,
				       &req), 0);
}

struct BadCase {
	const char *name;
	std::string head;
	long expect;
};

class BadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequest, Rejected)
{
	const BadCase &c = GetParam();
	EXPECT_EQ(Parse(c.head), c.expect);
}

const std::string big_target = "/" + std::string(8000, 'a');

std::string ManyHeaders(int n)
{
	std::string s = "GET / HTTP/1.1\r\nHost: h\r\n";
	for (int i = 1; i < n; i++)
		s += "X-H" + std::to_string(i) + ": v\r\n";
	return s + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
	Parser, BadRequest,
	::testing::Values(
		// request line
		BadCase{"bare_lf_request_line", "GET / HTTP/1.1\nHost: h\r\n\r\n", -400},
		BadCase{"bare_lf_header", "GET / HTTP/1.1\r\nHost: h\n\r\n", -400},
		BadCase{"bare_lf_end", "GET / HTTP/1.1\r\nHost: h\r\n\n", -400},
		BadCase{"bare_lf_leading", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"cr_without_lf", "GET / HTTP/1.1\rHost: h\r\n\r\n", -400},
		BadCase{"leading_cr_junk", "\rXGET / HTTP/1.1\r\n\r\n", -400},
		BadCase{"method_bad_char", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"method_empty", " / HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"method_tab", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"double_space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"target_ctl", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"target_del", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"target_tab", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"http09", "GET /\r\n\r\n", -400},
		BadCase{"no_version", "GET / \r\n\r\n", -400},
		BadCase{"version_lower", "GET / http/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"version_garbage", "GET / HTTP/1.x\r\nHost: h\r\n\r\n", -400},
		BadCase{"version_two_digits", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", -400},
		BadCase{"version_trailing_space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400},
		BadCase{"version_2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505},
		BadCase{"version_0_9", "GET / HTTP/0.9\r\n\r\n", -505},
		BadCase{"version_3", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", -505},
		// target forms
		BadCase{"star_with_get", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"authority_form", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"relative", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"ftp_scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"abs_empty_authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		BadCase{"abs_userinfo", "GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", -400},
		// headers
		BadCase{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", -400},
		BadCase{"obs_fold_tab", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", -400},
		BadCase{"leading_ws_first_header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", -400},
		BadCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", -400},
		BadCase{"tab_before_colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", -400},
		BadCase{"empty_name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", -400},
		BadCase{"no_colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", -400},
		BadCase{"name_bad_char", "GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", -400},
		BadCase{"value_ctl", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", -400},
		BadCase{"value_nul", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n"s, -400},
		BadCase{"value_del", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n", -400},
		BadCase{"value_bare_cr", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rz\r\n\r\n", -400},
		BadCase{"missing_host_11", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", -400},
		BadCase{"missing_host_abs_11", "GET http://h/ HTTP/1.1\r\n\r\n", -400},
		BadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -400},
		BadCase{"cl_and_te", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
		BadCase{"te_and_cl", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", -400},
		BadCase{"cl_differing", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\n", -400},
		BadCase{"cl_list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", -400},
		BadCase{"cl_sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", -400},
		BadCase{"cl_negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", -400},
		BadCase{"cl_empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", -400},
		BadCase{"cl_hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", -400},
		BadCase{"cl_overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", -400},
		BadCase{"cl_inner_space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", -400},
		// limits
		BadCase{"target_8001", "GET " + big_target + " HTTP/1.1\r\nHost: h\r\n\r\n", -414},
		BadCase{"target_8001_incomplete", "GET " + big_target, -414},
		BadCase{"headers_65", ManyHeaders(KHTTPD_MAX_HEADERS + 1), -431}),
	[](const auto &info) { return std::string(info.param.name); });

TEST(Parser, EarlyErrorsBeforeHeadIsComplete)
{
	// Garbage is refused without waiting for the end of the head.
	EXPECT_EQ(Parse("GE(T"), -400);
	EXPECT_EQ(Parse("GET /\x01"), -400);
	EXPECT_EQ(Parse("GET / HTTP/1.1\n"), -400);
	EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\n folded"), -400);
	EXPECT_EQ(Parse("GET / HTTP/1.1\r\nBad Name"), -400);
	EXPECT_EQ(Parse("GET / XTTP"), -400);
}

TEST(Parser, TargetLengthLimit)
{
	std::string t = "/" + std::string(7999, 'b');	// exactly 8000
	khttpd_request req;
	std::string s = "GET " + t + " HTTP/1.1\r\nHost: h\r\n\r\n";
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size()));
	EXPECT_EQ(req.target.len, 8000u);
	EXPECT_EQ(Parse("GET " + t + "b"), -414);
	EXPECT_EQ(Parse("GET " + t), 0);
}

TEST(Parser, HeaderCountLimit)
{
	khttpd_request req;
	std::string ok = ManyHeaders(KHTTPD_MAX_HEADERS);
	ASSERT_EQ(Parse(ok, &req), static_cast<long>(ok.size()));
	EXPECT_EQ(req.num_headers, static_cast<unsigned>(KHTTPD_MAX_HEADERS));
}

TEST(Parser, OverflowStatus)
{
	struct {
		std::string buf;
		int expect;
	} cases[] = {
		{"", 414},
		{"GET /aaaaaaaa", 414},
		{"GET /aaaaaaaa HTTP/1.1\r", 414},
		{"\r\n\r\nGET /aaaaaaaa", 414},
		{"GET / HTTP/1.1\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaa", 431},
	};
	for (auto &c : cases) {
		ExactBuf b(c.buf);
		EXPECT_EQ(khttpd_parse_overflow_status(b.data(), b.size()),
			  c.expect)
			<< c.buf;
	}
}

struct ConnCase {
	const char *version;
	const char *headers;
	int keep_alive;
};

class Connection : public ::testing::TestWithParam<ConnCase> {};

TEST_P(Connection, KeepAlive)
{
	const ConnCase &c = GetParam();
	std::string s = std::string("GET / ") + c.version + "\r\nHost: h\r\n" +
			c.headers + "\r\n";
	khttpd_request req;
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size())) << s;
	EXPECT_EQ(req.keep_alive, c.keep_alive) << s;
}

INSTANTIATE_TEST_SUITE_P(
	Parser, Connection,
	::testing::Values(
		ConnCase{"HTTP/1.1", "", 1},
		ConnCase{"HTTP/1.1", "Connection: close\r\n", 0},
		ConnCase{"HTTP/1.1", "Connection: CLOSE\r\n", 0},
		ConnCase{"HTTP/1.1", "Connection: keep-alive\r\n", 1},
		ConnCase{"HTTP/1.1", "Connection: Upgrade, close\r\n", 0},
		ConnCase{"HTTP/1.1", "Connection: foo ,  Close , bar\r\n", 0},
		ConnCase{"HTTP/1.1", "Connection: closed\r\n", 1},
		ConnCase{"HTTP/1.1", "Connection: te\r\nConnection: close\r\n", 0},
		ConnCase{"HTTP/1.0", "", 0},
		ConnCase{"HTTP/1.0", "Connection: keep-alive\r\n", 1},
		ConnCase{"HTTP/1.0", "Connection: Keep-Alive\r\n", 1},
		ConnCase{"HTTP/1.0", "Connection: x,keep-alive\r\n", 1},
		ConnCase{"HTTP/1.0", "Connection: keep-alive, close\r\n", 0},
		ConnCase{"HTTP/1.0", "Connection: keep-alive\r\nConnection: close\r\n", 0},
		ConnCase{"HTTP/1.0", "Connection: keep-alives\r\n", 0}));

TEST(Parser, BodyFields)
{
	khttpd_request req;
	std::string s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n"
			"Content-Length: 42\r\nExpect: 100-continue\r\n\r\n";
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size()));
	EXPECT_EQ(req.has_content_length, 1);
	EXPECT_EQ(req.content_length, 42u);
	EXPECT_EQ(req.chunked, 0);

	s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n";
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size()));
	EXPECT_EQ(req.content_length, UINT64_MAX);

	s = "POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: gzip, chunked\r\n"
	    "Expect: something-else\r\n\r\n";
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size()));
	EXPECT_EQ(req.chunked, 1);
	EXPECT_EQ(req.has_content_length, 0);

	s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	ASSERT_EQ(Parse(s, &req), static_cast<long>(s.size()));
	EXPECT_EQ(req.has_content_length, 0);
	EXPECT_EQ(req.content_length, 0u);
}

TEST(Parser, TargetAndViewsPointIntoBuffer)
{
	std::string s = "GET /a%20b?c=d HTTP/1.1\r\nhOsT:   example.org  \r\n\r\n";
	ExactBuf b(s);
	khttpd_request req;
	ASSERT_EQ(khttpd_parse_request(b.data(), b.size(), &req),
		  static_cast<long>(s.size()));
	EXPECT_EQ(S(req.target), "/a%20b?c=d");
	EXPECT_EQ(req.target.ptr, b.data() + 4);
	EXPECT_EQ(req.path.ptr, b.data() + 4);
	EXPECT_EQ(S(req.host), "example.org");
	EXPECT_EQ(req.method_name.ptr, b.data());
}

// Every prefix of a malformed head is either incomplete or an error, and
// once an error is reported longer prefixes keep reporting an error.
TEST(Parser, PrefixesOfBadRequestsNeverSucceed)
{
	const std::string bad[] = {
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
	};
	for (const auto &s : bad) {
		bool failed = false;
		for (size_t n = 0; n <= s.size(); n++) {
			ExactBuf b(std::string_view(s).substr(0, n));
			khttpd_request req;
			long r = khttpd_parse_request(b.data(), n, &req);
			EXPECT_LE(r, 0) << s << " at " << n;
			if (failed) {
				EXPECT_LT(r, 0) << s << " at " << n;
			}
			failed = failed || r < 0;
		}
		EXPECT_TRUE(failed) << s;
	}
}

} // namespace

namespace {

bool Within(khttpd_str s, const char *buf, size_t len)
{
	return s.len == 0 || (s.ptr >= buf && s.ptr + s.len <= buf + len);
}

// Deterministic mutation smoke test (the libFuzzer target goes further):
// results stay in range and every view points inside the input.
TEST(Parser, MutatedInputsStayInBounds)
{
	uint32_t rng = 12345;
	auto next = [&rng] {
		rng = rng * 1103515245u + 12345u;
		return rng >> 8;
	};
	const char alphabet[] = "\r\n :/?%.\t,aZ0\x01\x7f\x80Hh";
	for (const ValidCase &c : ValidCases()) {
		for (int iter = 0; iter < 300; iter++) {
			std::string s = c.head;
			int edits = 1 + static_cast<int>(next() % 3);
			for (int e = 0; e < edits && !s.empty(); e++) {
				size_t pos = next() % s.size();
				char ch = alphabet[next() % (sizeof(alphabet) - 1)];
				switch (next() % 3) {
				case 0: s[pos] = ch; break;
				case 1: s.insert(pos, 1, ch); break;
				default: s.erase(pos, 1); break;
				}
			}
			ExactBuf b(s);
			khttpd_request req;
			long r = khttpd_parse_request(b.data(), b.size(), &req);
			ASSERT_LE(r, static_cast<long>(s.size()));
			if (r < 0) {
				EXPECT_TRUE(r == -400 || r == -414 || r == -431 ||
					    r == -505) << r;
				continue;
			}
			if (r == 0)
				continue;
			EXPECT_TRUE(Within(req.method_name, b.data(), b.size()));
			EXPECT_TRUE(Within(req.target, b.data(), b.size()));
			EXPECT_TRUE(Within(req.query, b.data(), b.size()));
			EXPECT_TRUE(Within(req.host, b.data(), b.size()));
			EXPECT_GT(req.path.len, 0u);
			EXPECT_LE(req.version_minor, 1);
			char out[64];
			int dir;
			long n = khttpd_path_normalize(req.path.ptr, req.path.len,
						       out, sizeof(out), &dir);
			EXPECT_TRUE(n >= 0 || n == -400 || n == -404 || n == -414);
		}
	}
}

} // namespace
