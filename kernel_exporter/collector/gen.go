package collector

// One bpf2go run per collector; the generated bindings and objects are
// committed so that building needs no clang. `make generate` reruns these.
// The oom collector uses the program of internal/oomkill, shared with
// cri_exporter.
//go:generate go tool bpf2go -tags linux -target bpfel -type counter_key process ../../bpf/kernel/process.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -type hist_key -type hist_value sched ../../bpf/kernel/sched.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel tcp ../../bpf/kernel/tcp.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel block ../../bpf/kernel/block.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel empty ../../bpf/kernel/empty.bpf.c -- -I../../bpf/include
