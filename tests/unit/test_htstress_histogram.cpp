// SPDX-License-Identifier: GPL-2.0
// Unit tests for htstress's latency histogram: bucket bounds, percentile
// ranks, merging and the summary values the report prints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>

#include "../../tools/htstress/histogram.h"
#include "../../tools/htstress/htstress.h"

using htstress::Histogram;

namespace {

// A Histogram holds ~60 KiB of counts: keep them off the test's stack.
std::unique_ptr<Histogram> Uniform(uint64_t from, uint64_t to)
{
	auto h = std::make_unique<Histogram>();
	for (uint64_t v = from; v <= to; v++)
		h->add(v);
	return h;
}

TEST(HtstressHistogram, Empty)
{
	Histogram h;
	EXPECT_EQ(h.n, 0u);
	EXPECT_EQ(h.sum, 0u);
	EXPECT_EQ(h.min, UINT64_MAX);
	EXPECT_EQ(h.max, 0u);
	EXPECT_EQ(h.mean(), 0.0);
	for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0})
		EXPECT_EQ(h.percentile(p), 0u) << "p" << p;
}

TEST(HtstressHistogram, OneSample)
{
	Histogram h;
	h.add(12345);
	EXPECT_EQ(h.n, 1u);
	EXPECT_EQ(h.min, 12345u);
	EXPECT_EQ(h.max, 12345u);
	EXPECT_EQ(h.mean(), 12345.0);
	// 12345 is in [12288, 12351], whose midpoint 12320 is clamped to
	// [min, max]: every percentile is the sample itself.
	EXPECT_EQ(Histogram::midpoint(Histogram::index(12345)), 12320u);
	for (double p : {0.0, 1.0, 50.0, 99.9, 100.0})
		EXPECT_EQ(h.percentile(p), 12345u) << "p" << p;
}

TEST(HtstressHistogram, AllEqual)
{
	Histogram h;
	for (int i = 0; i < 1000; i++)
		h.add(777); // bucket [776, 779], midpoint 778
	EXPECT_EQ(h.n, 1000u);
	EXPECT_EQ(h.sum, 777000u);
	EXPECT_EQ(h.mean(), 777.0);
	for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0})
		EXPECT_EQ(h.percentile(p), 777u) << "p" << p;
}

// Below 256 ns every value has its own bucket, so the percentiles are the
// nearest-rank samples themselves: the ceil(p% of n)-th smallest.
TEST(HtstressHistogram, UniformExactRange)
{
	auto h = Uniform(1, 100);
	EXPECT_EQ(h->min, 1u);
	EXPECT_EQ(h->max, 100u);
	EXPECT_EQ(h->mean(), 50.5);
	EXPECT_EQ(h->percentile(0), 1u); // rank 0 is taken as the first
	EXPECT_EQ(h->percentile(1), 1u);
	EXPECT_EQ(h->percentile(1.5), 2u); // rank ceil(1.5)
	EXPECT_EQ(h->percentile(50), 50u);
	EXPECT_EQ(h->percentile(90), 90u);
	EXPECT_EQ(h->percentile(99), 99u);
	EXPECT_EQ(h->percentile(99.9), 100u); // rank ceil(99.9)
	EXPECT_EQ(h->percentile(100), 100u);

	auto t = Uniform(1, 10);
	EXPECT_EQ(t->percentile(50), 5u);
	EXPECT_EQ(t->percentile(55), 6u);
	EXPECT_EQ(t->percentile(90), 9u);
	EXPECT_EQ(t->percentile(91), 10u);
	EXPECT_EQ(t->percentile(99), 10u);
}

