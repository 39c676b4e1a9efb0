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
