package workload

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The labels of a removed cgroup are kept while lookups still ask for them
// (its series are served until their grace ends) and forgotten once none
// did for GoneIdle; a live cgroup's are kept however old.
func TestRemovedCgroupsAreForgottenOnceUnused(t *testing.T) {
	root := v2RootOrSkip(t)
	r := newTestResolver(t, Options{})
	now := time.Unix(1e9, 0)
	r.now = func() time.Time { return now }
	base := "/" + testCgroupName(t)
	live, removed := base+"/live", base+"/removed"
	liveID := cgroupID(t, makeCgroup(t, root, live))
	removedID := cgroupID(t, makeCgroup(t, root, removed))
	r.watched.Store(true) // as while Watch runs
	r.Remember(t.Context(), liveID, live)
	r.Remember(t.Context(), removedID, removed)
	removeCgroup(t, root, removed)
	r.markGone(removedID)

	// Looked up every GoneIdle-1s, as at every scrape of its series: kept.
	for range 3 {
		now = now.Add(GoneIdle - time.Second)
		r.sweep()
		if l, alive := r.Lookup(t.Context(), removedID); alive || l.Cgroup != removed {
			t.Fatalf("Lookup(removed) = %+v, %v; want its labels, not alive", l, alive)
		}
	}
	// Its series reaped, nothing asks for it: forgotten after GoneIdle.
	// (Sweeps are at least sweepInterval apart.)
	now = now.Add(GoneIdle - sweepInterval)
	r.sweep()
	if _, ok := r.cache.Peek(removedID); !ok {
		t.Fatal("removed cgroup forgotten before GoneIdle without a lookup")
	}
	now = now.Add(sweepInterval)
	r.sweep()
	if _, ok := r.cache.Peek(removedID); ok {
		t.Error("removed cgroup still cached GoneIdle after its last lookup")
	}
	if l, alive := r.Lookup(t.Context(), liveID); !alive || l.Cgroup != live {
		t.Errorf("Lookup(live) = %+v, %v; want its labels, alive", l, alive)
	}
	if l, alive := r.Lookup(t.Context(), removedID); alive || l != (Labels{}) {
		t.Errorf("Lookup(removed) once forgotten = %+v, %v; want no labels, not alive (as any cgroup removed unseen)", l, alive)
	}
}

// After a churn the cache's table is rebuilt with exactly the entries that
// remain, in their order (oldest first), so that the LRU evicts as before.
func TestCacheRebuiltAfterAChurnKeepsTheRest(t *testing.T) {
	const total = 4000
	c, err := newCache(DefaultCacheSize)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1e9, 0)
	var want []uint64
	for id := range uint64(total) {
		e := entry{labels: Labels{Cgroup: fmt.Sprint("/c", id)}, complete: true}
		switch id % 40 {
		case 0: // alive
			want = append(want, id)
		case 1: // removed, looked up lately
			e.gone, e.used = true, t0.Add(time.Minute)
			want = append(want, id)
		default: // removed, unused since
			e.gone, e.used = true, t0
		}
		c.Add(id, e)
	}
	if dropped, rebuilt := c.sweep(t0.Add(GoneIdle-time.Second), GoneIdle); dropped != 0 || rebuilt {
		t.Errorf("sweep before GoneIdle: %d forgotten, rebuilt %v; want none", dropped, rebuilt)
	}
	if dropped, rebuilt := c.sweep(t0.Add(GoneIdle), GoneIdle); dropped != 0 || rebuilt {
		t.Errorf("a second sweep within sweepInterval: %d forgotten, rebuilt %v; want none", dropped, rebuilt)
	}
	dropped, rebuilt := c.sweep(t0.Add(GoneIdle+sweepInterval), GoneIdle)
	if dropped != total-len(want) || !rebuilt {
		t.Errorf("sweep: %d forgotten, rebuilt %v; want %d, rebuilt", dropped, rebuilt, total-len(want))
	}
	if got := c.Keys(); !slices.Equal(got, want) {
		t.Errorf("after the rebuild %d ids cached, want the %d that remain, oldest first", len(got), len(want))
	}
	for _, id := range want {
		if e, ok := c.Peek(id); !ok || e.labels.Cgroup != fmt.Sprint("/c", id) || e.gone != (id%40 == 1) {
			t.Errorf("entry %d after the rebuild = %+v, %v", id, e, ok)
		}
	}
	if c.peak != len(want) {
		t.Errorf("peak after the rebuild = %d, want %d", c.peak, len(want))
	}
}
