// Package foldtest holds the test-only BPF programs that check the kernel
// side of folding (counter_add_fold and hist_add_fold in
// bpf/include/bpfleet/maps.h) against internal/maps' readers. Its tests
// need root and BPF_PROG_TYPE_SYSCALL test runs (5.14).
package foldtest

//go:generate go tool bpf2go -tags linux -target bpfel -type event fold fold.c -- -I../../../bpf/include
