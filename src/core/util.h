/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small freestanding helpers shared by the core's translation units.
 *
 * Everything here lives in an unnamed namespace on purpose: an inline
 * function with external linkage emitted out of line in two objects ends up
 * in a COMDAT section, and the module link then trips over a __mcount_loc
 * reference into the discarded copy. Internal linkage gives each object its
 * own copy and avoids that. All functions are constexpr (hence inline), so
 * unused ones draw no -Wunused-function warning.
 *
 * Only <stddef.h>/<stdint.h> (via core.h): no libstdc++, no libc.
 */
#ifndef KHTTPD_CORE_UTIL_H
#define KHTTPD_CORE_UTIL_H

#include "khttpd/core.h"

namespace {

constexpr bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

constexpr bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

constexpr unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

/* RFC 9110 5.6.2 tchar. */
constexpr bool is_tchar(unsigned char c)
{
	if (is_digit(c) || is_alpha(c))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return true;
	default:
		return false;
	}
}

/* CTLs per RFC 5234: 0x00-0x1F and DEL. */
constexpr bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

constexpr bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a string literal, minus its NUL. */
template <size_t N>
constexpr size_t lit_len(const char (&)[N])
{
	return N - 1;
}

constexpr khttpd_str make_str(const char *p, size_t n)
{
	return khttpd_str{p, n};
}

template <size_t N>
constexpr khttpd_str lit_str(const char (&s)[N])
{
	return khttpd_str{s, N - 1};
}

/* Case-insensitive (ASCII) equality of p[0..n) with a literal. */
template <size_t N>
constexpr bool eq_nocase(const char *p, size_t n, const char (&lit)[N])
{
	if (n != N - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (to_lower(static_cast<unsigned char>(p[i])) !=
		    to_lower(static_cast<unsigned char>(lit[i])))
			return false;
	return true;
}

/* Case-sensitive equality of p[0..n) with a literal. */
template <size_t N>
constexpr bool eq_exact(const char *p, size_t n, const char (&lit)[N])
{
	if (n != N - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] != lit[i])
			return false;
	return true;
}

/* Case-insensitive prefix test against a literal. */
template <size_t N>
constexpr bool starts_with_nocase(const char *p, size_t n,
				  const char (&lit)[N])
{
	if (n < N - 1)
		return false;
	return eq_nocase(p, N - 1, lit);
}

/* Explicit byte loop: never lowered to a libc call we did not ask for. */
constexpr void copy_bytes(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

/*
 * Decimal digits of v into tmp (filled from the end); returns the start.
 * tmp must hold at least 20 bytes (UINT64_MAX has 20 digits).
 */
constexpr char *format_u64(uint64_t v, char (&tmp)[20])
{
	char *p = tmp + 20;
	do {
		*--p = static_cast<char>('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

} /* namespace */

#endif /* KHTTPD_CORE_UTIL_H */
