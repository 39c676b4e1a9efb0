/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small freestanding helpers shared by the core's translation units.
 *
 * Everything here lives in an unnamed namespace on purpose: an inline
 * function with external linkage emitted out of line in two objects ends up
 * in a COMDAT section, and the module link then trips over a __mcount_loc
 * reference into the discarded copy. Internal linkage gives each object its
 * own copy and avoids that. Functions are constexpr or class members (hence
 * inline), so unused ones draw no -Wunused-function warning.
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

/* The methods khttpd implements, as Allow lists them. */
constexpr khttpd_str khttpd_allow = lit_str("GET, HEAD, OPTIONS");

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

/*
 * Calendar conversion (Howard Hinnant's days_from_civil / civil_from_days),
 * exact for the proleptic Gregorian calendar, integer arithmetic only.
 */
struct civil {
	int64_t year;
	unsigned month;	/* 1..12 */
	unsigned day;	/* 1..31 */
};

constexpr civil civil_from_days(int64_t z)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const uint64_t doe = static_cast<uint64_t>(z - era * 146097);
	const uint64_t yoe =
		(doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const uint64_t mp = (5 * doy + 2) / 153;
	const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
	const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
	const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
	return civil{y, m, d};
}

constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const uint64_t yoe = static_cast<uint64_t>(y - era * 400);
	const uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/* The range khttpd_format_date() clamps to. */
constexpr int64_t max_time = 253402300799;	/* 9999-12-31 23:59:59 */

constexpr int64_t clamp_time(int64_t t)
{
	return t < 0 ? 0 : t > max_time ? max_time : t;
}

/* Two decimal digits of v (mod 100). */
constexpr void put2(char *p, unsigned v)
{
	p[0] = static_cast<char>('0' + v / 10 % 10);
	p[1] = static_cast<char>('0' + v % 10);
}

/* "HH:MM:SS" (8 bytes) for the seconds into a day. */
constexpr void put_hms(char *p, unsigned secs)
{
	put2(p, secs / 3600);
	p[2] = ':';
	put2(p + 3, secs / 60 % 60);
	p[5] = ':';
	put2(p + 6, secs % 60);
}

/*
 * A bounded output cursor: never stores at or past cap. Once something
 * does not fit it stays failed, and result() reports -1 instead of a
 * truncated length.
 */
class writer {
public:
	constexpr writer(char *buf, size_t cap, size_t pos)
		: buf_(buf), cap_(cap), pos_(pos) {}

	constexpr void put(const char *s, size_t n)
	{
		if (!ok_ || n > cap_ - pos_) {
			ok_ = false;
			return;
		}
		copy_bytes(buf_ + pos_, s, n);
		pos_ += n;
	}

	constexpr void put(khttpd_str s) { put(s.ptr, s.len); }

	constexpr void ch(char c) { put(&c, 1); }

	template <size_t N>
	constexpr void lit(const char (&s)[N]) { put(s, N - 1); }

	constexpr void num(uint64_t v)
	{
		char tmp[20];
		char *p = format_u64(v, tmp);
		put(p, static_cast<size_t>(tmp + 20 - p));
	}

	/* lower-case hex, no leading zeros ("0" for 0) */
	constexpr void hex(uint64_t v)
	{
		char tmp[16];
		char *p = tmp + 16;
		do {
			*--p = "0123456789abcdef"[v & 15];
			v >>= 4;
		} while (v);
		put(p, static_cast<size_t>(tmp + 16 - p));
	}

	void date(int64_t t)
	{
		char d[KHTTPD_DATE_LEN];
		khttpd_format_date(t, d);
		put(d, KHTTPD_DATE_LEN);
	}

	/* "Name: value\r\n" */
	template <size_t N>
	constexpr void field(const char (&name)[N], khttpd_str value)
	{
		lit(name);
		put(value);
		lit("\r\n");
	}

	constexpr bool ok() const { return ok_; }
	constexpr size_t pos() const { return pos_; }
	constexpr long result() const
	{
		return ok_ ? static_cast<long>(pos_) : -1;
	}

private:
	char *buf_;
	size_t cap_;
	size_t pos_;
	bool ok_ = true;
};

/* 1*DIGIT filling all of p[0..n); false when empty, not digits or too big. */
constexpr bool parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = static_cast<unsigned char>(p[i]);
		if (!is_digit(c))
			return false;
		unsigned d = c - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

} /* namespace */

#endif /* KHTTPD_CORE_UTIL_H */
