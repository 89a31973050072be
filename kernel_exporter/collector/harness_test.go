package collector

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// workloads are the children tests start in cgroups, by name; test files
// add theirs in init.
var workloads = map[string]testenv.Workload{
	"exec":  execWorkload,
	"exit":  exitWorkload,
	"sleep": sleepWorkload,
	"alloc": allocWorkload,
	"spin":  spinWorkload,
}

func TestMain(m *testing.M) {
	testenv.Main(m, workloads)
}

// execWorkload runs args[1:] args[0] times, each a fork and an exec.
func execWorkload(args []string) int {
	n, _ := strconv.Atoi(args[0])
	for i := 0; i < n; i++ {
		if err := exec.Command(args[1], args[2:]...).Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// exitWorkload exits with code args[0].
func exitWorkload(args []string) int {
	code, _ := strconv.Atoi(args[0])
	return code
}

// sleepWorkload sleeps until killed.
func sleepWorkload([]string) int {
	time.Sleep(time.Hour)
	return 0
}

// allocWorkload touches args[0] MiB of memory, one page at a time.
func allocWorkload(args []string) int {
	mib, _ := strconv.Atoi(args[0])
	var keep [][]byte
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	return len(keep) % 1
}

// spinWorkload keeps args[0] goroutines busy on CPU for args[1].
func spinWorkload(args []string) int {
	n, _ := strconv.Atoi(args[0])
	d, _ := time.ParseDuration(args[1])
	runtime.GOMAXPROCS(n) // n OS threads on CPU at once
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			x := 0
			for end := time.Now().Add(d); time.Now().Before(end); {
				x++
			}
			done <- x
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	if path := os.Getenv("BPFLEET_SCHEDSTAT_FILE"); path != "" {
		return writeSchedstat(path)
	}
	return 0
}

// writeSchedstat sums the run-queue waits of every thread of this process as
// the kernel's scheduler statistics count them (/proc/self/task/*/schedstat:
// time on CPU, time waiting on a run queue, times run) into path.
func writeSchedstat(path string) int {
	files, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var wait, runs uint64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var onCPU, w, r uint64
		fmt.Sscan(string(data), &onCPU, &w, &r)
		wait += w
		runs += r
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d", wait, runs)), 0o600); err != nil {
		return 1
	}
	return 0
}

// harness runs one collector against the real kernel (collectortest).
type harness struct {
	*collectortest.Harness
	c exporter.Collector
}

// newHarness builds the collector called name (Specs) with opts.
func newHarness(tb testing.TB, name string, opts ...collectortest.Option) *harness {
	tb.Helper()
	h := collectortest.New(tb, namespace, name, constructor(tb, name), opts...)
	return &harness{Harness: h, c: h.C}
}

// constructor returns the constructor of the collector called name.
func constructor(tb testing.TB, name string) exporter.New {
	tb.Helper()
	for _, s := range Specs() {
		if s.Name == name {
			return s.Constructor
		}
	}
	tb.Fatalf("no collector %q", name)
	return nil
}

// snapshot is one scrape; its methods read series as collectortest's do.
type snapshot collectortest.Snapshot

func (h *harness) scrape() snapshot { return snapshot(h.Scrape()) }

func (s snapshot) counter(name string, kv ...string) float64 {
	return collectortest.Snapshot(s).Counter(name, kv...)
}

func (s snapshot) histCount(name string, kv ...string) uint64 {
	return collectortest.Snapshot(s).HistCount(name, kv...)
}

func (s snapshot) histogram(name string, kv ...string) *dto.Histogram {
	return collectortest.Snapshot(s).Histogram(name, kv...)
}

var (
	seriesOf       = collectortest.SeriesOf
	workloadLabels = collectortest.WorkloadLabels
	classicCount   = collectortest.ClassicCount
)

func delta(before, after snapshot, name string, kv ...string) float64 {
	return collectortest.Delta(collectortest.Snapshot(before), collectortest.Snapshot(after), name, kv...)
}
