// Command etcd_exporter serves what is in etcd and who churns it, per key
// prefix (per Kubernetes resource), for Prometheus. It never exports a key
// or a value.
package main

import (
	"os"

	"github.com/bpfleet/bpfleet/etcd_exporter/collector"
	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

func program() exporter.Program {
	return exporter.Program{
		Name:        "etcd_exporter",
		Namespace:   "etcd",
		Description: "What is in etcd and who churns it, per key prefix.",
		DefaultPort: 10066,
		Components:  []exporter.ComponentSpec{bpfload.Component, etcdclient.Component},
		Collectors:  collector.Specs(),
	}
}

func main() {
	os.Exit(exporter.Main(program(), os.Args[1:], os.Stdout, os.Stderr))
}
