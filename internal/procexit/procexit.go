// Package procexit counts process execs, forks and whole-process exits in
// the kernel per cgroup v2 id of the task (bpf/process/process.bpf.c:
// tp_btf/sched_process_exec, sched_process_fork, sched_process_exit; needs
// kernel BTF), for every exporter that reports them (kernel_exporter per
// workload, systemd_exporter per unit).
//
// LoadProcess returns the collection spec; load it with bpfload.Load into
// ProcessObjects. Its ProcessCounts map holds one row per workload (cgroup
// v2 id) with a counter per ProcessProcessEvent, which ReadFolded reads as
// maps.CounterKey rows, with those of the ProcessCountsOverflow companion
// (a full map's events, under maps.OverflowID); its LostEvents map holds the
// program's lost-event counters.
package procexit

import (
	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/maps"
)

// One bpf2go run; the generated bindings and object are committed so that
// building needs no clang. `make generate` reruns it.
//go:generate go tool bpf2go -tags linux -target bpfel -type counter_key -type process_event -type process_counts_value Process ../../bpf/process/process.bpf.c -- -I../../bpf/include

// ReadCounts reads the per-workload rows of m, a ProcessCounts map, by
// cgroup v2 id.
func ReadCounts(m *ebpf.Map) (map[uint64]ProcessProcessCountsValue, error) {
	return maps.ReadHash[uint64, ProcessProcessCountsValue](m)
}

// counters returns a row's counters, indexed by ProcessProcessEvent.
func counters(v *ProcessProcessCountsValue) []uint64 { return v.N[:] }

// CounterRows returns the counters of the per-workload rows as one
// maps.CounterKey row per workload and event that counted (zero counters
// have no row, as in a map keyed by counter_key).
func CounterRows(counts map[uint64]ProcessProcessCountsValue) map[maps.CounterKey]uint64 {
	return maps.WorkloadCounterRows(counts, counters)
}

// ReadFolded reads objs' ProcessCounts and ProcessCountsOverflow maps as
// maps.CounterKey rows, the overflow's under maps.OverflowID. counts are the
// per-workload rows as ReadCounts returns them (for Loader.MapEntries and
// maps.Reap).
func ReadFolded(objs *ProcessObjects) (rows map[maps.CounterKey]uint64, counts map[uint64]ProcessProcessCountsValue, err error) {
	return maps.ReadWorkloadCountersFolded(objs.ProcessCounts, objs.ProcessCountsOverflow, counters)
}

// DeleteWorkloads removes from m, a ProcessCounts map, the rows of the ids
// of keys (every event of each); rows already gone are not an error.
func DeleteWorkloads(m *ebpf.Map, keys []maps.CounterKey) error {
	return maps.DeleteWorkloads(m, keys)
}
