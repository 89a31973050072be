package workload

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestParseCgroupEvent(t *testing.T) {
	rec := func(id uint64, path string, pad int) []byte {
		b := binary.NativeEndian.AppendUint64(nil, id)
		b = append(b, path...)
		return append(b, make([]byte, pad)...)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		id   uint64
		path string
		ok   bool
	}{
		{"record as the kernel writes it", rec(42, "/kubepods/pod1/abc", 512-18), 42, "/kubepods/pod1/abc", true},
		{"root-level cgroup", rec(7, "/a", 1), 7, "/a", true},
		{"too short", []byte{1, 2, 3}, 0, "", false},
		{"id only", rec(1, "", 0), 0, "", false},
		{"empty path", rec(1, "", 10), 0, "", false},
		{"relative path", rec(1, "a/b", 1), 0, "", false},
		{"no terminator", rec(1, "/a/b", 0), 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, path, err := parseCgroupEvent(tc.raw)
			if (err == nil) != tc.ok || id != tc.id || path != tc.path {
				t.Errorf("parseCgroupEvent = %d, %q, %v; want %d, %q, ok %v", id, path, err, tc.id, tc.path, tc.ok)
			}
		})
	}
}

func FuzzParseCgroupEvent(f *testing.F) {
	f.Add(binary.NativeEndian.AppendUint64(nil, 1), "/a/b")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, head []byte, path string) {
		raw := append(append(head, path...), 0)
		_, p, err := parseCgroupEvent(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
			t.Errorf("path %q accepted", p)
		}
	})
}
