// SPDX-License-Identifier: GPL-2.0
#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "helpers.h"

namespace {

std::string Fmt(int64_t t)
{
	ExactBuf b(static_cast<size_t>(KHTTPD_DATE_LEN));
	khttpd_format_date(t, b.data());
	return b.str(KHTTPD_DATE_LEN);
}

TEST(Date, KnownValues)
{
	EXPECT_EQ(Fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
	EXPECT_EQ(Fmt(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
	EXPECT_EQ(Fmt(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
	EXPECT_EQ(Fmt(951868800), "Wed, 01 Mar 2000 00:00:00 GMT");
	EXPECT_EQ(Fmt(2147483647), "Tue, 19 Jan 2038 03:14:07 GMT");
	EXPECT_EQ(Fmt(2147483648), "Tue, 19 Jan 2038 03:14:08 GMT");
	EXPECT_EQ(Fmt(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");
	EXPECT_EQ(Fmt(4107456000), "Sun, 28 Feb 2100 00:00:00 GMT");
	EXPECT_EQ(Fmt(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
	EXPECT_EQ(Fmt(1709164800), "Thu, 29 Feb 2024 00:00:00 GMT");
}

TEST(Date, Clamped)
{
	EXPECT_EQ(Fmt(-1), "Thu, 01 Jan 1970 00:00:00 GMT");
	EXPECT_EQ(Fmt(INT64_MIN), "Thu, 01 Jan 1970 00:00:00 GMT");
	EXPECT_EQ(Fmt(253402300800), "Fri, 31 Dec 9999 23:59:59 GMT");
	EXPECT_EQ(Fmt(INT64_MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

// Cross-check against gmtime_r/strftime over a spread of times.
TEST(Date, MatchesLibc)
{
	for (int64_t t = 0; t <= 253402300799; t += 86400LL * 37 + 3607) {
		time_t tt = static_cast<time_t>(t);
		struct tm tm;
		ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
		char want[64];
		size_t n = strftime(want, sizeof(want),
				    "%a, %d %b %Y %H:%M:%S GMT", &tm);
		ASSERT_EQ(n, static_cast<size_t>(KHTTPD_DATE_LEN));
		ASSERT_EQ(Fmt(t), std::string(want, n)) << t;

		int64_t back = -1;
		ASSERT_EQ(khttpd_parse_date(want, n, &back), 0) << want;
		ASSERT_EQ(back, t) << want;
	}
}

TEST(Date, ParseFormats)
{
	struct {
		const char *s;
		int rc;
		int64_t t;
	} cases[] = {
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0, 784111777},
		{"Sunday, 06-Nov-94 08:49:37 GMT", 0, 784111777},
		{"Sun Nov  6 08:49:37 1994", 0, 784111777},
		{"Sun Nov 16 08:49:37 1994", 0, 784111777 + 10 * 86400},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
		{"Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400},
		{"Thursday, 01-Jan-70 00:00:00 GMT", 0, 0},
		{"Wednesday, 01-Jan-20 00:00:00 GMT", 0, 1577836800},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 0, 253402300799},
		{"Sat, 31 Dec 2016 23:59:60 GMT", 0, 1483228799},
		// invalid
		{"", -1, 0},
		{"Sun, 06 Nov 1994 08:49:37 UTC", -1, 0},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", -1, 0},
		{" Sun, 06 Nov 1994 08:49:37 GMT", -1, 0},
		{"Sun, 06 Nov 1994 08:49:37", -1, 0},
		{"Sun, 6 Nov 1994 08:49:37 GMT", -1, 0},
		{"sun, 06 Nov 1994 08:49:37 GMT", -1, 0},
		{"Sun, 06 nov 1994 08:49:37 GMT", -1, 0},
		{"Sun, 06 Foo 1994 08:49:37 GMT", -1, 0},
		{"Sun, 30 Feb 1994 08:49:37 GMT", -1, 0},
		{"Sun, 29 Feb 1900 08:49:37 GMT", -1, 0},
		{"Sun, 00 Nov 1994 08:49:37 GMT", -1, 0},
		{"Sun, 06 Nov 1994 24:00:00 GMT", -1, 0},
		{"Sun, 06 Nov 1994 08:60:00 GMT", -1, 0},
		{"Sun, 06 Nov 1969 08:49:37 GMT", -1, 0},
		{"Sun Nov 6 08:49:37 1994", -1, 0},
		{"Sun,06 Nov 1994 08:49:37 GMT", -1, 0},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", -1, 0},
		{"1994-11-06T08:49:37Z", -1, 0},
	};
	for (auto &c : cases) {
		std::string s = c.s;
		// Every strict prefix of a valid date is invalid, and no
		// prefix is ever over-read.
		for (size_t n = 0; c.rc == 0 && n < s.size(); n++) {
			ExactBuf b(std::string_view(s).substr(0, n));
			int64_t t;
			EXPECT_EQ(khttpd_parse_date(b.data(), n, &t), -1)
				<< s << " prefix " << n;
		}
		ExactBuf b(s);
		int64_t t = -12345;
		EXPECT_EQ(khttpd_parse_date(b.data(), b.size(), &t), c.rc) << s;
		if (c.rc == 0) {
			EXPECT_EQ(t, c.t) << s;
		}
	}
}

} // namespace
