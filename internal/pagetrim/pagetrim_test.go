package pagetrim

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const smaps = `00400000-01acc000 r-xp 00000000 fe:00 12345862                           /opt/bin/exporter
Size:              23344 kB
Rss:               13360 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me dw sd
01acc000-034bf000 r--p 016cc000 fe:00 12345862                           /opt/bin/exporter
Rss:               19404 kB
Anonymous:             0 kB
Locked:                0 kB
034bf000-03561000 rw-p 030bf000 fe:00 12345862                           /opt/bin/exporter
Rss:                 452 kB
Anonymous:           152 kB
Locked:                0 kB
03561000-055ad000 rw-p 00000000 00:00 0 
Rss:                 300 kB
Anonymous:           300 kB
Locked:                0 kB
55aa00000000-55aa00001000 r--p 00100000 fe:00 99                         /opt/bin/exporter
Rss:                   4 kB
Anonymous:             4 kB
Locked:                0 kB
55aa00001000-55aa00002000 r--p 00101000 fe:00 99                         /opt/bin/exporter
Rss:                   4 kB
Anonymous:             0 kB
Locked:                4 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:00 77                         /opt/my dir/lib (deleted)
Rss:                   4 kB
Anonymous:             0 kB
Locked:                0 kB
7f0000001000-7f0000002000 r--p 00000000 fe:00 78                         /opt/bin/exporter
Rss:                   4 kB
`

// Only the executable's readable, private, unwritten, unlocked mappings
// whose fields were all read are trimmable; paths keep their spaces.
func TestParseSmaps(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start, end uintptr
		perms      string
		path       string
		rss        uint64
		trimmable  bool
	}{
		{0x400000, 0x1acc000, "r-xp", "/opt/bin/exporter", 13360 << 10, true},
		{0x1acc000, 0x34bf000, "r--p", "/opt/bin/exporter", 19404 << 10, true},
		{0x34bf000, 0x3561000, "rw-p", "/opt/bin/exporter", 452 << 10, false},         // writable
		{0x3561000, 0x55ad000, "rw-p", "", 300 << 10, false},                          // anonymous
		{0x55aa00000000, 0x55aa00001000, "r--p", "/opt/bin/exporter", 4 << 10, false}, // relocated: a private copy
		{0x55aa00001000, 0x55aa00002000, "r--p", "/opt/bin/exporter", 4 << 10, false}, // locked
		{0x7f0000000000, 0x7f0000001000, "r-xp", "/opt/my dir/lib (deleted)", 4 << 10, true},
		{0x7f0000001000, 0x7f0000002000, "r--p", "/opt/bin/exporter", 4 << 10, false}, // fields missing
	}
	if len(maps) != len(want) {
		t.Fatalf("%d mappings, want %d: %+v", len(maps), len(want), maps)
	}
	for i, w := range want {
		m := maps[i]
		if m.start != w.start || m.end != w.end || m.perms != w.perms || m.path != w.path || m.rss != w.rss || m.trimmable() != w.trimmable {
			t.Errorf("mapping %d = %+v (trimmable %v), want %+v", i, m, m.trimmable(), w)
		}
	}
	if _, err := parseSmaps(strings.NewReader("Rss: 4 kB\n")); err == nil {
		t.Error("a field before any mapping: no error")
	}
	if _, err := parseSmaps(strings.NewReader("00400000-01acc000 r-xp 00000000 fe:00 1 /x\nRss: many kB\n")); err == nil {
		t.Error("a field without a number: no error")
	}
}

// exeMappings returns the mappings of this test binary.
func exeMappings(t *testing.T) []mapping {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := parseSmaps(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []mapping
	for _, m := range all {
		if m.path == exe {
			out = append(out, m)
		}
	}
	return out
}

// In this test binary: every mapping of the executable is either dropped
// or skipped, its code at least is dropped, and its resident pages fall.
func TestExecutable(t *testing.T) {
	before := exeMappings(t)
	res, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	after := exeMappings(t)
	if res.Mappings+res.Skipped != len(before) || res.Mappings == 0 {
		t.Errorf("Executable() = %+v; want the %d mappings of the executable dropped or skipped, some dropped", res, len(before))
	}
	var rssBefore, rssAfter uint64
	for i, m := range before {
		if m.trimmable() {
			rssBefore += m.rss
			rssAfter += after[i].rss
		}
	}
	if res.Resident != rssBefore || rssAfter >= rssBefore {
		t.Errorf("resident pages of the dropped mappings: %d bytes before (Executable says %d), %d after; want fewer after",
			rssBefore, res.Resident, rssAfter)
	}
}

// A plain, a static and a PIE build of a program that drops its pages and
// then runs code and reads tables all over its executable all run to the
// end with the right output: nothing it still needed was lost.
func TestBuildsRunAfterTrimming(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three executables")
	}
	dir := t.TempDir()
	for _, b := range []struct {
		name string
		env  []string
		args []string
	}{
		{"plain", nil, nil},
		{"static", []string{"CGO_ENABLED=0"}, nil},
		{"pie", nil, []string{"-buildmode=pie"}},
	} {
		t.Run(b.name, func(t *testing.T) {
			bin := filepath.Join(dir, b.name)
			build := exec.Command("go", append(append([]string{"build", "-o", bin}, b.args...), "./testdata/trimcheck")...)
			build.Env = append(os.Environ(), b.env...)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			out, err := exec.Command(bin).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", b.name, err, out)
			}
			if !regexp.MustCompile(`^trimmed=[1-9][0-9]* skipped=[0-9]+ keys=0,1,2,3,4,5,6,7\n$`).Match(out) {
				t.Errorf("%s printed %q", b.name, out)
			}
			t.Logf("%s: %s", b.name, strings.TrimSpace(string(out)))
		})
	}
}
