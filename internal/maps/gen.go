package maps

// The shapes of bpf/include/bpfleet/maps.h, generated so that a test pins
// the Go types of this package to them (bpf/maps/types.bpf.c has no
// program). `make generate` reruns it.
//go:generate go tool bpf2go -tags linux -target bpfel -type counter_key -type hist_key -type hist_value -type lost_reason types ../../bpf/maps/types.bpf.c -- -I../../bpf/include
