package collector

// One bpf2go run per collector; the generated bindings and objects are
// committed so that building needs no clang. `make generate` reruns these.
// Every enum and key of the C/Go contract is generated with -type: the Go
// tables that name counter events and histogram labels are keyed by the
// generated enum constants (contract_test.go checks they name every value),
// and the keys are checked against internal/maps' shared mirrors. The oom
// collector uses the program of internal/oomkill, shared with cri_exporter,
// and the process collector that of internal/procexit, shared with
// systemd_exporter.
//go:generate go tool bpf2go -tags linux -target bpfel -type hist_key -type hist_value sched ../../bpf/kernel/sched.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -type counter_key -type hist_key -type tcp_counts_value -type tcp_kind -type tcp_family -type tcp_event_layout tcp ../../bpf/kernel/tcp.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel -type hist_key -type block_op block ../../bpf/kernel/block.bpf.c -- -I../../bpf/include
//go:generate go tool bpf2go -tags linux -target bpfel empty ../../bpf/kernel/empty.bpf.c -- -I../../bpf/include
