// Command kubeapi_exporter: Kubernetes Events, pod startup latency, failure reasons and object churn by writer, from the API server.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "kubeapi_exporter",
		Namespace:   "kubeapi",
		Description: "Kubernetes Events, pod startup latency, failure reasons and object churn by writer, from the API server.",
		DefaultPort: 10068,
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
