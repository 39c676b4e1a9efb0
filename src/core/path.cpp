// SPDX-License-Identifier: GPL-2.0
/*
 * Request path -> path relative to the document root.
 *
 * The target is percent-decoded exactly once ("%252e" becomes the literal
 * name "%2e", never "."), segment by segment, so a decoded byte can never
 * act as a separator: %2F is refused outright. Dot segments are recognised
 * after decoding ("%2e%2e" is ".."), so the output never contains a "."
 * or ".." segment and never climbs above the root: a ".." at the root is
 * 404 rather than silently clamped, since no well-behaved client sends it.
 *
 * The output is "seg/seg/seg": no leading, trailing or repeated '/'. A
 * segment that does not fit in cap is remembered as "virtual" so that a
 * later ".." can still cancel it; only a result that really does not fit
 * is 414.
 *
 * '\\' is an ordinary byte (Linux paths), as is obs-text (0x80-0xFF).
 */
#include "khttpd/core.h"
#include "util.h"

namespace {

/*
 * Decode the byte at s[*j] (raw or a %XX escape, which must end before
 * limit), advancing *j. Returns the byte or a negative status.
 */
int decode_one(const char *s, size_t limit, size_t *j)
{
	unsigned char c = static_cast<unsigned char>(s[*j]);

	if (c == '%') {
		if (limit - *j < 3)
			return -400;
		int hi = hex_value(static_cast<unsigned char>(s[*j + 1]));
		int lo = hex_value(static_cast<unsigned char>(s[*j + 2]));
		if (hi < 0 || lo < 0)
			return -400;
		c = static_cast<unsigned char>(hi << 4 | lo);
		if (c == '/')
			return -400;
		*j += 3;
	} else {
		*j += 1;
	}
	/* covers %00 and every other control byte, raw or encoded */
	if (is_ctl(c))
		return -400;
	return c;
}

} /* namespace */

extern "C" long khttpd_path_normalize(const char *path, size_t len,
				      char *out, size_t cap, int *dir_slash)
{
	size_t olen = 0;	/* bytes of out in use */
	size_t virt = 0;	/* segments that did not fit in out */
	bool is_dir = true;	/* the path names a directory ("/", "x/", "x/.") */
	size_t i = 0;

	if (dir_slash)
		*dir_slash = 0;
	if (len == 0 || path[0] != '/')
		return -400;

	while (i < len) {
		while (i < len && path[i] == '/')
			i++;
		if (i == len) {
			is_dir = true;
			break;
		}
		size_t seg = i;
		while (i < len && path[i] != '/')
			i++;

		/* First pass: validate, measure, spot dot segments. */
		size_t dlen = 0;
		bool all_dots = true;
		for (size_t j = seg; j < i; dlen++) {
			int c = decode_one(path, i, &j);
			if (c < 0)
				return c;
			if (c != '.')
				all_dots = false;
		}

		if (all_dots && dlen == 1) {
			is_dir = true;
			continue;
		}
		if (all_dots && dlen == 2) {
			is_dir = true;
			if (virt) {
				virt--;
				continue;
			}
			if (olen == 0)
				return -404;
			while (olen > 0 && out[olen - 1] != '/')
				olen--;
			if (olen > 0)
				olen--;	/* the separator before the segment */
			continue;
		}

		is_dir = false;
		size_t sep = olen ? 1 : 0;
		if (virt || cap - olen < sep || cap - olen - sep < dlen) {
			virt++;
			continue;
		}
		if (sep)
			out[olen++] = '/';
		for (size_t j = seg; j < i;)
			out[olen++] = static_cast<char>(decode_one(path, i, &j));
	}

	if (virt)
		return -414;
	if (olen < cap)
		out[olen] = '\0';
	if (dir_slash)
		*dir_slash = is_dir;
	return static_cast<long>(olen);
}
