// Package histogram turns the histogram buckets that bpfleet's BPF programs
// count in the kernel into Prometheus histograms that are native and classic
// at once.
//
// # Buckets
//
// A native histogram of schema s splits every power of two into 2^s buckets
// of equal ratio: bucket i covers (2^((i-1)/2^s), 2^(i/2^s)] in the metric's
// base unit. The kernel counts latencies in bucket KernelSchema (3: a ratio
// of 2^(1/8), about 9%) directly, so user space only sums rows, it never
// re-bins, and the exposed buckets are exact.
//
// The base unit is the second but the kernel measures nanoseconds. Because
// 1e-9 is not a power of two, the bucket of v ns cannot be taken from v's
// bits alone (a shift would give buckets of 2^(i/8) ns, which are not native
// buckets of seconds). Bucket i ends at B_i = 2^(i/8) * 1e9 ns, and an integer
// v lies in bucket i iff floor(B_(i-1)) < v <= floor(B_i). The thresholds
// floor(B_i) are computed exactly by ./gen with integer arithmetic and shared
// by the C (bpf/include/bpfleet/histogram_table.h) and by this package.
//
// A lookup takes v's leading bit msb, starts at the first bucket holding
// values of at least 2^msb and counts how many of the next 8 thresholds lie
// below v: no floating point, no division, a fixed number of steps. See
// hist_bucket_ns in bpf/include/bpfleet/histogram.h and BucketOfNanos, its
// reference in Go. The value 0 goes to the zero bucket, ZeroBucket.
//
// # Exposition
//
// NewConstMetric writes one metric with both representations: the native
// buckets (schema, spans and delta-encoded counts, a zero bucket of
// threshold 0 holding exactly the zeros) and classic cumulative buckets at
// bounds that are native bucket boundaries, so each classic bucket is an
// exact sum of native ones. Observations above the top classic bound are
// counted only in +Inf, which is the sample count.
package histogram

//go:generate go run ./gen -schema 3 -go table.go -c ../../bpf/include/bpfleet/histogram_table.h
