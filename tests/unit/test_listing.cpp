// SPDX-License-Identifier: GPL-2.0
// HTML directory listings.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "helpers.h"

namespace {

khttpd_str Str(const std::string &s)
{
	return khttpd_str{s.data(), s.size()};
}

// Run f(buf, cap) in an exactly-sized buffer for the result, and check
// that every smaller cap fails with -1 without writing past it.
template <typename F>
std::string Exact(F f)
{
	char big[8192];
	long n = f(big, sizeof(big));
	EXPECT_GT(n, 0);
	if (n <= 0)
		return std::string();
	const size_t len = static_cast<size_t>(n);
	for (size_t cap = 0; cap < len; cap++) {
		ExactBuf b(cap);
		EXPECT_EQ(f(b.data(), cap), -1) << "cap " << cap;
	}
	ExactBuf b(len);
	EXPECT_EQ(f(b.data(), len), n);
	EXPECT_EQ(b.str(len), std::string(big, len));
	return b.str(len);
}

std::string Begin(const std::string &dir, int at_root)
{
	return Exact([&](char *buf, size_t cap) {
		return khttpd_listing_begin(buf, cap, Str(dir), at_root);
	});
}

std::string Entry(const std::string &name, int is_dir, uint64_t size,
		  int64_t mtime)
{
	ExactBuf nb(name);
	struct khttpd_listing_entry e = {{nb.data(), nb.size()}, is_dir, size, mtime};
	return Exact([&](char *buf, size_t cap) {
		return khttpd_listing_entry(buf, cap, &e);
	});
}

TEST(Listing, BeginSubdirExact)
{
	EXPECT_EQ(Begin("/a/b/", 0),
		  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		  "<meta charset=\"utf-8\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width\">\n"
		  "<title>Index of /a/b/</title>\n</head>\n<body>\n"
		  "<h1>Index of /a/b/</h1>\n<table>\n"
		  "<thead><tr><th>Name</th><th>Size</th><th>Last modified</th>"
		  "</tr></thead>\n<tbody>\n"
		  "<tr><td><a href=\"../\">../</a></td><td>-</td><td></td>"
		  "</tr>\n");
}

TEST(Listing, ParentLinkOnlyBelowRoot)
{
	const std::string root = Begin("/", 1);
	EXPECT_EQ(root.find("../"), std::string::npos);
	EXPECT_NE(root.find("<title>Index of /</title>"), std::string::npos);
	EXPECT_NE(root.find("<h1>Index of /</h1>"), std::string::npos);
	EXPECT_NE(Begin("/x/", 0).find("<a href=\"../\">../</a>"),
		  std::string::npos);
}

TEST(Listing, BeginEscapesDir)
{
	const std::string s = Begin("/<b>&\"'x/", 0);
	EXPECT_NE(s.find("<title>Index of /&lt;b&gt;&amp;&quot;&#39;x/</title>"),
		  std::string::npos) << s;
	EXPECT_NE(s.find("<h1>Index of /&lt;b&gt;&amp;&quot;&#39;x/</h1>"),
		  std::string::npos) << s;
	EXPECT_EQ(s.find("<b>"), std::string::npos);
}

TEST(Listing, EntryFileExact)
{
	EXPECT_EQ(Entry("index.html", 0, 1234, 784111777),
		  "<tr><td><a href=\"index.html\">index.html</a></td>"
		  "<td>1234</td><td>1994-11-06 08:49:37</td></tr>\n");
}

TEST(Listing, EntryDirExact)
{
	EXPECT_EQ(Entry("sub dir", 1, 4096, 0),
		  "<tr><td><a href=\"sub%20dir/\">sub dir/</a></td>"
		  "<td>-</td><td>1970-01-01 00:00:00</td></tr>\n");
}

TEST(Listing, NastyName)
{
	EXPECT_EQ(Entry("<script>&\"x y.txt", 0, 0, 951782400),
		  "<tr><td><a href=\"%3Cscript%3E%26%22x%20y.txt\">"
		  "&lt;script&gt;&amp;&quot;x y.txt</a></td>"
		  "<td>0</td><td>2000-02-29 00:00:00</td></tr>\n");
}

// The href percent-decodes (as khttpd_path_normalize() does) back to the
// name, so every listed file is fetchable through its link.
TEST(Listing, HrefRoundTripsThroughPathNormalize)
{
	// Every byte a listed name can hold (not '/', no control bytes).
	std::string all;
	for (int c = 0x20; c < 256; c++)
		if (c != '/' && c != 0x7f)
			all += static_cast<char>(c);
	const std::string names[] = {
		"<script>&\"x y.txt", "a'b", "%41", "100%", "?q=1", "#frag",
		"a\\b", "caf\xc3\xa9", "\xff\xfe", "..a", "...", "~user",
		"-_.~", "a:b", all.substr(0, 200), all.substr(200),
	};
	for (const std::string &name : names) {
		const std::string row = Entry(name, 0, 1, 1);
		const size_t a = row.find("href=\"") + 6;
		const size_t b = row.find('"', a);
		ASSERT_NE(b, std::string::npos);
		std::string href = row.substr(a, b - a);
		for (unsigned char c : href) {
			EXPECT_TRUE(isalnum(c) || c == '-' || c == '.' || c == '_' ||
				    c == '~' || c == '%' || c == '/') << href;
		}
		// A relative link in /dir/ resolves to /dir/<href>.
		if (href.compare(0, 2, "./") == 0)
			href = href.substr(2);
		const std::string target = "/dir/" + href;
		char out[1024];
		int dir_slash;
		long n = khttpd_path_normalize(target.data(), target.size(), out,
					       sizeof(out), &dir_slash);
		ASSERT_GT(n, 0) << name;
		EXPECT_EQ(std::string(out, static_cast<size_t>(n)), "dir/" + name)
			<< href;
	}
}

TEST(Listing, SchemeLookingNamesGetDotSlash)
{
	const std::string s = Entry("javascript:alert(1)", 0, 1, 0);
	EXPECT_NE(s.find("href=\"./javascript%3Aalert%281%29\""),
		  std::string::npos) << s;
	EXPECT_NE(s.find(">javascript:alert(1)</a>"), std::string::npos);
	const std::string d = Entry("http:", 1, 1, 0);
	EXPECT_NE(d.find("href=\"./http%3A/\""), std::string::npos) << d;
	EXPECT_EQ(Entry("plain", 0, 1, 0).find("./"), std::string::npos);
}

// khttpd_path_normalize() refuses control bytes, so a link to such a name
// could never be followed: the entry is left out (0 bytes), whatever the cap.
TEST(Listing, NamesWithControlBytesLeftOut)
{
	for (const std::string &name :
	     {std::string("a\nb", 3), std::string("tab\there"),
	      std::string("del\x7f"), std::string("\x01")}) {
		struct khttpd_listing_entry e{};
		e.name = khttpd_str{name.data(), name.size()};
		char buf[4096];
		EXPECT_EQ(khttpd_listing_entry(buf, sizeof(buf), &e), 0) << name;
		EXPECT_EQ(khttpd_listing_entry(buf, 0, &e), 0) << name;
	}
	// Bytes >= 0x80 (UTF-8) are not control bytes: listed and encoded.
	const std::string u = Entry("caf\xc3\xa9", 0, 1, 0);
	EXPECT_NE(u.find("href=\"caf%C3%A9\""), std::string::npos) << u;
}

TEST(Listing, TimesAndSizes)
{
	EXPECT_NE(Entry("f", 0, UINT64_MAX, 253402300799)
			  .find("<td>18446744073709551615</td>"
				"<td>9999-12-31 23:59:59</td>"),
		  std::string::npos);
	// clamped like khttpd_format_date()
	EXPECT_NE(Entry("f", 0, 0, -5).find("<td>1970-01-01 00:00:00</td>"),
		  std::string::npos);
	EXPECT_NE(Entry("f", 0, 0, INT64_MAX).find("<td>9999-12-31 23:59:59</td>"),
		  std::string::npos);
	EXPECT_NE(Entry("f", 0, 0, 2147483648).find("<td>2038-01-19 03:14:08</td>"),
		  std::string::npos);
}

// The worst NAME_MAX name fits KHTTPD_LISTING_ENTRY_MAX.
TEST(Listing, WorstCaseNameFitsEntryMax)
{
	for (char c : {'"', '&', '<', ':', 'a', '\xff'}) {
		std::string name(255, c);
		ExactBuf nb(name);
		for (int is_dir = 0; is_dir < 2; is_dir++) {
			struct khttpd_listing_entry e = {{nb.data(), nb.size()}, is_dir,
						  UINT64_MAX, INT64_MAX};
			ExactBuf b(static_cast<size_t>(KHTTPD_LISTING_ENTRY_MAX));
			long n = khttpd_listing_entry(b.data(), b.size(), &e);
			EXPECT_GT(n, 0) << c;
			EXPECT_LE(n, KHTTPD_LISTING_ENTRY_MAX);
		}
	}
	// Every cap below the need fails (Exact checks each one).
	std::string quotes(255, '"');
	quotes[0] = ':';
	const std::string row = Entry(quotes, 1, UINT64_MAX, 0);
	EXPECT_GT(row.size(), 2000u);
}

TEST(Listing, EndExact)
{
	EXPECT_EQ(Exact([](char *buf, size_t cap) {
			  return khttpd_listing_end(buf, cap);
		  }),
		  "</tbody>\n</table>\n</body>\n</html>\n");
}

TEST(Listing, EmptyName)
{
	EXPECT_EQ(Entry("", 0, 0, 0),
		  "<tr><td><a href=\"\"></a></td><td>0</td>"
		  "<td>1970-01-01 00:00:00</td></tr>\n");
}

} // namespace
