package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// BenchmarkMapMemory reports the kernel memory of the exporter's BPF maps
// at its defaults, against a real containerd, on hosts of 2, 16, 96 and 256
// possible CPUs (exportertest.MapMemoryBenchmark; BENCHMARKS.md):
//
//	go test ./cri_exporter -run '^$' -bench MapMemory -benchtime 1x -v
func BenchmarkMapMemory(b *testing.B) {
	testenv.RequireRoot(b)
	ctd := testenv.StartContainerd(b)
	exportertest.MapMemoryBenchmark(b, binary, "cri", "--cri.endpoint="+ctd.Endpoint)
}

// The exporter's BPF maps at its defaults, every row used, stay within
// DESIGN.md's bound on a 256-CPU host, whatever this host has
// (exportertest.CheckMapMemoryBound).
func TestMapMemoryBounded(t *testing.T) {
	testenv.RequireRoot(t)
	ctd := testenv.StartContainerd(t)
	exportertest.CheckMapMemoryBound(t, binary, "cri", "--cri.endpoint="+ctd.Endpoint)
}
