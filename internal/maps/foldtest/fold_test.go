//go:build linux

package foldtest

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/maps"
)

func load(t *testing.T) *foldObjects {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	var objs foldObjects
	if err := loadFoldObjects(&objs, nil); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("kernel lacks a feature: %v", err)
		}
		t.Fatalf("loading objects: %+v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return &objs
}

// run runs p on one event and returns its return value.
func run(t *testing.T, p *ebpf.Program, e foldEvent) int32 {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Context: e})
	if err != nil {
		t.Fatal(err)
	}
	return int32(ret)
}

// Ten workloads count into a map of four rows: the first four keep their
// own rows, the other six are folded into one overflow row per event, and
// ReadCountersFolded returns them under OverflowID: the total is exact.
func TestCountersFoldWhenTheMapIsFull(t *testing.T) {
	objs := load(t)
	for id := uint64(1); id <= 10; id++ {
		if ret := run(t, objs.Count, foldEvent{Id: id, Event: 7, Value: id}); ret != 0 {
			t.Fatalf("count(%d) = %d", id, ret)
		}
	}
	run(t, objs.Count, foldEvent{Id: 2, Event: 7, Value: 100}) // a row that exists still grows
	run(t, objs.Count, foldEvent{Id: 11, Event: 8, Value: 1000})
	rows, entries, err := maps.ReadCountersFolded(objs.Counts, objs.CountsOverflow)
	if err != nil {
		t.Fatal(err)
	}
	want := map[maps.CounterKey]uint64{
		{ID: 1, Event: 7}: 1, {ID: 2, Event: 7}: 102, {ID: 3, Event: 7}: 3, {ID: 4, Event: 7}: 4,
		{ID: maps.OverflowID, Event: 7}: 5 + 6 + 7 + 8 + 9 + 10,
		{ID: maps.OverflowID, Event: 8}: 1000,
	}
	if entries != 4 || len(rows) != len(want) {
		t.Errorf("entries %d, rows %v; want 4 entries, rows %v", entries, rows, want)
	}
	for k, v := range want {
		if rows[k] != v {
			t.Errorf("row %+v = %d, want %d", k, rows[k], v)
		}
	}
	checkLost(t, objs, 0)
}

// Only when the overflow map is full too (more distinct events than
// OVERFLOW_ROWS) is an event lost, and counted as such.
func TestOverflowFullIsCountedLost(t *testing.T) {
	objs := load(t)
	rows := objs.CountsOverflow.MaxEntries()
	for id := uint64(1); id <= 4; id++ {
		run(t, objs.Count, foldEvent{Id: id, Event: 0, Value: 1})
	}
	for ev := uint32(0); ev < rows; ev++ {
		if ret := run(t, objs.Count, foldEvent{Id: 100, Event: ev, Value: 1}); ret != 0 {
			t.Fatalf("event %d of %d overflow rows: count returned %d", ev, rows, ret)
		}
	}
	if ret := run(t, objs.Count, foldEvent{Id: 100, Event: rows, Value: 1}); ret != -1 {
		t.Errorf("count with the overflow map full returned %d, want -1", ret)
	}
	checkLost(t, objs, 1)
}

// Histogram rows fold the same way, keeping their labels and bucket.
func TestHistogramsFoldWhenTheMapIsFull(t *testing.T) {
	objs := load(t)
	for id := uint64(1); id <= 6; id++ {
		run(t, objs.Observe, foldEvent{Id: id, Event: 3, Bucket: 5, Value: 10 * id})
	}
	rows, entries, err := maps.ReadHistogramsFolded(objs.Latency, objs.LatencyOverflow)
	if err != nil {
		t.Fatal(err)
	}
	folded := rows[maps.HistKey{ID: maps.OverflowID, Labels: 3, Bucket: 5}]
	if entries != 4 || len(rows) != 5 || folded != (maps.HistValue{Count: 2, Sum: 50 + 60}) {
		t.Errorf("entries %d, rows %v; want 4 entries and ids 5 and 6 folded into {2 110}", entries, rows)
	}
}

func checkLost(t *testing.T, objs *foldObjects, want uint64) {
	t.Helper()
	lost, err := maps.ReadLost(objs.LostEvents)
	if err != nil {
		t.Fatal(err)
	}
	if lost[0] != want { // LOST_MAP_FULL
		t.Errorf("lost (map_full) = %d, want %d", lost[0], want)
	}
}
