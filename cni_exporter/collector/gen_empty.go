package collector

// The do-nothing programs the hook benchmarks (hook_bench_test.go) compare
// the collectors' programs with. `make generate` reruns this.
//go:generate go tool bpf2go -tags linux -target bpfel empty ../../bpf/cni/empty.bpf.c -- -I../../bpf/include
