package collector

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSyncSearchesProcOnlyWhenNeeded: found by command name, the etcd
// processes are looked for in all of /proc (here a directory shaped like
// it) once; later refreshes only check the ones found, until one is gone
// or renamed, or fullSearchEvery has passed. sync_targets follows exactly.
func TestSyncSearchesProcOnlyWhenNeeded(t *testing.T) {
	proc := t.TempDir()
	setComm := func(pid int, comm string) {
		t.Helper()
		dir := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(pid int) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(proc, strconv.Itoa(pid))); err != nil {
			t.Fatal(err)
		}
	}
	for pid := 10; pid < 60; pid++ {
		setComm(pid, "other")
	}
	setComm(100, "etcd")

	s := newSyncOf(t, SyncTarget{Comm: "etcd", ProcRoot: proc})
	start := s.searched // NewSync's search
	clock := start
	s.now = func() time.Time { return clock }
	step := func(d time.Duration, wantSearches int, wantPids ...uint32) {
		t.Helper()
		clock = clock.Add(d)
		if err := s.retarget(); err != nil {
			t.Fatal(err)
		}
		if s.searches != wantSearches {
			t.Errorf("after %s: %d whole searches, want %d", clock.Sub(start), s.searches, wantSearches)
		}
		var got []uint32
		var pid uint32
		var v uint8
		it := s.objs.SyncTargets.Iterate()
		for it.Next(&pid, &v) {
			got = append(got, pid)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantPids) {
			t.Errorf("after %s: sync_targets %v, want %v", clock.Sub(start), got, wantPids)
		}
	}

	// NewSync searched once; refreshes within fullSearchEvery only check 100.
	if s.searches != 1 {
		t.Fatalf("%d whole searches at the start, want 1", s.searches)
	}
	for range 5 {
		step(time.Second, 1, 100)
	}
	// An etcd started beside it is found by the next whole search.
	setComm(200, "etcd")
	step(time.Second, 1, 100)
	step(fullSearchEvery, 2, 100, 200)
	// A restarted etcd: its old pid gone, the search runs at once.
	gone(100)
	setComm(300, "etcd")
	step(time.Second, 3, 200, 300)
	step(time.Second, 3, 200, 300)
	// A pid reused by another program counts as gone.
	setComm(200, "sh")
	step(time.Second, 4, 300)
	// None left: every refresh searches until one is found.
	gone(300)
	step(time.Second, 5)
	step(time.Second, 6)
	setComm(400, "etcd")
	step(time.Second, 7, 400)
	step(time.Second, 7, 400)
}
