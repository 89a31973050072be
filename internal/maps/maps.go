// Package maps reads bpfleet's in-kernel aggregation maps: shared hash maps
// of counters and histogram buckets that every CPU adds to atomically
// (bpf/include/bpfleet/maps.h), one value per row, and the per-program
// lost-event counters. Its readers also read per-CPU maps, summing each
// row over CPUs.
package maps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// CounterKey is struct counter_key (bpf/include/bpfleet/maps.h), with Go
// names; TestLayoutsMatchC pins it to the generated typesCounterKey.
type CounterKey struct {
	ID    uint64 // cgroup v2 id (0: unattributed) or device number
	Event uint32 // collector-defined: metric and closed label values
	_     uint32
}

// HistKey is struct hist_key, pinned like CounterKey.
type HistKey struct {
	ID     uint64
	Labels uint32 // collector-defined closed label values
	Bucket int32  // native histogram bucket index or histogram.ZeroBucket
}

// HistValue is struct hist_value, pinned like CounterKey.
type HistValue struct {
	Count uint64
	Sum   uint64
}

func (v HistValue) add(o HistValue) HistValue {
	return HistValue{Count: v.Count + o.Count, Sum: v.Sum + o.Sum}
}

func addUint64(a, b uint64) uint64 { return a + b }

// LostReasons names the lost_events indexes: the reason label of
// <ns>_exporter_events_lost_total for each enum lost_reason value.
var LostReasons = []string{
	typesLostReasonLOST_MAP_FULL:     "map_full",
	typesLostReasonLOST_START_FULL:   "start_full",
	typesLostReasonLOST_RINGBUF_FULL: "ringbuf_full",
}

// batchSize is the number of keys asked for per batch lookup syscall.
const batchSize = 1024

// ReadCounters reads a hash map of CounterKey → uint64 (ReadRows).
func ReadCounters(m *ebpf.Map) (map[CounterKey]uint64, error) {
	return ReadRows[CounterKey](m, addUint64)
}

// ReadHistograms reads a hash map of HistKey → HistValue (ReadRows).
func ReadHistograms(m *ebpf.Map) (map[HistKey]HistValue, error) {
	return ReadRows[HistKey](m, HistValue.add)
}

// ReadRows reads every row of a hash map: one value per row from a shared
// map (BPF_MAP_TYPE_HASH, ReadHash), or each row's per-CPU values summed
// with add from a per-CPU one (ReadPerCPU).
func ReadRows[K comparable, V any](m *ebpf.Map, add func(V, V) V) (map[K]V, error) {
	if isPerCPU(m.Type()) {
		return ReadPerCPU[K](m, add)
	}
	return ReadHash[K, V](m)
}

func isPerCPU(t ebpf.MapType) bool {
	switch t {
	case ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.PerCPUArray, ebpf.PerCPUCGroupStorage:
		return true
	}
	return false
}

// ReportLost publishes a program's lost_events array as
// <ns>_exporter_events_lost_total{collector,reason}.
func ReportLost(self *selfmetrics.Metrics, collector string, lost *ebpf.Map) error {
	totals, err := ReadLost(lost)
	if err != nil {
		return err
	}
	for i, total := range totals {
		self.SetEventsLost(collector, LostReasons[i], total)
	}
	return nil
}

// ReadLost reads a lost_events per-CPU array, summed over CPUs, indexed as
// LostReasons.
func ReadLost(m *ebpf.Map) ([]uint64, error) {
	return ReadArray(m, len(LostReasons))
}

// ReadArray reads the first n entries of a BPF_MAP_TYPE_PERCPU_ARRAY of
// uint64, each summed over CPUs, or of a BPF_MAP_TYPE_ARRAY of uint64.
func ReadArray(m *ebpf.Map, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		if !isPerCPU(m.Type()) {
			if err := m.Lookup(uint32(i), &out[i]); err != nil {
				return nil, fmt.Errorf("reading %s[%d]: %w", m.String(), i, err)
			}
			continue
		}
		var perCPU []uint64
		if err := m.Lookup(uint32(i), &perCPU); err != nil {
			return nil, fmt.Errorf("reading %s[%d]: %w", m.String(), i, err)
		}
		for _, v := range perCPU {
			out[i] += v
		}
	}
	return out, nil
}

// ReadPerCPU reads every entry of a per-CPU hash map with batch lookups,
// falling back to iteration on kernels without batch support, and sums each
// value over CPUs with add.
func ReadPerCPU[K comparable, V any](m *ebpf.Map, add func(V, V) V) (map[K]V, error) {
	out, err := batchReadPerCPU[K](m, add)
	if errors.Is(err, ebpf.ErrNotSupported) {
		return iterReadPerCPU[K](m, add)
	}
	return out, err
}

func batchReadPerCPU[K comparable, V any](m *ebpf.Map, add func(V, V) V) (map[K]V, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	keys := make([]K, batchSize)
	values := make([]V, batchSize*cpus)
	out := make(map[K]V)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for i := 0; i < n; i++ {
			out[keys[i]] = sum(values[i*cpus:(i+1)*cpus], add)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.String(), err)
		}
	}
}

