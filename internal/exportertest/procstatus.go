package exportertest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ProcStatus returns a memory field of /proc/<pid>/status (VmRSS, VmHWM,
// RssAnon, RssFile...) in bytes.
func ProcStatus(tb testing.TB, pid int, field string) uint64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != field+":" || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			tb.Fatalf("/proc/%d/status: %s: %v", pid, field, err)
		}
		return kb << 10
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// ReportMemory reports the process's resident memory as benchmark metrics:
// VmRSS, its peak VmHWM, and RssAnon (its own heap and stacks; the rest of
// VmRSS is mostly the executable's pages, shared page cache).
func ReportMemory(b *testing.B, pid int) {
	b.Helper()
	for _, f := range []string{"VmRSS", "VmHWM", "RssAnon"} {
		b.ReportMetric(float64(ProcStatus(b, pid, f))/(1<<20), f+"-MiB")
	}
}
