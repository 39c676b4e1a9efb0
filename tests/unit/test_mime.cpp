// SPDX-License-Identifier: GPL-2.0
#include <gtest/gtest.h>

#include <string>

#include "helpers.h"

namespace {

std::string Mime(const std::string &name)
{
	ExactBuf b(name);
	return S(khttpd_mime_type(b.data(), b.size()));
}

const std::string octet = "application/octet-stream";

TEST(Mime, CommonTypes)
{
	EXPECT_EQ(Mime("index.html"), "text/html; charset=utf-8");
	EXPECT_EQ(Mime("a.htm"), "text/html; charset=utf-8");
	EXPECT_EQ(Mime("style.css"), "text/css; charset=utf-8");
	EXPECT_EQ(Mime("app.js"), "text/javascript; charset=utf-8");
	EXPECT_EQ(Mime("mod.mjs"), "text/javascript; charset=utf-8");
	EXPECT_EQ(Mime("d.json"), "application/json; charset=utf-8");
	EXPECT_EQ(Mime("notes.txt"), "text/plain; charset=utf-8");
	EXPECT_EQ(Mime("feed.xml"), "application/xml; charset=utf-8");
	EXPECT_EQ(Mime("logo.svg"), "image/svg+xml; charset=utf-8");
	EXPECT_EQ(Mime("p.png"), "image/png");
	EXPECT_EQ(Mime("p.jpg"), "image/jpeg");
	EXPECT_EQ(Mime("p.jpeg"), "image/jpeg");
	EXPECT_EQ(Mime("p.gif"), "image/gif");
	EXPECT_EQ(Mime("p.webp"), "image/webp");
	EXPECT_EQ(Mime("p.avif"), "image/avif");
	EXPECT_EQ(Mime("favicon.ico"), "image/vnd.microsoft.icon");
	EXPECT_EQ(Mime("s.mp3"), "audio/mpeg");
	EXPECT_EQ(Mime("v.mp4"), "video/mp4");
	EXPECT_EQ(Mime("v.webm"), "video/webm");
	EXPECT_EQ(Mime("f.woff2"), "font/woff2");
	EXPECT_EQ(Mime("doc.pdf"), "application/pdf");
	EXPECT_EQ(Mime("a.zip"), "application/zip");
	EXPECT_EQ(Mime("m.wasm"), "application/wasm");
	EXPECT_EQ(Mime("x.zst"), "application/zstd");
	EXPECT_EQ(Mime("x.7z"), "application/x-7z-compressed");
	EXPECT_EQ(Mime("README.md"), "text/markdown; charset=utf-8");
	EXPECT_EQ(Mime("x.webmanifest"),
		  "application/manifest+json; charset=utf-8");
	EXPECT_EQ(Mime("x.xlsx"),
		  "application/vnd.openxmlformats-officedocument."
		  "spreadsheetml.sheet");
	// First and last entries of the sorted table.
	EXPECT_EQ(Mime("x.3gp"), "video/3gpp");
	EXPECT_EQ(Mime("x.zst"), "application/zstd");
}

TEST(Mime, CaseInsensitive)
{
	EXPECT_EQ(Mime("INDEX.HTML"), "text/html; charset=utf-8");
	EXPECT_EQ(Mime("Photo.JpEg"), "image/jpeg");
	EXPECT_EQ(Mime("x.WOFF2"), "font/woff2");
}

TEST(Mime, ExtensionRules)
{
	EXPECT_EQ(Mime(""), octet);
	EXPECT_EQ(Mime("Makefile"), octet);
	EXPECT_EQ(Mime("file."), octet);
	EXPECT_EQ(Mime(".bashrc"), octet);
	EXPECT_EQ(Mime(".html"), octet);	// dotfile, not an extension
	EXPECT_EQ(Mime("dir/.html"), octet);
	EXPECT_EQ(Mime(".config.json"), "application/json; charset=utf-8");
	EXPECT_EQ(Mime("a.tar.gz"), "application/gzip");
	EXPECT_EQ(Mime("a.tar"), "application/x-tar");
	EXPECT_EQ(Mime("x.unknownext"), octet);
	EXPECT_EQ(Mime("x.averyveryverylongextension"), octet);
	EXPECT_EQ(Mime("x.htmlx"), octet);
	EXPECT_EQ(Mime("x.ht"), octet);
	// Only the last path component counts.
	EXPECT_EQ(Mime("dir.html/file"), octet);
	EXPECT_EQ(Mime("a.d/b.css"), "text/css; charset=utf-8");
	EXPECT_EQ(Mime("dir.html/"), octet);
}

} // namespace
