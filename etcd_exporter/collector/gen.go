package collector

// The sync collector's bpf2go run; the generated bindings and object are
// committed so that building needs no clang. `make generate` reruns it
// (with BPF2GO_CFLAGS="-Wall -Werror").
//go:generate go tool bpf2go -tags linux -target bpfel -type hist_key -type sync_syscall sync ../../bpf/etcd/sync.bpf.c -- -I../../bpf/include
