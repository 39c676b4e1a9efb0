// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: khttpd_range_evaluate() and khttpd_conditional() on
// fuzzed field values, size, Last-Modified and method, plus the ETag
// format and the heads built from the results.
//
// Input: 8 bytes size, 8 bytes last_modified, 1 byte flags (method and how
// to reduce size), then the field values separated by '\n': Range,
// If-Range, If-Match, If-None-Match, If-Modified-Since,
// If-Unmodified-Since, the current ETag.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "khttpd/core.h"
#include "check.h"

namespace {

uint64_t Take64(const uint8_t *&p, size_t &n)
{
	uint64_t v = 0;
	for (int i = 0; i < 8 && n; i++, p++, n--)
		v = v << 8 | *p;
	return v;
}

// Field values as exact heap copies, so ASan sees any over-read.
struct Fields {
	std::vector<std::unique_ptr<char[]>> bufs;

	khttpd_str Add(const char *p, size_t n)
	{
		if (n == 0)
			return khttpd_str{nullptr, 0};
		bufs.emplace_back(new char[n]);
		std::memcpy(bufs.back().get(), p, n);
		return khttpd_str{bufs.back().get(), n};
	}
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	uint64_t fsize = Take64(p, n);
	const int64_t last_modified = static_cast<int64_t>(Take64(p, n));
	const uint8_t flags = n ? (n--, *p++) : 0;

	switch (flags & 3) {
	case 0: fsize %= 1024; break;
	case 1: fsize %= 3; break;
	case 2: break;
	default: fsize = UINT64_MAX - (fsize % 4); break;
	}
	static const int methods[] = {
		KHTTPD_METHOD_GET, KHTTPD_METHOD_GET, KHTTPD_METHOD_HEAD,
		KHTTPD_METHOD_POST,
	};

	Fields f;
	khttpd_str v[7] = {};
	const char *s = reinterpret_cast<const char *>(p);
	const char *end = s + n;
	for (int i = 0; i < 7 && s < end; i++) {
		const char *e = static_cast<const char *>(
			std::memchr(s, '\n', static_cast<size_t>(end - s)));
		if (!e)
			e = end;
		v[i] = f.Add(s, static_cast<size_t>(e - s));
		s = e < end ? e + 1 : end;
	}

	khttpd_request req{};
	req.method = methods[(flags >> 2) & 3];
	req.range = v[0];
	req.if_range = v[1];
	req.if_match = v[2];
	req.if_none_match = v[3];
	req.if_modified_since = v[4];
	req.if_unmodified_since = v[5];
	const khttpd_str etag = v[6];

	khttpd_range range = {1, 0};
	int rs = khttpd_range_evaluate(&req, fsize, etag, last_modified, &range);
	Check(rs == 200 || rs == 206 || rs == 416, "range status");
	if (rs == 206)
		Check(range.first <= range.last && range.last < fsize,
		      "206 range outside the representation");
	if (req.range.len == 0 || req.method != KHTTPD_METHOD_GET)
		Check(rs == 200, "range without Range or on non-GET");

	int cs = khttpd_conditional(&req, etag, last_modified);
	Check(cs == 200 || cs == 304 || cs == 412, "conditional status");

	// Our own ETag always matches itself both ways.
	khttpd_file_meta meta = {fsize, fsize ^ 0x5a5a, last_modified,
				 static_cast<uint32_t>(last_modified >> 3)};
	char tag[KHTTPD_ETAG_MAX];
	size_t tl = khttpd_etag_format(&meta, tag);
	Check(tl >= 2 && tl <= KHTTPD_ETAG_MAX && tag[0] == '"' &&
	      tag[tl - 1] == '"', "etag format");
	khttpd_request m{};
	m.method = KHTTPD_METHOD_GET;
	m.if_none_match = khttpd_str{tag, tl};
	Check(khttpd_conditional(&m, khttpd_str{tag, tl}, -1) == 304,
	      "own etag vs If-None-Match");
	m.if_none_match = khttpd_str{nullptr, 0};
	m.if_match = khttpd_str{tag, tl};
	Check(khttpd_conditional(&m, khttpd_str{tag, tl}, -1) == 200,
	      "own etag vs If-Match");

	// The head for the result always fits a generous buffer and never
	// writes past an exact one.
	khttpd_response resp{};
	resp.status = rs;
	resp.keep_alive = 1;
	resp.version_minor = 1;
	resp.has_body_length = 1;
	resp.content_length = rs == 206 ? range.last - range.first + 1 : fsize;
	char date[KHTTPD_DATE_LEN];
	khttpd_format_date(last_modified, date);
	resp.date = date;
	resp.last_modified = last_modified;
	resp.etag = khttpd_str{tag, tl};
	resp.accept_ranges = 1;
	resp.content_range = rs != 200;
	resp.range = range;
	resp.complete_length = fsize;
	std::unique_ptr<char[]> hb(new char[512]);
	long hn = khttpd_response_head(hb.get(), 512, &resp);
	Check(hn > 0, "head does not fit 512 bytes");
	std::unique_ptr<char[]> exact(new char[static_cast<size_t>(hn)]);
	Check(khttpd_response_head(exact.get(), static_cast<size_t>(hn) - 1,
				   &resp) == -1, "head fits one byte less");
	Check(khttpd_response_head(exact.get(), static_cast<size_t>(hn),
				   &resp) == hn, "head length differs");
	Check(std::memcmp(exact.get(), hb.get(), static_cast<size_t>(hn)) == 0,
	      "head bytes differ");
	return 0;
}
