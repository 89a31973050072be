package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
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

// harness runs one collector against the real kernel.
type harness struct {
	tb testing.TB
	c  exporter.Collector
}

func newHarness(tb testing.TB, newCollector exporter.New) *harness {
	tb.Helper()
	testenv.RequireRoot(tb)
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New(namespace, reg)
	if err != nil {
		tb.Fatal(err)
	}
	resolver, err := workload.NewResolver(workload.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resolver.Close() })
	watchCgroups(tb, resolver, self, reg)
	env := exporter.Env{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespace: namespace,
		Self:      self,
		Workload:  resolver,
	}
	c, err := newCollector(context.Background(), env)
	if err != nil {
		tb.Fatalf("constructing collector: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.(io.Closer).Close(); err != nil {
			tb.Errorf("closing collector: %v", err)
		}
	})
	return &harness{tb: tb, c: c}
}

// watchCgroups runs the resolver's cgroup watcher, as the exporter does,
// until the test ends; it returns once the watcher's program is attached.
func watchCgroups(tb testing.TB, r *workload.Resolver, self *selfmetrics.Metrics, reg *prometheus.Registry) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, self) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("watching cgroups: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := testutil.GatherAndCount(reg, namespace+"_bpf_program_attached"); n > 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("cgroup watcher not attached after 10s")
		}
	}
}

// snapshot is one scrape: series name{label="value",...} → sample.
type snapshot map[string]*dto.Metric

func (h *harness) scrape() snapshot {
	h.tb.Helper()
	ch := make(chan prometheus.Metric, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- h.c.Update(context.Background(), ch)
		close(ch)
	}()
	s := make(snapshot)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			h.tb.Fatal(err)
		}
		s[seriesName(m.Desc(), &pb)] = &pb
	}
	if err := <-errc; err != nil {
		h.tb.Fatalf("Update: %v", err)
	}
	return s
}

func seriesName(d *prometheus.Desc, m *dto.Metric) string {
	name := d.String()
	name = name[strings.Index(name, `fqName: "`)+9:]
	name = name[:strings.Index(name, `"`)]
	return key(name, m.GetLabel())
}

func key(name string, labels []*dto.LabelPair) string {
	var parts []string
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// seriesOf names a series by metric and label pairs "k", "v", ....
func seriesOf(name string, kv ...string) string {
	var labels []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	return key(name, labels)
}

// workloadLabels are the label pairs of a plain (non-Kubernetes) cgroup.
func workloadLabels(cg *testenv.Cgroup, extra ...string) []string {
	return append([]string{"cgroup", cg.Path, "namespace", "", "pod", "", "container", ""}, extra...)
}

// counter returns a counter's value, 0 when the series is absent.
func (s snapshot) counter(name string, kv ...string) float64 {
	m, ok := s[seriesOf(name, kv...)]
	if !ok {
		return 0
	}
	return m.GetCounter().GetValue()
}

// histCount returns a histogram's sample count, 0 when absent.
func (s snapshot) histCount(name string, kv ...string) uint64 {
	m, ok := s[seriesOf(name, kv...)]
	if !ok {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// histogram returns a histogram series, nil when absent.
func (s snapshot) histogram(name string, kv ...string) *dto.Histogram {
	m, ok := s[seriesOf(name, kv...)]
	if !ok {
		return nil
	}
	return m.GetHistogram()
}

// classicCount returns the cumulative count of the classic bucket le.
func classicCount(h *dto.Histogram, le float64) uint64 {
	for _, b := range h.GetBucket() {
		if math.Abs(b.GetUpperBound()-le) < le*1e-9 {
			return b.GetCumulativeCount()
		}
	}
	return 0
}

// delta is after minus before for one counter series.
func delta(before, after snapshot, name string, kv ...string) float64 {
	return after.counter(name, kv...) - before.counter(name, kv...)
}
