// SPDX-License-Identifier: GPL-2.0
/*
 * The summary htstress prints at the end. scripts/bench-guest.py parses the
 * --json line and other scripts the text, so both formats stay as they are.
 */
#include <cinttypes>
#include <cstdio>
#include <string>

#include "htstress.h"

namespace htstress {
namespace {

std::string json_escape(const std::string &s)
{
	std::string o;
	for (unsigned char ch : s) {
		if (ch == '"' || ch == '\\') {
			o += '\\';
			o += static_cast<char>(ch);
		} else if (ch < 0x20) {
			char b[8];
			snprintf(b, sizeof(b), "\\u%04x", ch);
			o += b;
		} else {
			o += static_cast<char>(ch);
		}
	}
	return o;
}

} // namespace

void report(const Stats &t, double secs)
{
	uint64_t errs = t.socket_errors();
	uint64_t total = t.good + t.bad + errs;
	// Throughput counts responses actually received.
	double rps = secs > 0 ? static_cast<double>(t.good + t.bad) / secs : 0;
	const Histogram &h = t.latency;
	double p50 = h.percentile(50) / 1e6, p90 = h.percentile(90) / 1e6,
	       p99 = h.percentile(99) / 1e6, p999 = h.percentile(99.9) / 1e6;
	double mean = h.mean() / 1e6;
	double lmin = h.n ? h.min / 1e6 : 0, lmax = h.max / 1e6;

	if (cfg.json) {
		printf("{\"url\": \"%s\", \"threads\": %d, \"concurrency\": %d, "
		       "\"keepalive\": %s, \"paths\": %zu, ",
		       json_escape(cfg.url).c_str(), cfg.threads,
		       cfg.concurrency, cfg.keepalive ? "true" : "false",
		       cfg.paths.size());
		printf("\"requests\": %" PRIu64 ", \"good\": %" PRIu64
		       ", \"bad\": %" PRIu64 ", \"socket_errors\": %" PRIu64
		       ", ",
		       total, t.good, t.bad, errs);
		printf("\"errors\": {");
		for (int k = 0; k < kErrKinds; k++)
			printf("%s\"%s\": %" PRIu64, k ? ", " : "",
			       kErrNames[k], t.errors[k]);
		printf("}, \"seconds\": %.6f, \"rps\": %.3f, \"connections\": "
		       "%" PRIu64 ", \"bytes_received\": %" PRIu64 ", ",
		       secs, rps, t.connects, t.bytes_in);
		printf("\"latency_ms\": {\"p50\": %.6f, \"p90\": %.6f, "
		       "\"p99\": %.6f, \"p999\": %.6f, \"min\": %.6f, "
		       "\"mean\": %.6f, \"max\": %.6f}}\n",
		       p50, p90, p99, p999, lmin, mean, lmax);
		return;
	}
	auto pct = [&](uint64_t v) {
		return total ? static_cast<int>(v * 100 / total) : 0;
	};
	printf("\n"
	       "requests:      %" PRIu64 "\n"
	       "good requests: %" PRIu64 " [%d%%]\n"
	       "bad requests:  %" PRIu64 " [%d%%]\n"
	       "socket errors: %" PRIu64 " [%d%%]\n"
	       "seconds:       %.3f\n"
	       "requests/sec:  %.3f\n",
	       total, t.good, pct(t.good), t.bad, pct(t.bad), errs, pct(errs),
	       secs, rps);
	if (errs) {
		printf("  (");
		for (int k = 0, first = 1; k < kErrKinds; k++) {
			if (!t.errors[k])
				continue;
			printf("%s%s: %" PRIu64, first ? "" : ", ",
			       kErrNames[k], t.errors[k]);
			first = 0;
		}
		printf(")\n");
	}
	if (h.n)
		printf("latency p50:   %.3f ms\n"
		       "latency p90:   %.3f ms\n"
		       "latency p99:   %.3f ms\n"
		       "latency p99.9: %.3f ms\n"
		       "latency max:   %.3f ms\n",
		       p50, p90, p99, p999, lmax);
	printf("\n");
}

} // namespace htstress
