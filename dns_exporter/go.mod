module github.com/bpfleet/bpfleet/dns_exporter

go 1.26.0

require github.com/bpfleet/bpfleet/internal v0.0.0

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/bpfleet/bpfleet/internal => ../internal

tool github.com/cilium/ebpf/cmd/bpf2go
