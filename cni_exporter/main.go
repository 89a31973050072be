// Command cni_exporter serves, for Prometheus, what the kernel sees of the
// node's container networking: CNI plugin invocations with their results
// and durations, network namespaces alive and created, host-local IPAM
// pool usage, and packet drops by kernel drop reason and pod.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/cni_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

// program describes cni_exporter to the shared scaffold.
func program() exporter.Program {
	return exporter.Program{
		Name:        "cni_exporter",
		Namespace:   "cni",
		Description: "CNI plugin invocations, network namespaces, IPAM pools and packet drops, from the kernel by eBPF.",
		DefaultPort: 10063,
		Collectors:  collector.Specs(),
		// bpf for plugins, netns and drops; cri for drops' pods.
		Components: []exporter.ComponentSpec{bpfload.SizedComponent(collector.SizableMaps()...), cri.Component},
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
