// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: khttpd_parse_request() and khttpd_parse_overflow_status()
// on arbitrary bytes. Checks the return contract, that every view points
// into the head, and that no strict prefix of an accepted head is complete
// or an error (the parser's incremental contract). The validators are then
// run on whatever the parser accepted.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "khttpd/core.h"
#include "check.h"

namespace {

// A view lies within buf[0..len) (or is empty).
bool Inside(khttpd_str s, const char *buf, size_t len)
{
	if (s.len == 0)
		return true;
	return s.ptr >= buf && s.len <= len &&
	       s.ptr <= buf + (len - s.len);
}

long ParseCopy(const char *data, size_t n, khttpd_request *req)
{
	// Exactly n bytes on the heap, so ASan sees any read past the end.
	std::unique_ptr<char[]> copy(new char[n ? n : 1]);
	if (n)
		std::memcpy(copy.get(), data, n);
	return khttpd_parse_request(copy.get(), n, req);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = reinterpret_cast<const char *>(data);
	khttpd_request req;

	int ov = khttpd_parse_overflow_status(buf, size);
	Check(ov == 414 || ov == 431, "overflow status");

	long r = khttpd_parse_request(buf, size, &req);
	Check(r == 0 || r == -400 || r == -414 || r == -431 || r == -501 ||
	      r == -505 || (r > 0 && static_cast<size_t>(r) <= size),
	      "return value out of range");
	if (r <= 0)
		return 0;

	const size_t head = static_cast<size_t>(r);
	Check(Inside(req.method_name, buf, head), "method_name");
	Check(Inside(req.target, buf, head), "target");
	// Absolute-form without a path gets the literal "/".
	Check(Inside(req.path, buf, head) ||
	      (req.path.len == 1 && req.path.ptr[0] == '/'), "path");
	Check(req.path.len > 0, "empty path");
	Check(Inside(req.query, buf, head), "query");
	Check(Inside(req.host, buf, head), "host");
	Check(Inside(req.if_match, buf, head), "if_match");
	Check(Inside(req.if_none_match, buf, head), "if_none_match");
	Check(Inside(req.if_modified_since, buf, head), "if_modified_since");
	Check(Inside(req.if_unmodified_since, buf, head), "if_unmodified_since");
	Check(Inside(req.range, buf, head), "range");
	Check(Inside(req.if_range, buf, head), "if_range");
	Check(req.version_minor == 0 || req.version_minor == 1, "version");
	Check(req.keep_alive == 0 || req.keep_alive == 1, "keep_alive");
	Check(req.accept_gzip == 0 || req.accept_gzip == 1, "accept_gzip");
	Check(req.method >= KHTTPD_METHOD_UNKNOWN &&
	      req.method <= KHTTPD_METHOD_PATCH, "method");
	Check(req.num_headers <= KHTTPD_MAX_HEADERS, "num_headers");
	Check(!(req.chunked && req.has_content_length), "TE with CL");

	// The same head with any trailing bytes cut off parses the same.
	khttpd_request again;
	Check(ParseCopy(buf, head, &again) == r, "head alone");

	// Every strict prefix is incomplete. Cap the quadratic work: all of
	// them for small heads, else the first and last 64 and ~512 between.
	const size_t stride = head <= 1024 ? 1 : head / 512;
	for (size_t n = 0; n < head;) {
		khttpd_request p;
		Check(ParseCopy(buf, n, &p) == 0, "strict prefix not incomplete");
		if (n < 64 || head - n <= 64)
			n++;
		else
			n = n + stride < head - 64 ? n + stride : head - 64;
	}

	// The validators on what the parser produced.
	static const char etag[] = "\"1-2-3\"";
	const khttpd_str tag = {etag, sizeof(etag) - 1};
	int c = khttpd_conditional(&req, tag, 784111777);
	Check(c == 200 || c == 304 || c == 412, "conditional");
	khttpd_range range;
	int rs = khttpd_range_evaluate(&req, 1000, tag, 784111777, &range);
	Check(rs == 200 || rs == 416 ||
	      (rs == 206 && range.first <= range.last && range.last < 1000),
	      "range");
	return 0;
}