// Above 256 ns a percentile is the midpoint (lowest value plus half the
// width) of the bucket holding the nearest-rank sample.
TEST(HtstressHistogram, UniformBucketed)
{
	auto h = Uniform(1, 1000);
	EXPECT_EQ(h->n, 1000u);
	EXPECT_EQ(h->sum, 500500u);
	EXPECT_EQ(h->mean(), 500.5);
	EXPECT_EQ(h->percentile(50), 501u);   // 500 in [500, 501]
	EXPECT_EQ(h->percentile(90), 902u);   // 900 in [900, 903]
	EXPECT_EQ(h->percentile(99), 990u);   // 990 in [988, 991]
	EXPECT_EQ(h->percentile(99.9), 998u); // 999 in [996, 999]
	// 1000 is in [1000, 1003]: the midpoint 1002 is clamped to max.
	EXPECT_EQ(h->percentile(100), 1000u);
}

// The rank was ceil(p / 100.0 * n - 1e-9) in doubles: for p = 99.9 and
// n = 16913000 that is 16896087.000000002, and the ceiling took the next
// sample. The exact rank is 16896087.
TEST(HtstressHistogram, RankIsExactForLargeCounts)
{
	auto h = std::make_unique<Histogram>();
	const uint64_t n = 16913000, rank = 16896087;
	h->counts[Histogram::index(100)] = rank;
	h->counts[Histogram::index(200)] = n - rank;
	h->n = n;
	h->min = 100;
	h->max = 200;
	EXPECT_EQ(h->percentile(99.9), 100u);
	h->counts[Histogram::index(100)] = rank - 1;
	h->counts[Histogram::index(200)] = n - rank + 1;
	EXPECT_EQ(h->percentile(99.9), 200u);
}

// n * p must not overflow on the way to the rank.
TEST(HtstressHistogram, RankOfHugeCounts)
{
	auto h = std::make_unique<Histogram>();
	h->counts[5] = 1ull << 62;
	h->counts[9] = 1ull << 62;
	h->n = 1ull << 63;
	h->min = 5;
	h->max = 9;
	EXPECT_EQ(h->percentile(50), 5u);
	EXPECT_EQ(h->percentile(50.0001), 9u);
	EXPECT_EQ(h->percentile(100), 9u);
}

TEST(HtstressHistogram, PercentileOutOfRange)
{
	auto h = Uniform(1, 10);
	EXPECT_EQ(h->percentile(-5), 1u);
	EXPECT_EQ(h->percentile(150), 10u);
	EXPECT_EQ(h->percentile(std::nan("")), 1u);
}

TEST(HtstressHistogram, BucketBounds)
{
	EXPECT_EQ(Histogram::kBuckets, 7424);
	EXPECT_EQ(Histogram::index(0), 0);
	EXPECT_EQ(Histogram::index(255), 255);
	EXPECT_EQ(Histogram::index(256), 256);
	EXPECT_EQ(Histogram::index(257), 256);
	EXPECT_EQ(Histogram::index(258), 257);
	EXPECT_EQ(Histogram::index(511), 383);
	EXPECT_EQ(Histogram::index(512), 384);
	EXPECT_EQ(Histogram::midpoint(256), 257u);
	EXPECT_EQ(Histogram::midpoint(384), 514u);
	// Each power of two starts a new bucket, right after the last one
	// below it.
	for (int e = 1; e < 64; e++) {
		uint64_t v = 1ull << e;
		EXPECT_EQ(Histogram::index(v), Histogram::index(v - 1) + 1)
			<< "2^" << e;
	}
	// The midpoint of every bucket is in it.
	for (int i = 0; i < Histogram::kBuckets; i++)
		ASSERT_EQ(Histogram::index(Histogram::midpoint(i)), i) << i;
}

// The last bucket ends at UINT64_MAX: no sample lands beyond it, and its
// midpoint does not wrap.
TEST(HtstressHistogram, LargestBucket)
{
	EXPECT_EQ(Histogram::index(UINT64_MAX), Histogram::kBuckets - 1);
	EXPECT_EQ(Histogram::index(0xff00000000000000ull),
		  Histogram::kBuckets - 1);
	EXPECT_EQ(Histogram::index(0xfeffffffffffffffull),
		  Histogram::kBuckets - 2);
	EXPECT_EQ(Histogram::index(1ull << 63), Histogram::kBuckets - 128);
	EXPECT_EQ(Histogram::midpoint(Histogram::kBuckets - 1),
		  0xff80000000000000ull);

	Histogram h;
	h.add(1ull << 63);
	h.add(UINT64_MAX);
	EXPECT_EQ(h.min, 1ull << 63);
	EXPECT_EQ(h.max, UINT64_MAX);
	EXPECT_EQ(h.percentile(50), 0x8080000000000000ull);
	// A midpoint, so below max: the report prints max from h.max.
	EXPECT_EQ(h.percentile(100), 0xff80000000000000ull);
}

