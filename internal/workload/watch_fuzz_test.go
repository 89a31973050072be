package workload

import (
	"encoding/binary"
	"strings"
	"testing"
)

// record builds a struct cgroup_event as the kernel writes it: the whole
// struct, path padded with pad NULs (short of the struct's size when pad is
// smaller than the path's room).
func record(id uint64, kind uint32, path string, pad int) []byte {
	b := binary.NativeEndian.AppendUint64(nil, id)
	b = binary.NativeEndian.AppendUint32(b, kind)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, path...)
	return append(b, make([]byte, pad)...)
}

// full is the padding that makes a record of path the struct's size.
func full(path string) int { return binary.Size(cgroupWatchCgroupEvent{}) - 16 - len(path) }

func TestParseCgroupEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want cgroupEvent
		ok   bool
	}{
		{"made, as the kernel writes it", record(42, 0, "/kubepods/pod1/abc", full("/kubepods/pod1/abc")), cgroupEvent{42, false, "/kubepods/pod1/abc"}, true},
		{"removed", record(7, 1, "/a", full("/a")), cgroupEvent{7, true, "/a"}, true},
		{"unknown kind", record(7, 2, "/a", full("/a")), cgroupEvent{}, false},
		{"too short", []byte{1, 2, 3}, cgroupEvent{}, false},
		{"header only", record(1, 0, "", 0), cgroupEvent{}, false},
		{"truncated path", record(1, 0, "/a", 1), cgroupEvent{}, false},
		{"empty path", record(1, 0, "", full("")), cgroupEvent{}, false},
		{"relative path", record(1, 0, "a/b", full("a/b")), cgroupEvent{}, false},
		{"no terminator", record(1, 0, strings.Repeat("/", full("")), 0), cgroupEvent{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroupEvent(tc.raw)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseCgroupEvent = %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseCgroupEvent(f *testing.F) {
	f.Add(record(1, 0, "/a/b", full("/a/b")))
	f.Add(record(1, 1, "/", full("/")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := parseCgroupEvent(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(ev.path, "/") || strings.ContainsRune(ev.path, 0) {
			t.Errorf("path %q accepted", ev.path)
		}
	})
}
