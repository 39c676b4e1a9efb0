/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entity-tag syntax and comparison (RFC 9110 8.8.3), shared by the
 * precondition and range code. Unnamed namespace for the reason util.h
 * gives.
 */
#ifndef KHTTPD_CORE_ETAG_H
#define KHTTPD_CORE_ETAG_H

#include "khttpd/core.h"
#include "util.h"

namespace {

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE */
struct etag_view {
	const char *opaque;	/* the quoted part, quotes included */
	size_t len;
	bool weak;
};

/* etagc = %x21 / %x23-7E / obs-text */
constexpr bool is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/*
 * Parse one entity-tag at p (before end). Returns the position after it,
 * or nullptr when there is none.
 */
constexpr const char *parse_etag(const char *p, const char *end,
				 etag_view *tag)
{
	tag->weak = false;
	if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
		tag->weak = true;
		p += 2;
	}
	if (p == end || *p != '"')
		return nullptr;
	const char *open = p++;
	while (p < end && is_etagc(static_cast<unsigned char>(*p)))
		p++;
	if (p == end || *p != '"')
		return nullptr;
	p++;
	tag->opaque = open;
	tag->len = static_cast<size_t>(p - open);
	return p;
}

/* A whole value that is exactly one entity-tag. */
constexpr bool parse_one_etag(khttpd_str s, etag_view *tag)
{
	return s.len && parse_etag(s.ptr, s.ptr + s.len, tag) == s.ptr + s.len;
}

constexpr bool same_opaque(const etag_view &a, const etag_view &b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (a.opaque[i] != b.opaque[i])
			return false;
	return true;
}

/* RFC 9110 8.8.3.2: strong comparison needs both tags strong. */
constexpr bool etag_match(const etag_view &a, const etag_view &b, bool strong)
{
	if (strong && (a.weak || b.weak))
		return false;
	return same_opaque(a, b);
}

/*
 * If-Match / If-None-Match value: "*" or #entity-tag (OWS around commas,
 * empty elements allowed). True when it is "*" or one of the tags matches
 * etag; a malformed list never matches, nor does anything but "*" when
 * etag itself is not a valid entity-tag.
 */
constexpr bool etag_list_match(khttpd_str list, khttpd_str etag, bool strong)
{
	const char *p = list.ptr;
	const char *end = list.ptr + list.len;
	etag_view cur{}, tag{};
	bool have_cur = parse_one_etag(etag, &cur);
	bool found = false;

	while (p < end && is_ows(static_cast<unsigned char>(*p)))
		p++;
	while (end > p && is_ows(static_cast<unsigned char>(end[-1])))
		end--;
	if (end - p == 1 && *p == '*')
		return true;

	while (p < end) {
		if (is_ows(static_cast<unsigned char>(*p)) || *p == ',') {
			p++;
			continue;
		}
		p = parse_etag(p, end, &tag);
		if (!p)
			return false;
		if (have_cur && etag_match(tag, cur, strong))
			found = true;
		while (p < end && is_ows(static_cast<unsigned char>(*p)))
			p++;
		if (p < end && *p != ',')
			return false;
	}
	return found;
}

} /* namespace */

#endif /* KHTTPD_CORE_ETAG_H */
