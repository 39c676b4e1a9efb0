// SPDX-License-Identifier: GPL-2.0
/*
 * Validators and preconditions (RFC 9110 8.8 and 13).
 *
 * The entity tag is strong: a file's bytes are what they were as long as
 * inode, size and mtime (to the nanosecond) are unchanged, which is the
 * assumption every static file server makes.
 *
 * Policy, beyond the letter of the RFC (see also core.h):
 *  - A conditional field with an empty value counts as absent.
 *  - A malformed entity-tag list matches nothing: If-Match then fails
 *    (412), If-None-Match is satisfied (the request goes on).
 *  - last_modified < 0 means "unknown" (no Last-Modified is sent), and the
 *    date preconditions are then ignored, like unparseable dates.
 *  - If-None-Match that matches answers 304 for GET and HEAD, 412 for
 *    other methods (RFC 9110 13.1.2); If-Modified-Since is only evaluated
 *    for GET and HEAD (13.1.3).
 */
#include "khttpd/core.h"
#include "etag.h"
#include "util.h"

namespace {

/* "ino-size-sec" then nsec as exactly 8 hex digits: fixed width keeps
 * the sec/nsec boundary unambiguous. Worst case 2 + 16 + 1 + 16 + 1 + 16 +
 * 8 bytes. */
constexpr size_t etag_max_len = 2 + 16 + 1 + 16 + 1 + 16 + 8;
static_assert(etag_max_len <= KHTTPD_ETAG_MAX, "ETag must fit");

/* The date in s, if it is one; false for absent or unparseable ones. */
bool field_date(khttpd_str s, int64_t *t)
{
	return s.len && khttpd_parse_date(s.ptr, s.len, t) == 0;
}

} /* namespace */

extern "C" size_t khttpd_etag_format(const struct khttpd_file_meta *meta,
				     char out[KHTTPD_ETAG_MAX])
{
	writer w(out, KHTTPD_ETAG_MAX, 0);
	const uint32_t nsec = meta->mtime_nsec;

	w.lit("\"");
	w.hex(meta->ino);
	w.lit("-");
	w.hex(meta->size);
	w.lit("-");
	w.hex(static_cast<uint64_t>(meta->mtime_sec));
	for (int shift = 28; shift >= 0; shift -= 4)
		w.ch("0123456789abcdef"[(nsec >> shift) & 15]);
	w.lit("\"");
	return w.pos();	/* always fits: see etag_max_len */
}

extern "C" int khttpd_conditional(const struct khttpd_request *req,
				  struct khttpd_str etag,
				  int64_t last_modified)
{
	const bool get_or_head = req->method == KHTTPD_METHOD_GET ||
				 req->method == KHTTPD_METHOD_HEAD;
	int64_t t;

	/* 13.2.2 steps 1 and 2 */
	if (req->if_match.len) {
		if (!etag_list_match(req->if_match, etag, true))
			return 412;
	} else if (last_modified >= 0 &&
		   field_date(req->if_unmodified_since, &t) &&
		   last_modified > t) {
		return 412;
	}

	/* steps 3 and 4 */
	if (req->if_none_match.len) {
		if (etag_list_match(req->if_none_match, etag, false))
			return get_or_head ? 304 : 412;
	} else if (get_or_head && last_modified >= 0 &&
		   field_date(req->if_modified_since, &t) &&
		   last_modified <= t) {
		return 304;
	}
	return 200;
}
