package maps

import "github.com/cilium/ebpf"

// Maps of one row per workload: a hash map of workload id (a cgroup v2 id)
// → a struct of counters indexed by the collector's event, instead of one
// CounterKey row per workload and event. A workload's events then touch one
// element, and the map needs a row per workload rather than per series.
// User space expands each row into the CounterKey rows a map keyed by
// counter_key would hold, so the series are the same; the overflow
// companion stays keyed by counter_key (DECLARE_COUNTER_OVERFLOW).
// counters returns a row's counters, indexed by event (for a generated
// struct { N [n]uint64 }: func(v *V) []uint64 { return v.N[:] }).

// WorkloadCounterRows returns the counters of the per-workload rows counts
// as one CounterKey row per workload and event that counted (zero counters
// have no row, as in a map keyed by counter_key).
func WorkloadCounterRows[V any](counts map[uint64]V, counters func(*V) []uint64) map[CounterKey]uint64 {
	rows := make(map[CounterKey]uint64, len(counts))
	for id, v := range counts {
		for event, n := range counters(&v) {
			if n != 0 {
				rows[CounterKey{ID: id, Event: uint32(event)}] = n
			}
		}
	}
	return rows
}

// ReadWorkloadCountersFolded reads m, a map of one row per workload, and
// its overflow companion (CounterKey → uint64) as CounterKey rows, the
// companion's under OverflowID. counts are m's rows by workload id, for
// Loader.MapEntries and Reap (which then deletes a workload's row whole).
func ReadWorkloadCountersFolded[V any](m, overflow *ebpf.Map, counters func(*V) []uint64) (rows map[CounterKey]uint64, counts map[uint64]V, err error) {
	counts, err = ReadHash[uint64, V](m)
	if err != nil {
		return nil, nil, err
	}
	folded, err := ReadCounters(overflow)
	if err != nil {
		return nil, nil, err
	}
	rows = WorkloadCounterRows(counts, counters)
	for k, n := range folded {
		k.ID = OverflowID
		rows[k] += n
	}
	return rows, counts, nil
}

// DeleteWorkloads removes from m, a map of one row per workload, the rows
// of the ids of keys (every event of each); rows already gone are not an
// error.
func DeleteWorkloads(m *ebpf.Map, keys []CounterKey) error {
	seen := make(map[uint64]bool, len(keys))
	var ids []uint64
	for _, k := range keys {
		if !seen[k.ID] {
			seen[k.ID] = true
			ids = append(ids, k.ID)
		}
	}
	return Delete(m, ids)
}
