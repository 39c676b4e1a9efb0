// SPDX-License-Identifier: GPL-2.0
// Range and If-Range evaluation (RFC 9110 14 and 13.1.5).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "helpers.h"

namespace {

constexpr int64_t kLM = 784111777;	// Sun, 06 Nov 1994 08:49:37 GMT
const char kTag[] = "\"abc\"";

struct RangeCase {
	const char *range;
	uint64_t size;
	int want;
	uint64_t first = 0;
	uint64_t last = 0;
	const char *if_range = nullptr;
	int method = KHTTPD_METHOD_GET;
	const char *etag = kTag;
	int64_t last_modified = kLM;
};

struct Result {
	int status;
	khttpd_range range;
};

Result Eval(const RangeCase &c)
{
	std::unique_ptr<ExactBuf> r, ir, et;
	khttpd_request req{};
	req.method = c.method;
	if (c.range) {
		r = std::make_unique<ExactBuf>(std::string_view(c.range));
		req.range = khttpd_str{r->data(), r->size()};
	}
	if (c.if_range) {
		ir = std::make_unique<ExactBuf>(std::string_view(c.if_range));
		req.if_range = khttpd_str{ir->data(), ir->size()};
	}
	et = std::make_unique<ExactBuf>(std::string_view(c.etag));
	Result res;
	res.range = {12345, 67890};
	res.status = khttpd_range_evaluate(&req, c.size,
					   khttpd_str{et->data(), et->size()},
					   c.last_modified, &res.range);
	return res;
}

void Expect(const RangeCase &c)
{
	Result r = Eval(c);
	const std::string what = std::string(c.range ? c.range : "(none)") +
				 " size " + std::to_string(c.size) +
				 (c.if_range ? std::string(" If-Range ") + c.if_range
					     : std::string());
	EXPECT_EQ(r.status, c.want) << what;
	if (c.want == 206 && r.status == 206) {
		EXPECT_EQ(r.range.first, c.first) << what;
		EXPECT_EQ(r.range.last, c.last) << what;
	}
}

TEST(Range, Forms)
{
	const RangeCase cases[] = {
		{nullptr, 1000, 200},
		{"", 1000, 200},
		{"bytes=0-0", 1000, 206, 0, 0},
		{"bytes=0-499", 1000, 206, 0, 499},
		{"bytes=500-999", 1000, 206, 500, 999},
		{"bytes=999-999", 1000, 206, 999, 999},
		{"bytes=500-", 1000, 206, 500, 999},
		{"bytes=0-", 1000, 206, 0, 999},
		{"bytes=999-", 1000, 206, 999, 999},
		{"bytes=-500", 1000, 206, 500, 999},
		{"bytes=-1", 1000, 206, 999, 999},
		{"bytes=-1000", 1000, 206, 0, 999},
		{"bytes=007-010", 1000, 206, 7, 10},
		// case-insensitive unit, whitespace the RFC's list rule allows
		{"BYTES=1-2", 1000, 206, 1, 2},
		{"Bytes=1-2", 1000, 206, 1, 2},
		{"bytes = 1-2", 1000, 206, 1, 2},
		{"bytes= 1-2 ", 1000, 206, 1, 2},
		{"bytes=1-2,", 1000, 206, 1, 2},
		{"bytes=, 1-2 ,,", 1000, 206, 1, 2},
		// clamping
		{"bytes=500-1500", 1000, 206, 500, 999},
		{"bytes=0-18446744073709551615", 1000, 206, 0, 999},
		{"bytes=-18446744073709551615", 1000, 206, 0, 999},
		// suffix larger than the file: all of it
		{"bytes=-5000", 1000, 206, 0, 999},
		{"bytes=-2", 1, 206, 0, 0},
		// unsatisfiable
		{"bytes=1000-", 1000, 416},
		{"bytes=1000-2000", 1000, 416},
		{"bytes=5000-", 1000, 416},
		{"bytes=-0", 1000, 416},
		{"bytes=18446744073709551615-", 1000, 416},
		{"bytes=0-0", 0, 416},
		{"bytes=0-", 0, 416},
		{"bytes=-1", 0, 416},
		{"bytes=-0", 0, 416},
		// invalid syntax: the Range is ignored
		{"bytes=5-4", 1000, 200},
		{"bytes=5-4", 0, 200},
		{"bytes=", 1000, 200},
		{"bytes=,", 1000, 200},
		{"bytes=-", 1000, 200},
		{"bytes=--1", 1000, 200},
		{"bytes=1-2-3", 1000, 200},
		{"bytes=a-b", 1000, 200},
		{"bytes=1 - 2", 1000, 200},
		{"bytes=+1-2", 1000, 200},
		{"bytes=0x10-", 1000, 200},
		{"bytes 0-1", 1000, 200},
		{"bytes:0-1", 1000, 200},
		{"byte=0-1", 1000, 200},
		{"bytesx=0-1", 1000, 200},
		{"items=0-1", 1000, 200},
		{"=0-1", 1000, 200},
		{"0-1", 1000, 200},
		{"bytes=0-1;x", 1000, 200},
		// overflow is invalid syntax, without UB
		{"bytes=99999999999999999999-", 1000, 200},
		{"bytes=18446744073709551616-", 1000, 200},
		{"bytes=0-18446744073709551616", 1000, 200},
		{"bytes=-18446744073709551616", 1000, 200},
		{"bytes=-99999999999999999999999999999999", 1000, 200},
		{"bytes=99999999999999999999-", 0, 200},
		// more than one range: the whole file
		{"bytes=0-1,2-3", 1000, 200},
		{"bytes=0-1, 5-", 1000, 200},
		{"bytes=-1,-2", 1000, 200},
		{"bytes=0-1,5000-6000", 1000, 200},
		{"bytes=5000-6000,7000-", 1000, 200},
		{"bytes=0-1,x", 1000, 200},
		// huge files
		{"bytes=-1", UINT64_MAX, 206, UINT64_MAX - 1, UINT64_MAX - 1},
		{"bytes=18446744073709551614-", UINT64_MAX, 206,
		 UINT64_MAX - 1, UINT64_MAX - 1},
		{"bytes=18446744073709551615-", UINT64_MAX, 416},
		{"bytes=0-", UINT64_MAX, 206, 0, UINT64_MAX - 1},
	};
	for (const RangeCase &c : cases)
		Expect(c);
}

TEST(Range, OnlyForGet)
{
	RangeCase c{"bytes=0-1", 1000, 200};
	for (int m : {KHTTPD_METHOD_HEAD, KHTTPD_METHOD_POST,
		      KHTTPD_METHOD_UNKNOWN}) {
		c.method = m;
		Expect(c);
	}
}

TEST(Range, IfRange)
{
	auto with = [](const char *range, uint64_t size, int want, uint64_t first,
		       uint64_t last, const char *if_range) {
		RangeCase c{range, size, want, first, last, if_range};
		return c;
	};
	const RangeCase cases[] = {
		// entity-tag: strong comparison
		with("bytes=0-9", 1000, 206, 0, 9, "\"abc\""),
		with("bytes=0-9", 1000, 200, 0, 0, "\"abd\""),
		with("bytes=0-9", 1000, 200, 0, 0, "W/\"abc\""),
		with("bytes=0-9", 1000, 200, 0, 0, "\"ABC\""),
		with("bytes=0-9", 1000, 200, 0, 0, "\"abc\", \"abc\""),
		with("bytes=0-9", 1000, 200, 0, 0, "\"abc"),
		with("bytes=0-9", 1000, 200, 0, 0, "*"),
		// date: must equal last_modified exactly
		with("bytes=0-9", 1000, 206, 0, 9, "Sun, 06 Nov 1994 08:49:37 GMT"),
		with("bytes=0-9", 1000, 206, 0, 9, "Sun Nov  6 08:49:37 1994"),
		with("bytes=0-9", 1000, 206, 0, 9,
		     "Sunday, 06-Nov-94 08:49:37 GMT"),
		with("bytes=0-9", 1000, 200, 0, 0, "Sun, 06 Nov 1994 08:49:38 GMT"),
		with("bytes=0-9", 1000, 200, 0, 0, "Sun, 06 Nov 1994 08:49:36 GMT"),
		with("bytes=0-9", 1000, 200, 0, 0, "not a date"),
		// a failing If-Range wins over an unsatisfiable range
		with("bytes=5000-", 1000, 200, 0, 0, "\"nope\""),
		with("bytes=5000-", 1000, 416, 0, 0, "\"abc\""),
		// If-Range without Range does nothing
		with(nullptr, 1000, 200, 0, 0, "\"abc\""),
		// multiple ranges stay 200 even when If-Range matches
		with("bytes=0-1,3-4", 1000, 200, 0, 0, "\"abc\""),
	};
	for (const RangeCase &c : cases)
		Expect(c);

	// A weak current ETag never satisfies If-Range.
	RangeCase weak{"bytes=0-9", 1000, 200, 0, 0, "W/\"abc\""};
	weak.etag = "W/\"abc\"";
	Expect(weak);
	weak.if_range = "\"abc\"";
	Expect(weak);
	// No ETag, no Last-Modified: nothing matches.
	RangeCase none{"bytes=0-9", 1000, 200, 0, 0, "\"abc\""};
	none.etag = "";
	Expect(none);
	none.if_range = "Thu, 01 Jan 1970 00:00:00 GMT";
	none.last_modified = -1;
	Expect(none);
	none.last_modified = 0;
	none.want = 206;
	none.first = 0;
	none.last = 9;
	Expect(none);
}

// The range is only written for 206.
TEST(Range, OutputOnlyFor206)
{
	for (const char *r : {"bytes=5000-", "bytes=0-1,2-3", "junk"}) {
		RangeCase c{r, 1000, 0};
		Result res = Eval(c);
		EXPECT_NE(res.status, 206);
		EXPECT_EQ(res.range.first, 12345u) << r;
		EXPECT_EQ(res.range.last, 67890u) << r;
	}
}

// Exhaustive small check against a reference model.
TEST(Range, MatchesModel)
{
	for (uint64_t size = 0; size < 6; size++) {
		for (int a = -1; a < 8; a++) {
			for (int b = -1; b < 8; b++) {
				std::string spec = "bytes=";
				if (a >= 0)
					spec += std::to_string(a);
				spec += "-";
				if (b >= 0)
					spec += std::to_string(b);
				int want;
				uint64_t first = 0, last = 0;
				if (a < 0 && b < 0) {
					want = 200;
				} else if (a < 0) {	// suffix
					if (b == 0 || size == 0) {
						want = 416;
					} else {
						want = 206;
						first = static_cast<uint64_t>(b) >= size
								? 0
								: size - static_cast<uint64_t>(b);
						last = size - 1;
					}
				} else if (b >= 0 && a > b) {
					want = 200;
				} else if (static_cast<uint64_t>(a) >= size) {
					want = 416;
				} else {
					want = 206;
					first = static_cast<uint64_t>(a);
					last = b < 0 || static_cast<uint64_t>(b) >= size
						       ? size - 1
						       : static_cast<uint64_t>(b);
				}
				RangeCase c{spec.c_str(), size, want, first, last};
				Expect(c);
			}
		}
	}
}

} // namespace
