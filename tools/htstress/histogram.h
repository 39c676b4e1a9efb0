// SPDX-License-Identifier: GPL-2.0
/*
 * Latency histogram of htstress, free of I/O so the unit tests link it.
 *
 * Log-linear histogram of nanoseconds: exact below 256 ns, then 128
 * buckets per power of two, so the midpoint of a bucket is within 0.4% of
 * any value in it. Fixed size, so recording is an increment; each thread
 * has its own and they are merged at the end.
 */
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace htstress {

struct Histogram {
	static constexpr int kSubBits = 7;
	static constexpr int kSub = 1 << kSubBits;
	// Exact buckets for [0, 2 * kSub), then kSub buckets for each power
	// of two from 2^(kSubBits + 1) up to 2^63: every uint64_t has one.
	static constexpr int kBuckets = 2 * kSub + (64 - kSubBits - 1) * kSub;

	std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets);
	uint64_t n = 0, sum = 0, min = UINT64_MAX, max = 0;

	// index() and add() are here rather than in histogram.cpp because
	// every response goes through them.
	static int index(uint64_t v)
	{
		if (v < 2 * kSub)
			return static_cast<int>(v);
		int e = std::bit_width(v) - 1; // >= kSubBits + 1
		int shift = e - kSubBits;
		return 2 * kSub + (e - kSubBits - 1) * kSub +
		       static_cast<int>((v >> shift) - kSub);
	}

	void add(uint64_t v)
	{
		counts[static_cast<size_t>(index(v))]++;
		n++;
		sum += v;
		min = std::min(min, v);
		max = std::max(max, v);
	}

	// The value bucket i stands for: its lowest value plus half its width
	// (the value itself for the exact buckets).
	static uint64_t midpoint(int i);

	void merge(const Histogram &o);

	// Nanoseconds; 0 when empty.
	double mean() const;

	// The p-th percentile by nearest rank: the midpoint of the bucket
	// holding the ceil(p% of n)-th smallest sample (the first when that
	// is 0), clamped to [min, max]; 0 when empty. p is in [0, 100],
	// taken to 1/10000 of a percent.
	uint64_t percentile(double p) const;
};

} // namespace htstress
