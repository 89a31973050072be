package procexit

import (
	"maps"
	"testing"

	"github.com/cilium/ebpf"

	bpfmaps "github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestCounterRowsHaveOneRowPerEventCounted(t *testing.T) {
	counts := map[uint64]ProcessProcessCountsValue{
		7:  {N: [5]uint64{3, 0, 2, 0, 1}},
		9:  {N: [5]uint64{0, 4, 0, 0, 0}},
		11: {}, // a row whose counts were all zero: no series
	}
	want := map[bpfmaps.CounterKey]uint64{
		{ID: 7, Event: uint32(ProcessProcessEventEV_PROCESS_EXEC)}:         3,
		{ID: 7, Event: uint32(ProcessProcessEventEV_PROCESS_EXIT_SUCCESS)}: 2,
		{ID: 7, Event: uint32(ProcessProcessEventEV_PROCESS_EXIT_SIGNAL)}:  1,
		{ID: 9, Event: uint32(ProcessProcessEventEV_PROCESS_FORK)}:         4,
	}
	if got := CounterRows(counts); !maps.Equal(got, want) {
		t.Errorf("CounterRows = %v, want %v", got, want)
	}
}

// The rows of gone workloads are deleted whole, every event at once, from a
// real process_counts map, and the others stay.
func TestGoneWorkloadsLeaveTheMap(t *testing.T) {
	testenv.RequireRoot(t)
	spec, err := LoadProcess()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMap(spec.Maps[ProcessMapProcessCounts])
	if err != nil {
		t.Fatalf("creating process_counts: %v", err)
	}
	defer m.Close()
	for id := uint64(1); id <= 4; id++ {
		if err := m.Put(id, ProcessProcessCountsValue{N: [5]uint64{id, id, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := ReadCounts(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 4 || counts[3].N[1] != 3 {
		t.Fatalf("ReadCounts = %v, want 4 rows, id 3 with 3 forks", counts)
	}
	if err := bpfmaps.Reap(m, counts, []uint64{2, 99}, func(id uint64) uint64 { return id }); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	rows := CounterRows(counts)
	var keys []bpfmaps.CounterKey
	for k := range rows {
		if k.ID == 3 {
			keys = append(keys, k) // three events of one workload
		}
	}
	if err := DeleteWorkloads(m, keys); err != nil {
		t.Fatalf("DeleteWorkloads: %v", err)
	}
	if err := DeleteWorkloads(m, keys); err != nil {
		t.Fatalf("DeleteWorkloads of rows already gone: %v", err)
	}
	left, err := ReadCounts(m)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]ProcessProcessCountsValue{1: {N: [5]uint64{1, 1, 0, 0, 1}}, 4: {N: [5]uint64{4, 4, 0, 0, 1}}}
	if !maps.Equal(left, want) {
		t.Errorf("rows left = %v, want %v", left, want)
	}
}
