// Package procexit counts process execs, forks and whole-process exits in
// the kernel per cgroup v2 id of the task (bpf/process/process.bpf.c:
// tp_btf/sched_process_exec, sched_process_fork, sched_process_exit; needs
// kernel BTF), for every exporter that reports them (kernel_exporter per
// workload, systemd_exporter per unit).
//
// LoadProcess returns the collection spec; load it with bpfload.Load into
// ProcessObjects, whose ProcessCounts map holds maps.CounterKey rows (event
// one of the ProcessProcessEvent values) read by maps.ReadCounters, and whose LostEvents map holds the program's
// lost-event counters.
package procexit

// One bpf2go run; the generated bindings and object are committed so that
// building needs no clang. `make generate` reruns it.
//go:generate go tool bpf2go -tags linux -target bpfel -type counter_key -type process_event Process ../../bpf/process/process.bpf.c -- -I../../bpf/include