func iterReadPerCPU[K comparable, V any](m *ebpf.Map, add func(V, V) V) (map[K]V, error) {
	out := make(map[K]V)
	var key K
	var perCPU []V
	it := m.Iterate()
	for it.Next(&key, &perCPU) {
		out[key] = sum(perCPU, add)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterating %s: %w", m.String(), err)
	}
	return out, nil
}

func sum[V any](values []V, add func(V, V) V) V {
	var total V
	for _, v := range values {
		total = add(total, v)
	}
	return total
}

// Reap deletes from m the rows whose id (id(key)) is in gone: the rows of
// keys that series.Attributor.Expired returned.
func Reap[K comparable, V any](m *ebpf.Map, rows map[K]V, gone []uint64, id func(K) uint64) error {
	if len(gone) == 0 {
		return nil
	}
	set := make(map[uint64]struct{}, len(gone))
	for _, g := range gone {
		set[g] = struct{}{}
	}
	var keys []K
	for k := range rows {
		if _, ok := set[id(k)]; ok {
			keys = append(keys, k)
		}
	}
	return Delete(m, keys)
}

// Delete removes keys from m; keys already gone are not an error.
func Delete[K any](m *ebpf.Map, keys []K) error {
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting from %s: %w", m.String(), err)
		}
	}
	return nil
}

// ReadHash reads every entry of a hash map that is not per-CPU, with batch
// lookups (one syscall per 1,024 entries instead of two per entry),
// falling back to iteration on kernels without batch support.
func ReadHash[K comparable, V any](m *ebpf.Map) (map[K]V, error) {
	keys := make([]K, batchSize)
	values := make([]V, batchSize)
	out := make(map[K]V)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for i := 0; i < n; i++ {
			out[keys[i]] = values[i]
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return iterReadHash[K, V](m)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.String(), err)
		}
	}
}

func iterReadHash[K comparable, V any](m *ebpf.Map) (map[K]V, error) {
	out := make(map[K]V)
	var key K
	var value V
	it := m.Iterate()
	for it.Next(&key, &value) {
		out[key] = value
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterating %s: %w", m.String(), err)
	}
	return out, nil
}

// DeleteEach removes keys from m with batch deletes and reports which of
// them this call removed: false for a key that was already gone (taken by
// a BPF program meanwhile), so that the caller counts each row once.
func DeleteEach[K any](m *ebpf.Map, keys []K) ([]bool, error) {
	deleted := make([]bool, len(keys))
	for start := 0; start < len(keys); {
		n, err := m.BatchDelete(keys[start:], nil)
		for i := start; i < start+n; i++ {
			deleted[i] = true
		}
		switch {
		case err == nil:
			return deleted, nil
		case errors.Is(err, ebpf.ErrKeyNotExist):
			start += n + 1 // keys[start+n] was gone: go on after it
		case errors.Is(err, ebpf.ErrNotSupported):
			for i := start; i < len(keys); i++ {
				err := m.Delete(keys[i])
				if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					return deleted, fmt.Errorf("deleting from %s: %w", m.String(), err)
				}
				deleted[i] = err == nil
			}
			return deleted, nil
		default:
			return deleted, fmt.Errorf("deleting from %s: %w", m.String(), err)
		}
	}
	return deleted, nil
}

// OverflowID is the id under which ReadCountersFolded and
// ReadHistogramsFolded return the rows of a map's overflow companion
// (DECLARE_COUNTER_OVERFLOW in bpf/include/bpfleet/maps.h): events the
// kernel could not count under their workload because the map was full.
// No cgroup or device has this id; series.Options.IsOverflow(OverflowID)
// serves it as the metric's overflow series.
const OverflowID = ^uint64(0)

// IsOverflow reports whether id is OverflowID; it is a
// series.Options[uint64].IsOverflow.
func IsOverflow(id uint64) bool { return id == OverflowID }

// ReadCountersFolded reads a counter map and its overflow companion; the
// companion's rows come back with ID OverflowID. entries is the number of
// rows of m alone, for Loader.MapEntries.
func ReadCountersFolded(m, overflow *ebpf.Map) (rows map[CounterKey]uint64, entries int, err error) {
	return readFolded(m, overflow, ReadCounters, func(k CounterKey) CounterKey { k.ID = OverflowID; return k }, addUint64)
}

// ReadHistogramsFolded reads a histogram map and its overflow companion;
// the companion's rows come back with ID OverflowID. entries is the number
// of rows of m alone.
func ReadHistogramsFolded(m, overflow *ebpf.Map) (rows map[HistKey]HistValue, entries int, err error) {
	return readFolded(m, overflow, ReadHistograms, func(k HistKey) HistKey { k.ID = OverflowID; return k }, HistValue.add)
}

// readFolded reads m and its overflow companion with read, adding the
// companion's rows under fold(key).
func readFolded[K comparable, V any](m, overflow *ebpf.Map, read func(*ebpf.Map) (map[K]V, error), fold func(K) K, add func(V, V) V) (map[K]V, int, error) {
	rows, err := read(m)
	if err != nil {
		return nil, 0, err
	}
	entries := len(rows)
	folded, err := read(overflow)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range folded {
		k = fold(k)
		rows[k] = add(rows[k], v)
	}
	return rows, entries, nil
}
