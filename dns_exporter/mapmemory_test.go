package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// BenchmarkMapMemory reports the kernel memory of the exporter's BPF maps
// at its defaults on hosts of 2, 16, 96 and 256 possible CPUs
// (exportertest.MapMemoryBenchmark; BENCHMARKS.md):
//
//	go test ./dns_exporter -run '^$' -bench MapMemory -benchtime 1x -v
func BenchmarkMapMemory(b *testing.B) {
	exportertest.MapMemoryBenchmark(b, binary, "dns")
}

// The exporter's BPF maps at its defaults, every row used, stay within
// DESIGN.md's bound on a 256-CPU host, whatever this host has
// (exportertest.CheckMapMemoryBound).
func TestMapMemoryBounded(t *testing.T) {
	exportertest.CheckMapMemoryBound(t, binary, "dns")
}
