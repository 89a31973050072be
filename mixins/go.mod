module github.com/bpfleet/bpfleet/mixins

go 1.26.0

require (
	github.com/bpfleet/bpfleet/internal v0.0.0
	github.com/bpfleet/bpfleet/systemd_exporter v0.0.0
	github.com/google/go-jsonnet v0.22.0
	github.com/miekg/dns v1.1.73
	github.com/prometheus/client_model v0.6.3
	golang.org/x/sys v0.50.0
	k8s.io/cri-api v0.37.2
	sigs.k8s.io/yaml v1.4.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.3 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/common v0.73.1 // indirect
	github.com/prometheus/procfs v0.23.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/bpfleet/bpfleet/internal => ../internal
	github.com/bpfleet/bpfleet/systemd_exporter => ../systemd_exporter
)
