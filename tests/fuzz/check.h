// SPDX-License-Identifier: GPL-2.0
// A fuzz target's property check. A failure is said on stderr: run.sh sends
// stdout to a file, where a buffered line would be lost when abort() ends
// the process. libFuzzer then reports the abort as a crash, with its input.
#ifndef KHTTPD_FUZZ_CHECK_H
#define KHTTPD_FUZZ_CHECK_H

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace {

void Check(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "%s: %s\n", program_invocation_short_name,
			     what);
		std::abort();
	}
}

} // namespace

#endif
