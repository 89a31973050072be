// Command kubelet_exporter: what the kubelet's Summary API knows about
// storage, eviction pressure and pod resources, for its own node.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubelet_exporter/collector"
	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "kubelet_exporter",
		Namespace:   "kubelet_summary",
		Description: "Per-pod storage, eviction signals and pod resources from the kubelet's Summary API.",
		DefaultPort: 10067,
		Components:  []exporter.ComponentSpec{kubelet.Component},
		Collectors:  collector.Specs(),
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
