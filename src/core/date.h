/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP-date parsing, not (yet) part of the core ABI in
 * include/khttpd/core.h; it is C-compatible so it can move there when the
 * kernel side grows If-Modified-Since support.
 */
#ifndef KHTTPD_CORE_DATE_H
#define KHTTPD_CORE_DATE_H

#include "khttpd/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parse an HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete
 * RFC 850 and asctime() forms recipients must accept. Surrounding
 * whitespace is not accepted. Returns 0 and stores the Unix time in *out,
 * or -1 when s[0..len) is not a valid date in 1970..9999.
 */
int khttpd_parse_date(const char *s, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KHTTPD_CORE_DATE_H */
