// SPDX-License-Identifier: GPL-2.0
/*
 * Whole-number option values for the echo tools, checked in full: "12x",
 * "", "-1" and values out of range are refused rather than read as what
 * strtoul makes of them (0, or a huge number), so a typo never starts a
 * server on a port nobody asked for.
 */
#pragma once

#include <cerrno>
#include <cstdlib>

namespace tools {

// The value of s in [lo, hi] into *v; false when s is not exactly that.
inline bool parse_number(const char *s, unsigned long lo, unsigned long hi,
			 unsigned long *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long n = strtoul(s, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return false;
	*v = n;
	return true;
}

} // namespace tools
