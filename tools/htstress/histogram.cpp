// SPDX-License-Identifier: GPL-2.0
/*
 * Percentile arithmetic of htstress's latency histogram (histogram.h).
 */
#include "histogram.h"

#include <cmath>

namespace htstress {

uint64_t Histogram::midpoint(int i)
{
	if (i < 2 * kSub)
		return static_cast<uint64_t>(i);
	int j = i - 2 * kSub;
	int shift = j / kSub + 1;
	uint64_t lo = static_cast<uint64_t>(kSub + j % kSub) << shift;
	return lo + (1ull << shift) / 2;
}

void Histogram::merge(const Histogram &o)
{
	for (int i = 0; i < kBuckets; i++)
		counts[static_cast<size_t>(i)] +=
			o.counts[static_cast<size_t>(i)];
	n += o.n;
	sum += o.sum;
	min = std::min(min, o.min);
	max = std::max(max, o.max);
}

double Histogram::mean() const
{
	return n ? static_cast<double>(sum) / static_cast<double>(n) : 0;
}

uint64_t Histogram::percentile(double p) const
{
	if (!n)
		return 0;
	// The rank is computed in integers: in doubles, 99.9 / 100 * n comes
	// out just above a whole number for some n (16913000 is the first),
	// and its ceiling then picked the sample after the right one. p is
	// scaled to millionths so that 99.9 is exact; the rank is
	// ceil(n * q / 1e6), split so that n * q cannot overflow.
	constexpr uint64_t kScale = 1000000;
	uint64_t q = 0;
	if (p >= 100)
		q = kScale;
	else if (p > 0)
		q = static_cast<uint64_t>(std::llround(p * (kScale / 100)));
	uint64_t rank = n / kScale * q + (n % kScale * q + kScale - 1) / kScale;
	rank = std::clamp<uint64_t>(rank, 1, n);
	uint64_t seen = 0;
	for (int i = 0; i < kBuckets; i++) {
		seen += counts[static_cast<size_t>(i)];
		if (seen >= rank)
			return std::clamp(midpoint(i), min, max);
	}
	return max;
}

} // namespace htstress
