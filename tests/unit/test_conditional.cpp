// SPDX-License-Identifier: GPL-2.0
// ETag format and RFC 9110 13.2.2 precondition evaluation.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "helpers.h"

namespace {

std::string Etag(uint64_t ino, uint64_t size, int64_t sec, uint32_t nsec)
{
	khttpd_file_meta m = {ino, size, sec, nsec};
	ExactBuf b(static_cast<size_t>(KHTTPD_ETAG_MAX));
	size_t n = khttpd_etag_format(&m, b.data());
	EXPECT_LE(n, static_cast<size_t>(KHTTPD_ETAG_MAX));
	return b.str(n);
}

TEST(Etag, Format)
{
	EXPECT_EQ(Etag(0, 0, 0, 0), "\"0-0-000000000\"");
	EXPECT_EQ(Etag(0x1234, 4096, 0x65000000, 0x1f),
		  "\"1234-1000-650000000000001f\"");
	// Worst case: every field at its widest.
	EXPECT_EQ(Etag(UINT64_MAX, UINT64_MAX, -1, UINT32_MAX),
		  "\"ffffffffffffffff-ffffffffffffffff-"
		  "ffffffffffffffffffffffff\"");
	EXPECT_EQ(Etag(UINT64_MAX, UINT64_MAX, -1, UINT32_MAX).size(), 60u);
}

TEST(Etag, StrongQuotedAndValid)
{
	for (const std::string &t :
	     {Etag(1, 2, 3, 4), Etag(UINT64_MAX, 0, INT64_MIN, 999999999)}) {
		ASSERT_GE(t.size(), 2u);
		EXPECT_EQ(t.front(), '"');
		EXPECT_EQ(t.back(), '"');
		EXPECT_NE(t.substr(0, 2), "W/");
		for (size_t i = 1; i + 1 < t.size(); i++)
			EXPECT_TRUE(t[i] == '-' || isxdigit(
				static_cast<unsigned char>(t[i]))) << t;
	}
}

// A change in any one input changes the tag, including changes that would
// collide if the fields were simply concatenated.
TEST(Etag, Unique)
{
	const khttpd_file_meta metas[] = {
		{1, 2, 3, 4},
		{2, 2, 3, 4},
		{1, 3, 3, 4},
		{1, 2, 4, 4},
		{1, 2, 3, 5},
		{0x12, 0x3, 3, 4},
		{0x1, 0x23, 3, 4},
		{1, 2, 0x10, 0},
		{1, 2, 0x1, 0},
		{1, 2, 0x1, 0x10000000},
		{1, 2, 0, 0x10},
		{1, 2, 0x100000000, 0},
		{1, 2, -1, 0},
		{1, 2, 0, 999999999},
		{1, 2, 1, 999999999},
		{UINT64_MAX, 2, 3, 4},
	};
	std::set<std::string> seen;
	for (const khttpd_file_meta &m : metas)
		EXPECT_TRUE(seen.insert(Etag(m.ino, m.size, m.mtime_sec,
					     m.mtime_nsec)).second)
			<< m.ino << " " << m.size << " " << m.mtime_sec << " "
			<< m.mtime_nsec;
	// Deterministic.
	EXPECT_EQ(Etag(7, 8, 9, 10), Etag(7, 8, 9, 10));
}

constexpr int64_t kLM = 784111777;	// Sun, 06 Nov 1994 08:49:37 GMT
const char kTag[] = "\"abc\"";

struct CondCase {
	const char *name;
	const char *if_match;
	const char *if_none_match;
	const char *ims;
	const char *ius;
	int want;
	int method = KHTTPD_METHOD_GET;
	int64_t last_modified = kLM;
	const char *etag = kTag;
};

khttpd_str Opt(const char *s, std::vector<std::unique_ptr<ExactBuf>> &keep)
{
	if (!s)
		return khttpd_str{nullptr, 0};
	keep.push_back(std::make_unique<ExactBuf>(std::string_view(s)));
	return khttpd_str{keep.back()->data(), keep.back()->size()};
}

int Eval(const CondCase &c)
{
	std::vector<std::unique_ptr<ExactBuf>> keep;
	khttpd_request req{};
	req.method = c.method;
	req.if_match = Opt(c.if_match, keep);
	req.if_none_match = Opt(c.if_none_match, keep);
	req.if_modified_since = Opt(c.ims, keep);
	req.if_unmodified_since = Opt(c.ius, keep);
	return khttpd_conditional(&req, Opt(c.etag, keep), c.last_modified);
}

#define D_EQ "Sun, 06 Nov 1994 08:49:37 GMT"
#define D_BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define D_AFTER "Sun, 06 Nov 1994 08:49:38 GMT"

TEST(Conditional, Table)
{
	const CondCase cases[] = {
		{"nothing", nullptr, nullptr, nullptr, nullptr, 200},
		{"empty_values_absent", "", "", "", "", 200},

		// If-None-Match: weak comparison, lists, *
		{"inm_match", nullptr, "\"abc\"", nullptr, nullptr, 304},
		{"inm_weak_matches_strong", nullptr, "W/\"abc\"", nullptr,
		 nullptr, 304},
		{"inm_weak_etag", nullptr, "\"abc\"", nullptr, nullptr, 304,
		 KHTTPD_METHOD_GET, kLM, "W/\"abc\""},
		{"inm_other", nullptr, "\"abd\"", nullptr, nullptr, 200},
		{"inm_case_sensitive", nullptr, "\"ABC\"", nullptr, nullptr, 200},
		{"inm_unquoted", nullptr, "abc", nullptr, nullptr, 200},
		{"inm_list_last", nullptr, "\"x\", \"y\",\"abc\"", nullptr,
		 nullptr, 304},
		{"inm_list_ows", nullptr, " \"x\" \t,\tW/\"abc\" ", nullptr,
		 nullptr, 304},
		{"inm_list_empty_elems", nullptr, ",, \"abc\" ,,", nullptr,
		 nullptr, 304},
		{"inm_list_none", nullptr, "\"x\", W/\"y\"", nullptr, nullptr, 200},
		{"inm_star", nullptr, "*", nullptr, nullptr, 304},
		{"inm_star_ows", nullptr, " * ", nullptr, nullptr, 304},
		{"inm_head", nullptr, "\"abc\"", nullptr, nullptr, 304,
		 KHTTPD_METHOD_HEAD},
		{"inm_post_412", nullptr, "\"abc\"", nullptr, nullptr, 412,
		 KHTTPD_METHOD_POST},
		{"inm_no_etag", nullptr, "\"abc\"", nullptr, nullptr, 200,
		 KHTTPD_METHOD_GET, kLM, ""},
		{"inm_star_no_etag", nullptr, "*", nullptr, nullptr, 304,
		 KHTTPD_METHOD_GET, kLM, ""},
		// malformed lists never match (and do not crash)
		{"inm_bad_unterminated", nullptr, "\"abc", nullptr, nullptr, 200},
		{"inm_bad_after_match", nullptr, "\"abc\" x", nullptr, nullptr,
		 200},
		{"inm_bad_junk_in_list", nullptr, "\"abc\", junk", nullptr,
		 nullptr, 200},
		{"inm_bad_star_in_list", nullptr, "*, \"abc\"", nullptr, nullptr,
		 200},
		{"inm_bad_lower_w", nullptr, "w/\"abc\"", nullptr, nullptr, 200},
		{"inm_bad_dquote_inside", nullptr, "\"ab\"c\"", nullptr, nullptr,
		 200},
		{"inm_bad_lone_quote", nullptr, "\"", nullptr, nullptr, 200},
		{"inm_bad_lone_w", nullptr, "W/", nullptr, nullptr, 200},

		// If-Match: strong comparison
		{"im_match", "\"abc\"", nullptr, nullptr, nullptr, 200},
		{"im_other", "\"abd\"", nullptr, nullptr, nullptr, 412},
		{"im_weak_never", "W/\"abc\"", nullptr, nullptr, nullptr, 412},
		{"im_weak_etag_never", "\"abc\"", nullptr, nullptr, nullptr, 412,
		 KHTTPD_METHOD_GET, kLM, "W/\"abc\""},
		{"im_star", "*", nullptr, nullptr, nullptr, 200},
		{"im_list", "\"x\", \"abc\"", nullptr, nullptr, nullptr, 200},
		{"im_malformed", "\"abc", nullptr, nullptr, nullptr, 412},
		{"im_malformed_list", "\"abc\", x", nullptr, nullptr, nullptr,
		 412},

		// If-Modified-Since: 304 when not modified after the date
		{"ims_equal", nullptr, nullptr, D_EQ, nullptr, 304},
		{"ims_later", nullptr, nullptr, D_AFTER, nullptr, 304},
		{"ims_earlier", nullptr, nullptr, D_BEFORE, nullptr, 200},
		{"ims_rfc850", nullptr, nullptr,
		 "Sunday, 06-Nov-94 08:49:37 GMT", nullptr, 304},
		{"ims_asctime", nullptr, nullptr, "Sun Nov  6 08:49:37 1994",
		 nullptr, 304},
		{"ims_asctime_earlier", nullptr, nullptr,
		 "Sun Nov  6 08:49:36 1994", nullptr, 200},
		{"ims_rfc850_earlier", nullptr, nullptr,
		 "Sunday, 06-Nov-94 08:49:36 GMT", nullptr, 200},
		{"ims_bad_date_ignored", nullptr, nullptr, "yesterday", nullptr,
		 200},
		{"ims_bad_zone_ignored", nullptr, nullptr,
		 "Sun, 06 Nov 1994 08:49:37 UTC", nullptr, 200},
		{"ims_post_ignored", nullptr, nullptr, D_EQ, nullptr, 200,
		 KHTTPD_METHOD_POST},
		{"ims_head", nullptr, nullptr, D_EQ, nullptr, 304,
		 KHTTPD_METHOD_HEAD},
		{"ims_unknown_lm_ignored", nullptr, nullptr, D_EQ, nullptr, 200,
		 KHTTPD_METHOD_GET, -1},

		// If-Unmodified-Since: 412 when modified after the date
		{"ius_equal", nullptr, nullptr, nullptr, D_EQ, 200},
		{"ius_later", nullptr, nullptr, nullptr, D_AFTER, 200},
		{"ius_earlier", nullptr, nullptr, nullptr, D_BEFORE, 412},
		{"ius_asctime_earlier", nullptr, nullptr, nullptr,
		 "Sun Nov  6 08:49:36 1994", 412},
		{"ius_bad_date_ignored", nullptr, nullptr, nullptr, "soon", 200},
		{"ius_unknown_lm_ignored", nullptr, nullptr, nullptr, D_BEFORE,
		 200, KHTTPD_METHOD_GET, -1},

		// Precedence
		{"inm_beats_ims_match", nullptr, "\"abd\"", D_AFTER, nullptr,
		 200},	// INM present and not matching: IMS not looked at
		{"inm_beats_ims_304", nullptr, "\"abc\"", D_BEFORE, nullptr, 304},
		{"im_beats_ius_pass", "\"abc\"", nullptr, nullptr, D_BEFORE,
		 200},	// IM present: IUS not looked at
		{"im_beats_ius_fail", "\"x\"", nullptr, nullptr, D_AFTER, 412},
		{"412_before_304", "\"x\"", "\"abc\"", nullptr, nullptr, 412},
		{"ius_412_before_inm", nullptr, "\"abc\"", nullptr, D_BEFORE,
		 412},
		{"im_pass_then_inm", "\"abc\"", "\"abc\"", nullptr, nullptr, 304},
		{"im_pass_then_ims", "*", nullptr, D_EQ, nullptr, 304},
		{"ius_pass_then_ims", nullptr, nullptr, D_EQ, D_EQ, 304},
		{"all_pass", "\"abc\"", "\"x\"", D_BEFORE, D_AFTER, 200},
	};
	for (const CondCase &c : cases)
		EXPECT_EQ(Eval(c), c.want) << c.name;
}

// Every HTTP-date form parses through the conditional path, at the edges
// of the comparison.
TEST(Conditional, DatesAllFormats)
{
	struct {
		const char *date;
		int64_t t;
	} dates[] = {
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Thursday, 01-Jan-70 00:00:00 GMT", 0},
		{"Thu Jan  1 00:00:00 1970", 0},
		{"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648},
		{"Tuesday, 19-Jan-38 03:14:08 GMT", 2147483648},
		{"Tue Jan 19 03:14:08 2038", 2147483648},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799},
		{"Fri Dec 31 23:59:59 9999", 253402300799},
	};
	for (const auto &d : dates) {
		for (int64_t delta : {-1, 0, 1}) {
			const int64_t lm = d.t + delta;
			if (lm < 0)
				continue;
			CondCase ims{"", nullptr, nullptr, d.date, nullptr, 0};
			ims.last_modified = lm;
			EXPECT_EQ(Eval(ims), lm <= d.t ? 304 : 200) << d.date;
			CondCase ius{"", nullptr, nullptr, nullptr, d.date, 0};
			ius.last_modified = lm;
			EXPECT_EQ(Eval(ius), lm > d.t ? 412 : 200) << d.date;
		}
	}
}

// The tag khttpd_etag_format() produces is matched by itself.
TEST(Conditional, OwnEtagRoundTrip)
{
	const std::string t = Etag(42, 1000, 1700000000, 123456789);
	const std::string w = "W/" + t;
	CondCase inm{"", nullptr, t.c_str(), nullptr, nullptr, 0};
	inm.etag = t.c_str();
	EXPECT_EQ(Eval(inm), 304);
	inm.if_none_match = w.c_str();
	EXPECT_EQ(Eval(inm), 304);
	CondCase im{"", t.c_str(), nullptr, nullptr, nullptr, 0};
	im.etag = t.c_str();
	EXPECT_EQ(Eval(im), 200);
	im.if_match = w.c_str();
	EXPECT_EQ(Eval(im), 412);
	const std::string other = Etag(42, 1000, 1700000000, 123456790);
	im.if_match = other.c_str();
	EXPECT_EQ(Eval(im), 412);
}

// Every truncation of a valid list stays in bounds and never matches
// something it should not.
TEST(Conditional, TruncatedListsInBounds)
{
	const std::string list = " W/\"x\" , \"abc\" ,W/\"abc\"";
	for (size_t n = 0; n <= list.size(); n++) {
		const std::string s = list.substr(0, n);
		CondCase c{"", nullptr, s.c_str(), nullptr, nullptr, 0};
		int r = Eval(c);
		EXPECT_TRUE(r == 200 || r == 304) << s;
		if (n < 14) {	// before "abc" is complete
			EXPECT_EQ(r, 200) << s;
		}
	}
}

} // namespace
