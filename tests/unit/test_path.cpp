// SPDX-License-Identifier: GPL-2.0
#include <gtest/gtest.h>

#include <string>

#include "helpers.h"

namespace {

struct PathCase {
	std::string in;
	long status;		// < 0: expected error; otherwise ignored
	std::string out;
	int dir_slash;
};

class PathNormalize : public ::testing::TestWithParam<PathCase> {};

TEST_P(PathNormalize, Table)
{
	const PathCase &c = GetParam();
	ExactBuf in(c.in);
	char out[256];
	int dir = -1;
	long r = khttpd_path_normalize(in.data(), in.size(), out, sizeof(out),
				       &dir);
	if (c.status < 0) {
		EXPECT_EQ(r, c.status) << c.in;
		return;
	}
	ASSERT_GE(r, 0) << c.in;
	EXPECT_EQ(std::string(out, static_cast<size_t>(r)), c.out) << c.in;
	EXPECT_EQ(dir, c.dir_slash) << c.in;
	// The invariant the server relies on: no dot segment, no leading '/'.
	std::string o = "/" + std::string(out, static_cast<size_t>(r)) + "/";
	EXPECT_EQ(o.find("/../"), std::string::npos);
	EXPECT_EQ(o.find("/./"), std::string::npos);
	EXPECT_EQ(o.find("//"), r ? std::string::npos : 0u);
}

INSTANTIATE_TEST_SUITE_P(
	Path, PathNormalize,
	::testing::Values(
		PathCase{"/", 0, "", 1},
		PathCase{"//", 0, "", 1},
		PathCase{"/index.html", 0, "index.html", 0},
		PathCase{"/a/b/c", 0, "a/b/c", 0},
		PathCase{"/a/b/", 0, "a/b", 1},
		PathCase{"/a//b///c//", 0, "a/b/c", 1},
		PathCase{"/./a/./b/.", 0, "a/b", 1},
		PathCase{"/a/b/../c", 0, "a/c", 0},
		PathCase{"/a/b/..", 0, "a", 1},
		PathCase{"/a/..", 0, "", 1},
		PathCase{"/a/../b/../c/d/../../e", 0, "e", 0},
		PathCase{"/...", 0, "...", 0},
		PathCase{"/..a/b..", 0, "..a/b..", 0},
		PathCase{"/.hidden", 0, ".hidden", 0},
		PathCase{"/a%20b", 0, "a b", 0},
		PathCase{"/%41%62%63", 0, "Abc", 0},
		PathCase{"/%e2%82%ac", 0, "\xe2\x82\xac", 0},
		PathCase{"/\xc3\xa9t\xc3\xa9", 0, "\xc3\xa9t\xc3\xa9", 0},
		PathCase{"/a\\b", 0, "a\\b", 0},
		PathCase{"/a%5c..%5cb", 0, "a\\..\\b", 0},
		PathCase{"/%2e/a", 0, "a", 0},
		PathCase{"/a/%2e%2E/b", 0, "b", 0},
		PathCase{"/a/.%2e", 0, "", 1},
		// Decoded once only: "%252e%252e" is the literal name "%2e%2e".
		PathCase{"/%252e%252e/x", 0, "%2e%2e/x", 0},
		PathCase{"/%252e%252e", 0, "%2e%2e", 0},
		PathCase{"/a%25", 0, "a%", 0},
		// traversal attempts
		PathCase{"/..", -404, "", 0},
		PathCase{"/../etc/passwd", -404, "", 0},
		PathCase{"/%2e%2e/etc/passwd", -404, "", 0},
		PathCase{"/%2E%2E/", -404, "", 0},
		PathCase{"/.%2e/x", -404, "", 0},
		PathCase{"/a/../../b", -404, "", 0},
		PathCase{"/a/./../..", -404, "", 0},
		PathCase{"//..//..//etc", -404, "", 0},
		PathCase{"/..%2fetc", -400, "", 0},
		PathCase{"/a%2Fb", -400, "", 0},
		PathCase{"/a%2fb", -400, "", 0},
		PathCase{"/%2e%2e%2fetc", -400, "", 0},
		// malformed / forbidden bytes
		PathCase{"", -400, "", 0},
		PathCase{"a/b", -400, "", 0},
		PathCase{"*", -400, "", 0},
		PathCase{"/a%00b", -400, "", 0},
		PathCase{"/a%00", -400, "", 0},
		PathCase{"/a%1f", -400, "", 0},
		PathCase{"/a%7F", -400, "", 0},
		PathCase{"/a%0a", -400, "", 0},
		PathCase{"/a\x01", -400, "", 0},
		PathCase{"/a\x7f", -400, "", 0},
		PathCase{"/a%", -400, "", 0},
		PathCase{"/a%4", -400, "", 0},
		PathCase{"/a%g0", -400, "", 0},
		PathCase{"/a%0g", -400, "", 0},
		PathCase{"/%%41", -400, "", 0},
		PathCase{"/a/b%/..", -400, "", 0}));

TEST(Path, CapLimits)
{
	const std::string in = "/abc/def";	// -> "abc/def", 7 bytes
	for (size_t cap = 0; cap < 7; cap++) {
		ExactBuf out(cap);
		int dir = -1;
		EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out.data(),
						cap, &dir), -414)
			<< cap;
	}
	ExactBuf out7(7);
	EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out7.data(), 7,
					nullptr), 7);
	EXPECT_EQ(out7.str(7), "abc/def");

	ExactBuf out8(8);
	EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out8.data(), 8,
					nullptr), 7);
	EXPECT_EQ(out8.data()[7], '\0');

	// The root fits in nothing.
	int dir = 0;
	EXPECT_EQ(khttpd_path_normalize("/", 1, nullptr, 0, &dir), 0);
	EXPECT_EQ(dir, 1);
}

TEST(Path, OversizedSegmentCancelledByDotDot)
{
	// The intermediate "x..." does not fit, but ".." removes it again.
	std::string in = "/a/" + std::string(100, 'x') + "/../b";
	ExactBuf out(4);
	EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out.data(), 4,
					nullptr), 3);
	EXPECT_EQ(out.str(3), "a/b");

	// ...but an error later in the path is still reported.
	in = "/a/" + std::string(100, 'x') + "/../b%00";
	EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out.data(), 4,
					nullptr), -400);
	// ...and so is climbing out through the virtual segments.
	in = "/" + std::string(100, 'x') + "/../..";
	EXPECT_EQ(khttpd_path_normalize(in.data(), in.size(), out.data(), 4,
					nullptr), -404);
}

TEST(Path, DirSlashClearedOnError)
{
	int dir = 1;
	EXPECT_EQ(khttpd_path_normalize("/%zz/", 5, nullptr, 0, &dir), -400);
	EXPECT_EQ(dir, 0);
}

} // namespace