// A bucket's midpoint is within 1/256 (0.4%) of every value in it.
TEST(HtstressHistogram, MidpointError)
{
	for (int e = 8; e < 64; e++) {
		for (uint64_t off : {0ull, 1ull, 3ull, 1000ull, 123456789ull}) {
			uint64_t v = (1ull << e) + off % (1ull << e);
			uint64_t m = Histogram::midpoint(Histogram::index(v));
			uint64_t d = m > v ? m - v : v - m;
			EXPECT_LE(d, v / 256) << v;
		}
		uint64_t top = (1ull << e) - 1 + (1ull << e);
		uint64_t m = Histogram::midpoint(Histogram::index(top));
		EXPECT_LE(top - m, top / 256) << top;
	}
}

TEST(HtstressHistogram, Merge)
{
	auto a = Uniform(1, 500);
	auto b = Uniform(501, 1000);
	auto all = Uniform(1, 1000);
	a->merge(*b);
	EXPECT_EQ(a->counts, all->counts);
	EXPECT_EQ(a->n, 1000u);
	EXPECT_EQ(a->sum, 500500u);
	EXPECT_EQ(a->min, 1u);
	EXPECT_EQ(a->max, 1000u);
	for (double p : {50.0, 90.0, 99.0, 99.9, 100.0})
		EXPECT_EQ(a->percentile(p), all->percentile(p)) << "p" << p;
}

TEST(HtstressHistogram, MergeEmpty)
{
	auto a = Uniform(300, 400);
	auto empty = std::make_unique<Histogram>();
	a->merge(*empty);
	EXPECT_EQ(a->n, 101u);
	EXPECT_EQ(a->min, 300u);
	EXPECT_EQ(a->max, 400u);

	empty->merge(*a);
	EXPECT_EQ(empty->counts, a->counts);
	EXPECT_EQ(empty->n, 101u);
	EXPECT_EQ(empty->sum, 35350u);
	EXPECT_EQ(empty->min, 300u);
	EXPECT_EQ(empty->max, 400u);
	EXPECT_EQ(empty->mean(), 350.0);
}

// main() sums the threads' Stats, histograms included.
TEST(HtstressHistogram, MergeThreadStats)
{
	auto s1 = std::make_unique<htstress::Stats>();
	auto s2 = std::make_unique<htstress::Stats>();
	s1->good = 3;
	s1->bad = 1;
	s1->errors[htstress::kErrClosed] = 2;
	s1->latency.add(10);
	s1->latency.add(30);
	s2->good = 5;
	s2->connects = 7;
	s2->bytes_in = 100;
	s2->errors[htstress::kErrClosed] = 1;
	s2->errors[htstress::kErrTimeout] = 4;
	s2->latency.add(20);

	htstress::Stats total;
	total.merge(*s1);
	total.merge(*s2);
	EXPECT_EQ(total.good, 8u);
	EXPECT_EQ(total.bad, 1u);
	EXPECT_EQ(total.connects, 7u);
	EXPECT_EQ(total.bytes_in, 100u);
	EXPECT_EQ(total.errors[htstress::kErrClosed], 3u);
	EXPECT_EQ(total.errors[htstress::kErrTimeout], 4u);
	EXPECT_EQ(total.socket_errors(), 7u);
	EXPECT_EQ(total.latency.n, 3u);
	EXPECT_EQ(total.latency.min, 10u);
	EXPECT_EQ(total.latency.max, 30u);
	EXPECT_EQ(total.latency.mean(), 20.0);
	EXPECT_EQ(total.latency.percentile(50), 20u);
}

} // namespace
