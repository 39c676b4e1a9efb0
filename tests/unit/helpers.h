// SPDX-License-Identifier: GPL-2.0
// Shared helpers for the core unit tests.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "khttpd/core.h"

// A heap copy of exactly s.size() bytes (no NUL, no slack), so ASan
// reports any read or write one byte past the end.
class ExactBuf {
public:
	explicit ExactBuf(std::string_view s) : n_(s.size()), p_(new char[s.size()])
	{
		if (n_)
			std::memcpy(p_.get(), s.data(), n_);
	}
	explicit ExactBuf(size_t n) : n_(n), p_(new char[n]) {}
	char *data() { return p_.get(); }
	size_t size() const { return n_; }
	std::string str(size_t len) const { return std::string(p_.get(), len); }

private:
	size_t n_;
	std::unique_ptr<char[]> p_;
};

inline std::string S(khttpd_str s)
{
	return s.len ? std::string(s.ptr, s.len) : std::string();
}

inline khttpd_str Str(const char *s)
{
	return khttpd_str{s, std::strlen(s)};
}

// A keep-alive HTTP/1.1 response dated 1994-11-06 08:49:37 GMT, without
// Last-Modified: the starting point of the response-head tests.
inline khttpd_response Base(int status)
{
	khttpd_response r{};
	r.status = status;
	r.keep_alive = 1;
	r.version_minor = 1;
	r.date = "Sun, 06 Nov 1994 08:49:37 GMT";
	r.last_modified = -1;
	return r;
}
