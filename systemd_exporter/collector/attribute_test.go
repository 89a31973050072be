package collector

import (
	stdmaps "maps"
	"testing"

	"github.com/bpfleet/bpfleet/internal/maps"
)

// TestAttributeLeavesFoldedRowsOut: rows under maps.OverflowID (a full
// map's folded events) are never looked up, counted under a unit nor
// deleted; the unit's rows next to them are counted exactly and a dead
// cgroup's rows deleted.
func TestAttributeLeavesFoldedRowsOut(t *testing.T) {
	paths := map[uint64]string{1: "/system.slice/foo.service", 2: "/bpfleet-test"}
	a := newUnitAttributor(func(id uint64) (string, bool) {
		if maps.IsOverflow(id) {
			t.Errorf("looked up maps.OverflowID")
		}
		p, ok := paths[id]
		return p, ok
	})
	rows := map[maps.CounterKey]uint64{
		{ID: 1, Event: 1}:               3,
		{ID: 2, Event: 1}:               4,
		{ID: maps.OverflowID, Event: 1}: 5,
		{ID: maps.OverflowID, Event: 2}: 6,
	}
	label := func(event uint32) (string, bool) { return map[uint32]string{1: "failure", 2: "signal"}[event], true }
	a.learn(rows)
	counts, del, gone := a.attribute(rows, label)
	if want := map[[2]string]float64{{"foo.service", "failure"}: 3}; !stdmaps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	if len(del) != 1 || del[0] != (maps.CounterKey{ID: 2, Event: 1}) {
		t.Errorf("deleted %v, want only {2 1}", del)
	}
	if len(gone) != 0 {
		t.Errorf("gone units %v, want none", gone)
	}
}
