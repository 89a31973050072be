// Command etcd_exporter: What is in etcd and who churns it, per key prefix, and the etcd process's disk sync latency from eBPF.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "etcd_exporter",
		Namespace:   "etcd",
		Description: "What is in etcd and who churns it, per key prefix, and the etcd process's disk sync latency from eBPF.",
		DefaultPort: 10066,
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
