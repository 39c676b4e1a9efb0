// SPDX-License-Identifier: GPL-2.0
/*
 * HTML5 directory listings, written in pieces so the caller can stream
 * them (chunked) from a directory iteration without holding the whole
 * page.
 *
 * Names are raw bytes from the file system. A name with a control byte is
 * left out: khttpd_path_normalize() refuses those bytes, so its link could
 * not be followed. In text names are HTML-escaped (& < > " ' as character
 * references). In links they are percent-encoded except for the
 * RFC 3986 unreserved characters, so every byte survives the round trip
 * through khttpd_path_normalize(), and a name containing ':' is
 * prefixed with "./" so no browser can take it for a scheme. Times are
 * "YYYY-MM-DD HH:MM:SS" in UTC.
 *
 * khttpd_listing_write() streams the page a buffer at a time, pulling
 * entries from the transport. It always makes progress because every part
 * has a bounded size that fits an empty buffer (checked at compile time
 * below): a title longer than title_max is shown by its end.
 */
#include "khttpd/serve.h"	/* KHTTPD_LISTING_BUF */
#include "util.h"

namespace {

constexpr size_t name_max = 255;	/* NAME_MAX */

/* Each part of an entry row, in order. */
constexpr char row_open[] = "<tr><td><a href=\"";
constexpr char row_href_end[] = "\">";
constexpr char row_name_end[] = "</a></td><td>";
constexpr char row_size_end[] = "</td><td>";
constexpr char row_close[] = "</td></tr>\n";
constexpr size_t stamp_len = lit_len("YYYY-MM-DD HH:MM:SS");

/*
 * An entry always fits KHTTPD_LISTING_ENTRY_MAX for a name of up to
 * NAME_MAX bytes: the href is at most "./" + 3 bytes a byte + "/", the
 * text at most 6 bytes a byte ("&quot;") + "/", the size at most 20
 * digits. Longer names still work when cap allows.
 */
constexpr size_t entry_worst = lit_len(row_open) + 2 + 3 * name_max + 1 +
			       lit_len(row_href_end) + 6 * name_max + 1 +
			       lit_len(row_name_end) + 20 +
			       lit_len(row_size_end) + stamp_len +
			       lit_len(row_close);
static_assert(entry_worst <= KHTTPD_LISTING_ENTRY_MAX,
	      "a NAME_MAX entry must fit KHTTPD_LISTING_ENTRY_MAX");

/* Longest title shown: "..." and the end of the path beyond it. */
constexpr size_t title_max = 512;
constexpr char ellipsis[] = "...";

constexpr char begin_part1[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width\">\n"
	"<title>Index of ";
constexpr char begin_part2[] = "</title>\n</head>\n<body>\n<h1>Index of ";
constexpr char begin_part3[] =
	"</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th>"
	"<th>Last modified</th></tr></thead>\n<tbody>\n";
constexpr char parent_row[] =
	"<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n";
constexpr char end_part[] = "</tbody>\n</table>\n</body>\n</html>\n";

/* Room for a part in a piece, once chunk framing is set aside. */
constexpr size_t piece_room = KHTTPD_LISTING_BUF - KHTTPD_CHUNK_HEAD_MAX -
			      lit_len("\r\n0\r\n\r\n");

/* The title appears twice, each byte at most 6 bytes escaped. */
constexpr size_t begin_worst = lit_len(begin_part1) + lit_len(begin_part2) +
			       lit_len(begin_part3) + lit_len(parent_row) +
			       2 * 6 * title_max;
static_assert(begin_worst <= piece_room, "a listing's heading must fit");
static_assert(entry_worst <= piece_room, "a NAME_MAX entry must fit");
static_assert(lit_len(end_part) <= piece_room, "a listing's end must fit");


constexpr bool is_unreserved(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

void put_html(writer &w, khttpd_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = static_cast<unsigned char>(s.ptr[i]);
		switch (c) {
		case '&': w.lit("&amp;"); break;
		case '<': w.lit("&lt;"); break;
		case '>': w.lit("&gt;"); break;
		case '"': w.lit("&quot;"); break;
		case '\'': w.lit("&#39;"); break;
		default:
			w.ch(static_cast<char>(c));
			break;
		}
	}
}

/*
 * The title to show: all of dir, or the end of it that title_max allows
 * (after "..."), cut where a UTF-8 character starts.
 */
khttpd_str shown_title(khttpd_str dir, bool *cut)
{
	*cut = dir.len > title_max;
	if (!*cut)
		return dir;
	size_t skip = dir.len - (title_max - lit_len(ellipsis));
	while (skip < dir.len &&
	       (static_cast<unsigned char>(dir.ptr[skip]) & 0xc0) == 0x80)
		skip++;
	return make_str(dir.ptr + skip, dir.len - skip);
}

void put_title(writer &w, khttpd_str title, bool cut)
{
	if (cut)
		w.lit(ellipsis);
	put_html(w, title);
}

void put_href(writer &w, khttpd_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == ':') {
			w.lit("./");
			break;
		}
	}
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = static_cast<unsigned char>(s.ptr[i]);
		if (is_unreserved(c)) {
			w.ch(static_cast<char>(c));
		} else {
			w.ch('%');
			w.ch("0123456789ABCDEF"[c >> 4]);
			w.ch("0123456789ABCDEF"[c & 15]);
		}
	}
}

/* "YYYY-MM-DD HH:MM:SS", UTC, clamped like khttpd_format_date() */
void put_stamp(writer &w, int64_t t)
{
	char out[stamp_len];

	t = clamp_time(t);
	const civil c = civil_from_days(t / 86400);
	const unsigned secs = static_cast<unsigned>(t % 86400);
	const unsigned year = static_cast<unsigned>(c.year);

	put2(out, year / 100);
	put2(out + 2, year % 100);
	out[4] = '-';
	put2(out + 5, c.month);
	out[7] = '-';
	put2(out + 8, c.day);
	out[10] = ' ';
	put_hms(out + 11, secs);
	w.put(out, stamp_len);
}

} /* namespace */

extern "C" long khttpd_listing_begin(char *buf, size_t cap,
				     struct khttpd_str dir, int at_root)
{
	writer w(buf, cap, 0);
	bool cut;
	const khttpd_str title = shown_title(dir, &cut);

	w.lit(begin_part1);
	put_title(w, title, cut);
	w.lit(begin_part2);
	put_title(w, title, cut);
	w.lit(begin_part3);
	if (!at_root)
		w.lit(parent_row);
	return w.result();
}

extern "C" long khttpd_listing_entry(char *buf, size_t cap,
				     const struct khttpd_listing_entry *entry)
{
	writer w(buf, cap, 0);

	for (size_t i = 0; i < entry->name.len; i++)
		if (is_ctl(static_cast<unsigned char>(entry->name.ptr[i])))
			return 0;
	w.lit(row_open);
	put_href(w, entry->name);
	if (entry->is_dir)
		w.ch('/');
	w.lit(row_href_end);
	put_html(w, entry->name);
	if (entry->is_dir)
		w.ch('/');
	w.lit(row_name_end);
	if (entry->is_dir)
		w.ch('-');
	else
		w.num(entry->size);
	w.lit(row_size_end);
	put_stamp(w, entry->mtime);
	w.lit(row_close);
	return w.result();
}

extern "C" long khttpd_listing_end(char *buf, size_t cap)
{
	writer w(buf, cap, 0);

	w.lit(end_part);
	return w.result();
}

