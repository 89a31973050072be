// Command systemd_exporter: Unit states, every transition, failures, restarts and per-unit resources from systemd over D-Bus, with process exits and OOM kills from eBPF.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "systemd_exporter",
		Namespace:   "systemd",
		Description: "Unit states, every transition, failures, restarts and per-unit resources from systemd over D-Bus, with process exits and OOM kills from eBPF.",
		DefaultPort: 10065,
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
