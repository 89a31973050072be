package maps

import (
	"maps"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

// row is a map value of one row per workload: three counters.
type row struct{ N [3]uint64 }

func rowCounters(v *row) []uint64 { return v.N[:] }

func TestWorkloadCounterRowsHaveOneRowPerEventCounted(t *testing.T) {
	counts := map[uint64]row{
		7:  {N: [3]uint64{3, 0, 2}},
		9:  {N: [3]uint64{0, 4, 0}},
		11: {}, // a row whose counts were all zero: no series
	}
	want := map[CounterKey]uint64{{ID: 7, Event: 0}: 3, {ID: 7, Event: 2}: 2, {ID: 9, Event: 1}: 4}
	if got := WorkloadCounterRows(counts, rowCounters); !maps.Equal(got, want) {
		t.Errorf("WorkloadCounterRows = %v, want %v", got, want)
	}
}

// A map of one row per workload and its overflow companion read as counter
// rows; reaping and DeleteWorkloads delete a workload's row whole.
func TestWorkloadRowsReadAndDeletedWhole(t *testing.T) {
	testenv.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 24, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	overflow, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 16, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer overflow.Close()
	for id := uint64(1); id <= 4; id++ {
		if err := m.Put(id, row{N: [3]uint64{id, 0, 10 * id}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := overflow.Put(CounterKey{Event: 2}, uint64(5)); err != nil {
		t.Fatal(err)
	}
	rows, counts, err := ReadWorkloadCountersFolded(m, overflow, rowCounters)
	if err != nil {
		t.Fatal(err)
	}
	want := map[CounterKey]uint64{{ID: OverflowID, Event: 2}: 5}
	for id := uint64(1); id <= 4; id++ {
		want[CounterKey{ID: id, Event: 0}] = id
		want[CounterKey{ID: id, Event: 2}] = 10 * id
	}
	if !maps.Equal(rows, want) {
		t.Errorf("rows = %v, want %v", rows, want)
	}
	if len(counts) != 4 || counts[3] != (row{N: [3]uint64{3, 0, 30}}) {
		t.Errorf("counts = %v, want 4 workloads, 3 holding {3 0 30}", counts)
	}

	if err := Reap(m, counts, []uint64{2, 99}, func(id uint64) uint64 { return id }); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	keys := []CounterKey{{ID: 3, Event: 0}, {ID: 3, Event: 2}} // two events of one workload
	if err := DeleteWorkloads(m, keys); err != nil {
		t.Fatalf("DeleteWorkloads: %v", err)
	}
	if err := DeleteWorkloads(m, keys); err != nil {
		t.Fatalf("DeleteWorkloads of rows already gone: %v", err)
	}
	left, err := ReadHash[uint64, row](m)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[uint64]row{1: {N: [3]uint64{1, 0, 10}}, 4: {N: [3]uint64{4, 0, 40}}}; !maps.Equal(left, want) {
		t.Errorf("rows left = %v, want %v", left, want)
	}
}
