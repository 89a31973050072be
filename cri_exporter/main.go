// Command cri_exporter serves what the container runtime says over its CRI
// socket (runtime health, pods and containers by state, restarts, exits
// and exit codes) and the OOM kills the kernel attributes to each
// container, for Prometheus.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/cri_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// program describes cri_exporter to the shared scaffold.
func program() exporter.Program {
	return exporter.Program{
		Name:        "cri_exporter",
		Namespace:   "cri",
		Description: "Container runtime health, pods, containers, exits and OOM kills over CRI and eBPF.",
		DefaultPort: 10064,
		Components:  []exporter.ComponentSpec{bpfload.SizedComponent(collector.SizableMaps()...), cri.Component, workload.PathComponent},
		Collectors:  collector.Specs(),
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
