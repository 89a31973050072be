// Command systemd_exporter: unit states, every transition, failures, restarts and per-unit resources from systemd over D-Bus, with OOM kills per unit from eBPF.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/workload"
	"github.com/bpfleet/bpfleet/systemd_exporter/collector"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "systemd_exporter",
		Namespace:   "systemd",
		Description: "Unit states, every transition, failures, restarts and per-unit resources from systemd over D-Bus, with OOM kills per unit from eBPF.",
		DefaultPort: 10065,
		Components:  []exporter.ComponentSpec{bpfload.SizedComponent(collector.SizableMaps()...), workload.CgroupComponent, collector.Component},
		Collectors:  collector.Specs(),
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
