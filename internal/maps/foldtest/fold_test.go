//go:build linux

package foldtest

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

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

// The aggregation maps are shared hash maps, one value per row whatever
// the number of CPUs: the main maps preallocated, their overflow
// companions not.
func TestMapsAreShared(t *testing.T) {
	spec, err := loadFold()
	if err != nil {
		t.Fatal(err)
	}
	for name, prealloc := range map[string]bool{
		"counts": true, "counts_overflow": false,
		"latency": true, "latency_overflow": false,
	} {
		m := spec.Maps[name]
		if m == nil {
			t.Errorf("no map %s", name)
			continue
		}
		if m.Type != ebpf.Hash {
			t.Errorf("%s is a %s, want a %s", name, m.Type, ebpf.Hash)
		}
		if got := m.Flags&unix.BPF_F_NO_PREALLOC == 0; got != prealloc {
			t.Errorf("%s preallocated: %v, want %v", name, got, prealloc)
		}
	}
}

// Every CPU runs the same programs on the same rows at once: a goroutine
// pinned to each possible CPU (at least two) counts and observes rounds
// times for each of ids 1-8, in a map of four rows. Every row, the overflow
// rows and the histogram come out exact: the adds are atomic, and an
// insert that loses the race to another CPU adds to the winner's row.
func TestConcurrentAddsAreExact(t *testing.T) {
	objs := load(t)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	const rounds, ids = 5000, 8
	workers := max(cpus, 2)
	errs := make(chan error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The thread stays locked to this goroutine and ends with it,
			// taking its CPU affinity along.
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(w % cpus)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errs <- fmt.Errorf("pinning to CPU %d: %w", w%cpus, err)
				return
			}
			<-start
			for range rounds {
				for id := uint64(1); id <= ids; id++ {
					for _, run := range []struct {
						p *ebpf.Program
						e foldEvent
					}{
						{objs.Count, foldEvent{Id: id, Event: 7, Value: id}},
						{objs.Observe, foldEvent{Id: id, Event: 3, Bucket: 5, Value: 10 * id}},
					} {
						ret, err := run.p.Run(&ebpf.RunOptions{Context: run.e})
						if err == nil && ret != 0 {
							err = fmt.Errorf("returned %d", int32(ret))
						}
						if err != nil {
							errs <- fmt.Errorf("%s on CPU %d: %w", run.p, w%cpus, err)
							return
						}
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	n := uint64(workers * rounds)
	counts, _, err := maps.ReadCountersFolded(objs.Counts, objs.CountsOverflow)
	if err != nil {
		t.Fatal(err)
	}
	hists, _, err := maps.ReadHistogramsFolded(objs.Latency, objs.LatencyOverflow)
	if err != nil {
		t.Fatal(err)
	}
	// Each worker inserts ids in order, so ids 1-4 take the four rows and
	// 5-8 fold into the overflow rows.
	wantCounts := map[maps.CounterKey]uint64{{ID: maps.OverflowID, Event: 7}: n * (5 + 6 + 7 + 8)}
	wantHists := map[maps.HistKey]maps.HistValue{{ID: maps.OverflowID, Labels: 3, Bucket: 5}: {Count: 4 * n, Sum: n * 10 * (5 + 6 + 7 + 8)}}
	for id := uint64(1); id <= 4; id++ {
		wantCounts[maps.CounterKey{ID: id, Event: 7}] = n * id
		wantHists[maps.HistKey{ID: id, Labels: 3, Bucket: 5}] = maps.HistValue{Count: n, Sum: n * 10 * id}
	}
	if !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("counters after %d workers × %d rounds:\n got %v\nwant %v", workers, rounds, counts, wantCounts)
	}
	if !reflect.DeepEqual(hists, wantHists) {
		t.Errorf("histograms after %d workers × %d rounds:\n got %v\nwant %v", workers, rounds, hists, wantHists)
	}
	checkLost(t, objs, 0)
}
