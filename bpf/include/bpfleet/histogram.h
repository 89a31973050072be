/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Native histogram buckets computed in the kernel.
 *
 * hist_bucket_ns maps a duration in nanoseconds to the index of its bucket in
 * a Prometheus native histogram of schema HIST_SCHEMA over seconds: bucket i
 * covers (2^((i-1)/8), 2^(i/8)] s. User space (internal/histogram) exposes
 * the counts as they are, with no re-binning. Since 1e-9 is not a power of
 * two, the bucket comes from a threshold table (histogram_table.h, generated
 * with exact arithmetic) rather than from the bits of the value: the leading
 * bit picks a window of HIST_STEPS thresholds, and the number of thresholds
 * in it below the value is the offset of the bucket. No floating point, no
 * division, no unbounded loop: it is cheap enough for sched_switch.
 */
#ifndef BPFLEET_HISTOGRAM_H
#define BPFLEET_HISTOGRAM_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "histogram_table.h"

/* Bucket of the value 0, the native zero bucket (math.MinInt32 in Go). */
#define HIST_BUCKET_ZERO ((__s32)0x80000000)

/*
 * The helpers below have no branches: a branch on the value would make the
 * verifier walk every outcome (64 leading bits times 9 offsets) through the
 * rest of the calling program.
 */

/* hist_nonzero returns 1 if x != 0, 0 if x == 0; x < 2^bits, bits <= 32. */
static __always_inline __u64 hist_nonzero(__u64 x, __u32 bits)
{
	return (x + ((1ULL << bits) - 1)) >> bits;
}

/* hist_gt returns 1 if a > b, 0 otherwise: the borrow of b - a. */
static __always_inline __u64 hist_gt(__u64 a, __u64 b)
{
	return ((~b & a) | (~(b ^ a) & (b - a))) >> 63;
}

/* hist_msb returns the index of the highest set bit of v, 0 for v <= 1. */
static __always_inline __u32 hist_msb(__u64 v)
{
	__u64 msb, s;

	msb = hist_nonzero(v >> 32, 32) << 5;
	v >>= msb;
	s = hist_nonzero(v >> 16, 16) << 4;
	v >>= s;
	msb |= s;
	s = hist_nonzero(v >> 8, 8) << 3;
	v >>= s;
	msb |= s;
	s = hist_nonzero(v >> 4, 4) << 2;
	v >>= s;
	msb |= s;
	s = hist_nonzero(v >> 2, 2) << 1;
	v >>= s;
	return msb | s | (v >> 1);
}

/*
 * hist_bucket_ns returns the native bucket index of v nanoseconds, in
 * [HIST_MIN_BUCKET, HIST_MAX_BUCKET], or HIST_BUCKET_ZERO for v == 0.
 */
static __always_inline __s32 hist_bucket_ns(__u64 v)
{
	__u64 off, n = 0;

	if (v == 0)
		return HIST_BUCKET_ZERO;
	off = hist_start[hist_msb(v) & 63];
	/*
	 * Never taken (the generator sizes the table), but the verifier needs
	 * the bound, and clang would drop it, knowing the table's contents.
	 */
	barrier_var(off);
	if (off > HIST_TABLE_LEN - HIST_STEPS)
		return HIST_MAX_BUCKET;
#pragma unroll
	for (int j = 0; j < HIST_STEPS; j++)
		n += hist_gt(v, hist_thresholds[off + j]);
	return HIST_MIN_BUCKET + (__s32)(off + n);
}

#endif /* BPFLEET_HISTOGRAM_H */
