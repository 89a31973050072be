// Package bpftest holds the test-only BPF programs that check the kernel's
// hist_bucket_ns (bpf/include/bpfleet/histogram.h) against
// histogram.BucketOfNanos. Its tests need root and a kernel with
// BPF_PROG_TYPE_SYSCALL test runs (5.14) and tp_btf.
package bpftest

//go:generate go tool bpf2go -tags linux -target bpfel -type batch -type hist_key -type hist_value bucket bucket.c -- -I../../../bpf/include
