// Command kubeapi_exporter: Kubernetes Events, pod startup latency, failure
// reasons and object churn by writer, from the API server's watches.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/collector"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "kubeapi_exporter",
		Namespace:   "kubeapi",
		Description: "Kubernetes Events, pod startup latency, failure reasons and object churn by writer, from the API server.",
		DefaultPort: 10068,
		Components:  []exporter.ComponentSpec{kube.Component},
		Collectors:  collector.Specs(),
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
