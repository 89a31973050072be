// Command dns_exporter serves per-workload DNS queries, responses by rcode,
// latency, unanswered queries and truncation, parsed and correlated in the
// kernel by eBPF programs on every socket of the node, for Prometheus.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/dns_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/workload"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "dns_exporter",
		Namespace:   "dns",
		Description: "Per-workload DNS queries, responses, latency and unanswered queries from eBPF.",
		DefaultPort: 10062,
		Collectors:  []exporter.Spec{collector.Spec()},
		Components:  []exporter.ComponentSpec{bpfload.SizedComponent(collector.SizableMaps()...), cri.Component, workload.Component},
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
