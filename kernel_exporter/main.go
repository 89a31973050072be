// Command kernel_exporter serves per-workload process, OOM, scheduler and
// TCP metrics and per-device block I/O latency, aggregated in the kernel by
// eBPF programs, for Prometheus.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/workload"
	"github.com/bpfleet/bpfleet/kernel_exporter/collector"
)

// program describes kernel_exporter to the shared scaffold.
func program() exporter.Program {
	return exporter.Program{
		Name:        "kernel_exporter",
		Namespace:   "kernel",
		Description: "Per-workload process churn, OOM kills, run-queue latency, TCP and block I/O metrics from eBPF.",
		DefaultPort: 10061,
		Collectors:  collector.Specs(),
		Components:  []exporter.ComponentSpec{bpfload.SizedComponent(collector.SizableMaps()...), cri.Component, workload.Component},
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
