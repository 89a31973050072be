package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// BenchmarkMapMemory reports the kernel memory of the exporter's BPF maps
// at its defaults on hosts of 2, 16, 96 and 256 possible CPUs, from the
// maps it loaded here (exportertest.MapMemory.At; BENCHMARKS.md):
//
//	go test ./kernel_exporter -run '^$' -bench MapMemory -benchtime 1x -v
func BenchmarkMapMemory(b *testing.B) {
	testenv.RequireRoot(b)
	for b.Loop() {
		p := exportertest.Start(b, binary)
		exportertest.WaitCollectorsUp(b, p, "kernel")
		exportertest.ReportMapMemory(b, p.Pid())
	}
}
