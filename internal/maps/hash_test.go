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
