package maps

import (
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

// newHash makes a BPF_MAP_TYPE_HASH of uint64 → uint64 holding keys k → 10k.
func newHash(t *testing.T, keys ...uint64) *ebpf.Map {
	t.Helper()
	testenv.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, k := range keys {
		if err := m.Put(k, 10*k); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// ReadHash reads every row, across several batches.
func TestReadHash(t *testing.T) {
	var keys []uint64
	for k := range uint64(2500) { // more than two batches
		keys = append(keys, k+1)
	}
	got, err := ReadHash[uint64, uint64](newHash(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("read %d rows, want %d", len(got), len(keys))
	}
	for _, k := range keys {
		if got[k] != 10*k {
			t.Fatalf("row %d = %d, want %d", k, got[k], 10*k)
		}
	}
}

// DeleteEach says which keys it removed: a key already gone (answered by a
// BPF program meanwhile) is not counted twice, and the keys after it are
// still deleted.
func TestDeleteEach(t *testing.T) {
	m := newHash(t, 1, 2, 3, 5)
	deleted, err := DeleteEach(m, []uint64{1, 2, 9, 3, 9, 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, true, false, true}; !slices.Equal(deleted, want) {
		t.Errorf("DeleteEach = %v, want %v", deleted, want)
	}
	left, err := ReadHash[uint64, uint64](m)
	if err != nil || len(left) != 0 {
		t.Errorf("rows left: %v, %v", left, err)
	}
}

// ReadCounters reads a shared hash map as it is and sums a per-CPU one's
// values over CPUs, so that a map of either type reads the same.
func TestReadCountersEitherType(t *testing.T) {
	testenv.RequireRoot(t)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	key := CounterKey{ID: 3, Event: 1}
	perCPU := make([]uint64, cpus)
	var total uint64
	for i := range perCPU {
		perCPU[i] = uint64(i + 1)
		total += perCPU[i]
	}
	for _, tc := range []struct {
		typ   ebpf.MapType
		value any
	}{
		{ebpf.Hash, total},
		{ebpf.PerCPUHash, perCPU},
	} {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: tc.typ, KeySize: 16, ValueSize: 8, MaxEntries: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Put(key, tc.value); err != nil {
			t.Fatal(err)
		}
		got, err := ReadCounters(m)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if len(got) != 1 || got[key] != total {
			t.Errorf("%s: read %v, want %v: %d", tc.typ, got, key, total)
		}
	}
}
