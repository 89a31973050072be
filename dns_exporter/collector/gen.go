package collector

// The generated bindings and object are committed so that building needs no
// clang. `make generate` reruns this.
//go:generate go tool bpf2go -tags linux -target bpfel -type pending_key -type pending_query -type inflight -type name_event -type dns_qtype -type dns_rcode -type dns_kind -type dns_malformed_reason -type dns_label_bits dns ../../bpf/dns/dns.bpf.c -- -I../../bpf/include
