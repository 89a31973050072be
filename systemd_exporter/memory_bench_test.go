package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// BenchmarkMemory1000Units measures the exporter binary's memory on a real
// systemd with 1,000 more units (1,139 in all): RSS, its peak, and the
// kernel memory of its BPF maps, after b.N scrapes. These are the figures
// the chart's requests and limits come from (deploy/README.md). Run by
// hand, as root:
//
//	go test -run - -bench Memory1000Units -benchtime 10x ./systemd_exporter/
func BenchmarkMemory1000Units(b *testing.B) {
	sys := bootBulk(b)
	p := startExporter(b, sys, "--collector.unit.exclude=")
	for b.Loop() {
		if _, err := p.Scrape(); err != nil {
			b.Fatal(err)
		}
	}
	exportertest.ReportMemory(b, p.Pid())
	exportertest.ReportMapMemory(b, p.Pid())
}
