// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: khttpd_path_normalize(). The first byte picks the
// output capacity, the rest is the path. The result never climbs out of
// the root, is in canonical form, fits cap, and is a fixed point.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "khttpd/core.h"
#include "check.h"

namespace {

long Normalize(const char *path, size_t len, char *out, size_t cap, int *dir)
{
	std::unique_ptr<char[]> copy(new char[len ? len : 1]);
	if (len)
		std::memcpy(copy.get(), path, len);
	return khttpd_path_normalize(copy.get(), len, out, cap, dir);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const size_t cap = data[0] == 255 ? 4096 : data[0];
	const char *path = reinterpret_cast<const char *>(data + 1);
	const size_t len = size - 1;

	// Exactly cap bytes, so ASan catches a store past it.
	std::unique_ptr<char[]> out(new char[cap ? cap : 1]);
	int dir = -1;
	long n = Normalize(path, len, out.get(), cap, &dir);
	Check(n == -400 || n == -404 || n == -414 ||
	      (n >= 0 && static_cast<size_t>(n) <= cap), "return value");
	if (n < 0)
		return 0;
	Check(dir == 0 || dir == 1, "dir_slash");

	const std::string s(out.get(), static_cast<size_t>(n));
	Check(s.empty() || s.front() != '/', "leading slash");
	Check(s.empty() || s.back() != '/', "trailing slash");
	Check(s.find("//") == std::string::npos, "repeated slash");
	Check(s.find('\0') == std::string::npos, "NUL byte");
	const std::string segs = "/" + s + "/";
	Check(segs.find("/../") == std::string::npos, "dot-dot segment");
	Check(s.empty() || segs.find("/./") == std::string::npos, "dot segment");
	for (unsigned char c : s)
		Check(c >= 0x20 && c != 0x7f, "control byte");

	// Idempotent: "/" + output normalises to itself (without '%', which
	// would be decoded a second time).
	if (s.find('%') == std::string::npos) {
		const std::string again = "/" + s;
		std::unique_ptr<char[]> out2(new char[cap ? cap : 1]);
		int dir2;
		long n2 = Normalize(again.data(), again.size(), out2.get(), cap,
				    &dir2);
		Check(n2 == n, "not idempotent (length)");
		Check(std::memcmp(out2.get(), out.get(),
				  static_cast<size_t>(n)) == 0,
		      "not idempotent (bytes)");
	}
	return 0;
}
