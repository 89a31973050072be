package collector

// The generated bindings and object are committed so that building needs no
// clang. `make generate` reruns this.
//go:generate go tool bpf2go -tags linux -target bpfel -type pending_key -type pending_query dns ../../bpf/dns/dns.bpf.c -- -I../../bpf/include
