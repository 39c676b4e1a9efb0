// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP-date (RFC 9110 5.6.7) formatting and parsing, in integer arithmetic
 * only; the calendar conversion is in util.h.
 *
 * Parsing accepts IMF-fixdate and the obsolete RFC 850 and asctime() forms
 * recipients must accept. Surrounding whitespace is not accepted (callers
 * pass trimmed field values). Dates outside 1970..9999 are -1.
 */
#include "khttpd/core.h"
#include "util.h"

namespace {

constexpr char day_names[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
constexpr char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};
/* RFC 850 uses full day names. */
struct long_day {
	const char *name;
	size_t len;
};
constexpr long_day long_day_names[7] = {
	{"Sunday", 6}, {"Monday", 6}, {"Tuesday", 7}, {"Wednesday", 9},
	{"Thursday", 8}, {"Friday", 6}, {"Saturday", 8},
};

static_assert(days_from_civil(1970, 1, 1) == 0, "epoch");
static_assert(days_from_civil(2000, 3, 1) == 11017, "2000-03-01");
static_assert(civil_from_days(11016).month == 2 &&
	      civil_from_days(11016).day == 29, "2000-02-29");

constexpr bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(int64_t y, unsigned m)
{
	constexpr unsigned char len[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* A cursor over the date text; every read is bounds-checked. */
struct scanner {
	const char *p;
	const char *end;

	bool lit(char c)
	{
		if (p == end || *p != c)
			return false;
		p++;
		return true;
	}

	bool word(const char *w, size_t n)
	{
		if (static_cast<size_t>(end - p) < n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (p[i] != w[i])
				return false;
		p += n;
		return true;
	}

	/* exactly n digits */
	bool num(size_t n, unsigned *out)
	{
		unsigned v = 0;
		if (static_cast<size_t>(end - p) < n)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (!is_digit(static_cast<unsigned char>(p[i])))
				return false;
			v = v * 10 + static_cast<unsigned>(p[i] - '0');
		}
		p += n;
		*out = v;
		return true;
	}

	bool short_day()
	{
		for (const auto &d : day_names)
			if (word(d, 3))
				return true;
		return false;
	}

	bool long_day()
	{
		for (const auto &d : long_day_names)
			if (word(d.name, d.len))
				return true;
		return false;
	}

	bool month(unsigned *m)
	{
		for (unsigned i = 0; i < 12; i++) {
			if (word(month_names[i], 3)) {
				*m = i + 1;
				return true;
			}
		}
		return false;
	}

	/* hour ":" minute ":" second */
	bool time_of_day(unsigned *h, unsigned *mi, unsigned *s)
	{
		return num(2, h) && lit(':') && num(2, mi) && lit(':') &&
		       num(2, s);
	}
};

} /* namespace */

extern "C" void khttpd_format_date(int64_t unix_time,
				   char out[KHTTPD_DATE_LEN])
{
	unix_time = clamp_time(unix_time);

	const int64_t days = unix_time / 86400;
	const unsigned secs = static_cast<unsigned>(unix_time % 86400);
	const civil c = civil_from_days(days);
	const unsigned wday = static_cast<unsigned>((days + 4) % 7); /* Thu */
	const unsigned year = static_cast<unsigned>(c.year);

	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
	copy_bytes(out, day_names[wday], 3);
	out[3] = ',';
	out[4] = ' ';
	put2(out + 5, c.day);
	out[7] = ' ';
	copy_bytes(out + 8, month_names[c.month - 1], 3);
	out[11] = ' ';
	put2(out + 12, year / 100);
	put2(out + 14, year % 100);
	out[16] = ' ';
	put_hms(out + 17, secs);
	copy_bytes(out + 25, " GMT", 4);
}

extern "C" int khttpd_parse_date(const char *s, size_t len, int64_t *out)
{
	scanner sc{s, s + len};
	unsigned day = 0, mon = 0, year = 0, h = 0, mi = 0, sec = 0;
	bool ok;

	if (sc.short_day() && sc.lit(',')) {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		ok = sc.lit(' ') && sc.num(2, &day) && sc.lit(' ') &&
		     sc.month(&mon) && sc.lit(' ') && sc.num(4, &year) &&
		     sc.lit(' ') && sc.time_of_day(&h, &mi, &sec) &&
		     sc.word(" GMT", 4);
	} else if ((sc = scanner{s, s + len}).long_day()) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		ok = sc.lit(',') && sc.lit(' ') && sc.num(2, &day) &&
		     sc.lit('-') && sc.month(&mon) && sc.lit('-') &&
		     sc.num(2, &year) && sc.lit(' ') &&
		     sc.time_of_day(&h, &mi, &sec) && sc.word(" GMT", 4);
		/* RFC 9110: a two-digit year more than 50 years ahead is past */
		year += year < 70 ? 2000 : 1900;
	} else if ((sc = scanner{s, s + len}).short_day()) {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		ok = sc.lit(' ') && sc.month(&mon) && sc.lit(' ');
		if (ok && sc.lit(' '))
			ok = sc.num(1, &day);
		else
			ok = ok && sc.num(2, &day);
		ok = ok && sc.lit(' ') && sc.time_of_day(&h, &mi, &sec) &&
		     sc.lit(' ') && sc.num(4, &year);
	} else {
		return -1;
	}

	if (!ok || sc.p != sc.end)
		return -1;
	if (year < 1970 || day < 1 || day > days_in_month(year, mon) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (sec == 60)	/* leap second: Unix time has none */
		sec = 59;
	*out = days_from_civil(year, mon, day) * 86400 +
	       static_cast<int64_t>(h * 3600 + mi * 60 + sec);
	return 0;
}
