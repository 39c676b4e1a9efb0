// SPDX-License-Identifier: GPL-2.0
/*
 * File name -> MIME type, by the extension after the last '.' of the last
 * path component. A leading dot does not start an extension (".bashrc"
 * has none). Textual types carry "; charset=utf-8".
 *
 * The table is sorted by extension (checked at compile time) and searched
 * by binary search on the lower-cased extension.
 */
#include "khttpd/core.h"
#include "util.h"

namespace {

#define UTF8 "; charset=utf-8"

struct mime_entry {
	const char *ext;
	size_t ext_len;
	const char *type;
	size_t type_len;
};

template <size_t N, size_t M>
constexpr mime_entry E(const char (&ext)[N], const char (&type)[M])
{
	return mime_entry{ext, N - 1, type, M - 1};
}

constexpr mime_entry mime_table[] = {
	E("3gp", "video/3gpp"),
	E("7z", "application/x-7z-compressed"),
	E("aac", "audio/aac"),
	E("apng", "image/apng"),
	E("asc", "text/plain" UTF8),
	E("atom", "application/atom+xml" UTF8),
	E("avi", "video/x-msvideo"),
	E("avif", "image/avif"),
	E("bmp", "image/bmp"),
	E("bz2", "application/x-bzip2"),
	E("c", "text/plain" UTF8),
	E("cc", "text/plain" UTF8),
	E("cjs", "text/javascript" UTF8),
	E("conf", "text/plain" UTF8),
	E("cpp", "text/plain" UTF8),
	E("css", "text/css" UTF8),
	E("csv", "text/csv" UTF8),
	E("deb", "application/vnd.debian.binary-package"),
	E("diff", "text/plain" UTF8),
	E("doc", "application/msword"),
	E("docx", "application/vnd.openxmlformats-officedocument."
		  "wordprocessingml.document"),
	E("eot", "application/vnd.ms-fontobject"),
	E("epub", "application/epub+zip"),
	E("flac", "audio/flac"),
	E("gif", "image/gif"),
	E("go", "text/plain" UTF8),
	E("gz", "application/gzip"),
	E("h", "text/plain" UTF8),
	E("hpp", "text/plain" UTF8),
	E("htm", "text/html" UTF8),
	E("html", "text/html" UTF8),
	E("ico", "image/vnd.microsoft.icon"),
	E("ics", "text/calendar" UTF8),
	E("ini", "text/plain" UTF8),
	E("iso", "application/x-iso9660-image"),
	E("jar", "application/java-archive"),
	E("jpeg", "image/jpeg"),
	E("jpg", "image/jpeg"),
	E("js", "text/javascript" UTF8),
	E("json", "application/json" UTF8),
	E("jsonld", "application/ld+json" UTF8),
	E("jxl", "image/jxl"),
	E("log", "text/plain" UTF8),
	E("m3u8", "application/vnd.apple.mpegurl"),
	E("m4a", "audio/mp4"),
	E("m4v", "video/mp4"),
	E("map", "application/json" UTF8),
	E("md", "text/markdown" UTF8),
	E("mid", "audio/midi"),
	E("midi", "audio/midi"),
	E("mjs", "text/javascript" UTF8),
	E("mkv", "video/x-matroska"),
	E("mov", "video/quicktime"),
	E("mp3", "audio/mpeg"),
	E("mp4", "video/mp4"),
	E("mpd", "application/dash+xml"),
	E("mpeg", "video/mpeg"),
	E("mpg", "video/mpeg"),
	E("odp", "application/vnd.oasis.opendocument.presentation"),
	E("ods", "application/vnd.oasis.opendocument.spreadsheet"),
	E("odt", "application/vnd.oasis.opendocument.text"),
	E("oga", "audio/ogg"),
	E("ogg", "audio/ogg"),
	E("ogv", "video/ogg"),
	E("opus", "audio/opus"),
	E("otf", "font/otf"),
	E("patch", "text/plain" UTF8),
	E("pdf", "application/pdf"),
	E("png", "image/png"),
	E("ppt", "application/vnd.ms-powerpoint"),
	E("pptx", "application/vnd.openxmlformats-officedocument."
		  "presentationml.presentation"),
	E("py", "text/plain" UTF8),
	E("rar", "application/vnd.rar"),
	E("rs", "text/plain" UTF8),
	E("rss", "application/rss+xml" UTF8),
	E("rtf", "application/rtf"),
	E("sh", "text/plain" UTF8),
	E("sig", "application/pgp-signature"),
	E("svg", "image/svg+xml" UTF8),
	E("svgz", "image/svg+xml"),
	E("tar", "application/x-tar"),
	E("tgz", "application/gzip"),
	E("tif", "image/tiff"),
	E("tiff", "image/tiff"),
	E("toml", "text/plain" UTF8),
	E("ttf", "font/ttf"),
	E("txt", "text/plain" UTF8),
	E("vtt", "text/vtt" UTF8),
	E("wasm", "application/wasm"),
	E("wav", "audio/wav"),
	E("weba", "audio/webm"),
	E("webm", "video/webm"),
	E("webmanifest", "application/manifest+json" UTF8),
	E("webp", "image/webp"),
	E("woff", "font/woff"),
	E("woff2", "font/woff2"),
	E("xhtml", "application/xhtml+xml" UTF8),
	E("xls", "application/vnd.ms-excel"),
	E("xlsx", "application/vnd.openxmlformats-officedocument."
		  "spreadsheetml.sheet"),
	E("xml", "application/xml" UTF8),
	E("xz", "application/x-xz"),
	E("yaml", "text/plain" UTF8),
	E("yml", "text/plain" UTF8),
	E("zip", "application/zip"),
	E("zst", "application/zstd"),
};

#undef UTF8

constexpr size_t mime_count = sizeof(mime_table) / sizeof(mime_table[0]);

/* Longest extension we keep a lower-cased copy of. */
constexpr size_t max_ext_len = 16;

/* Byte-wise comparison of a with b (lower-case already), like memcmp. */
constexpr int compare(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = static_cast<unsigned char>(a[i]);
		unsigned char y = static_cast<unsigned char>(b[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

constexpr bool table_is_valid()
{
	for (size_t i = 0; i < mime_count; i++) {
		const mime_entry &e = mime_table[i];
		if (e.ext_len == 0 || e.ext_len > max_ext_len)
			return false;
		for (size_t k = 0; k < e.ext_len; k++)
			if (to_lower(static_cast<unsigned char>(e.ext[k])) !=
			    static_cast<unsigned char>(e.ext[k]))
				return false;
		if (i && compare(mime_table[i - 1].ext, mime_table[i - 1].ext_len,
				 e.ext, e.ext_len) >= 0)
			return false;
	}
	return true;
}

static_assert(mime_count >= 60, "MIME table too small");
static_assert(table_is_valid(),
	      "MIME table must be lower-case, unique and sorted");

constexpr khttpd_str default_type = {"application/octet-stream", 24};

} /* namespace */

extern "C" struct khttpd_str khttpd_mime_type(const char *name, size_t len)
{
	size_t base = len;
	while (base > 0 && name[base - 1] != '/')
		base--;
	size_t dot = len;
	while (dot > base && name[dot - 1] != '.')
		dot--;
	/* no dot, or only a leading one (dotfile) */
	if (dot <= base + 1)
		return default_type;

	size_t ext_len = len - dot;
	if (ext_len == 0 || ext_len > max_ext_len)
		return default_type;
	char ext[max_ext_len];
	for (size_t i = 0; i < ext_len; i++)
		ext[i] = static_cast<char>(
			to_lower(static_cast<unsigned char>(name[dot + i])));

	size_t lo = 0, hi = mime_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const mime_entry &e = mime_table[mid];
		int c = compare(ext, ext_len, e.ext, e.ext_len);
		if (c == 0)
			return make_str(e.type, e.type_len);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return default_type;
}
