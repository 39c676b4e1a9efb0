// SPDX-License-Identifier: GPL-2.0
/*
 * Range requests (RFC 9110 14) for a single byte range.
 *
 * Policy, beyond the letter of the RFC (see also core.h):
 *  - Only GET: Range on any other method (HEAD included) is ignored, as
 *    RFC 9110 14.2 requires.
 *  - If-Range is evaluated first, so a non-matching If-Range gives 200
 *    even when the range would be unsatisfiable. An entity-tag must be
 *    strong and equal the current (strong) one; a date must equal
 *    last_modified to the second. Whether a date is strong enough to
 *    compare at all (RFC 9110 13.1.5) is the caller's to say: it passes
 *    last_modified = -1 for a Last-Modified that is not, and the
 *    condition is then false.
 *  - Unit "bytes" case-insensitively, OWS allowed around '=' and around
 *    the commas of the range-set; empty list elements are skipped.
 *  - Any syntax error in any range-spec, a first-pos above last-pos, or a
 *    number above UINT64_MAX makes the whole field invalid: 200.
 *  - More than one range-spec: 200 (no multipart/byteranges).
 *  - One range: a-b with b past the end is clamped; a >= size is
 *    unsatisfiable (416); "-0" is unsatisfiable; a suffix longer than the
 *    file selects all of it (206 0..size-1). With size 0 every valid
 *    range is unsatisfiable.
 */
#include "khttpd/core.h"
#include "etag.h"
#include "util.h"

namespace {

struct range_spec {
	bool suffix;		/* "-n" */
	bool open;		/* "a-" */
	uint64_t first;		/* a, or n for a suffix */
	uint64_t last;		/* b */
};

/* int-range = first-pos "-" [ last-pos ]; suffix-range = "-" suffix-length */
bool parse_spec(const char *p, size_t n, range_spec *spec)
{
	size_t dash = 0;

	while (dash < n && p[dash] != '-')
		dash++;
	if (dash == n)
		return false;
	spec->suffix = dash == 0;
	spec->open = false;
	if (spec->suffix)
		return parse_u64(p + 1, n - 1, &spec->first);
	if (!parse_u64(p, dash, &spec->first))
		return false;
	if (dash + 1 == n) {
		spec->open = true;
		return true;
	}
	return parse_u64(p + dash + 1, n - dash - 1, &spec->last) &&
	       spec->first <= spec->last;
}

/*
 * ranges-specifier = range-unit "=" range-set, for unit "bytes". Returns
 * the number of range-specs (the first in *spec), or -1 when invalid or
 * not in bytes.
 */
int parse_ranges(khttpd_str v, range_spec *spec)
{
	const char *p = v.ptr;
	const char *end = v.ptr + v.len;
	const char *eq = p;
	int count = 0;

	while (eq < end && *eq != '=')
		eq++;
	if (eq == end)
		return -1;
	const char *ue = eq;
	while (ue > p && is_ows(static_cast<unsigned char>(ue[-1])))
		ue--;
	if (!eq_nocase(p, static_cast<size_t>(ue - p), "bytes"))
		return -1;

	p = eq + 1;
	while (p < end) {
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		const char *e = p;
		if (p < end)
			p++;
		while (s < e && is_ows(static_cast<unsigned char>(*s)))
			s++;
		while (e > s && is_ows(static_cast<unsigned char>(e[-1])))
			e--;
		if (s == e)
			continue;	/* empty list element */
		range_spec tmp;
		if (!parse_spec(s, static_cast<size_t>(e - s), &tmp))
			return -1;
		if (count++ == 0)
			*spec = tmp;
	}
	return count ? count : -1;
}

bool if_range_matches(khttpd_str v, khttpd_str etag, int64_t last_modified)
{
	if (v.ptr[0] == '"' || (v.len >= 2 && v.ptr[0] == 'W' &&
				v.ptr[1] == '/')) {
		etag_view theirs{}, ours{};
		return parse_one_etag(v, &theirs) &&
		       parse_one_etag(etag, &ours) &&
		       etag_match(theirs, ours, true);
	}
	int64_t t;
	return last_modified >= 0 &&
	       khttpd_parse_date(v.ptr, v.len, &t) == 0 && t == last_modified;
}

} /* namespace */

extern "C" int khttpd_range_evaluate(const struct khttpd_request *req,
				     uint64_t size, struct khttpd_str etag,
				     int64_t last_modified,
				     struct khttpd_range *range)
{
	range_spec spec;

	if (req->range.len == 0 || req->method != KHTTPD_METHOD_GET)
		return 200;
	if (req->if_range.len &&
	    !if_range_matches(req->if_range, etag, last_modified))
		return 200;
	if (parse_ranges(req->range, &spec) != 1)
		return 200;

	if (spec.suffix) {
		if (spec.first == 0 || size == 0)
			return 416;
		range->first = spec.first >= size ? 0 : size - spec.first;
		range->last = size - 1;
		return 206;
	}
	if (spec.first >= size)
		return 416;
	range->first = spec.first;
	range->last = spec.open || spec.last >= size ? size - 1 : spec.last;
	return 206;
}
