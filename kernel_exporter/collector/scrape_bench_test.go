package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/gather"
	"github.com/bpfleet/bpfleet/internal/procexit"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// scrapeCgroups is the number of cgroups of BenchmarkScrape; with five
// process counter series each (execs, forks, exits by three outcomes) they
// make 10,000 series.
const scrapeCgroups = 2000

// BenchmarkScrape measures one scrape of 10,000 series: the process
// collector's Update (batch map read, workload attribution of 2,000 real
// cgroups, series caps) and the text exposition of promhttp. The rows are
// written into the real BPF map for real cgroup ids, which is what 2,000
// workloads that each exec, fork and exit every way would leave there.
func BenchmarkScrape(b *testing.B) {
	h := newHarness(b, "process")
	counts := h.c.(*processCollector).objs.ProcessCounts
	fillProcessCounts(b, counts, makeCgroups(b, scrapeCgroups))
	// What the exporter's /metrics handler gathers (internal/exporter).
	gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return gather.Gather(nil, updateCollector{h.c}.Collect)
	})
	handler := promhttp.HandlerFor(gathered, promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	var body string
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
		}
		body = rec.Body.String()
	}
	series := samples(body)
	if series < scrapeCgroups*5 {
		b.Fatalf("scrape served %d series, want at least %d", series, scrapeCgroups*5)
	}
	b.ReportMetric(float64(series), "series")
}

// makeCgroups makes n empty cgroups under the test cgroup root and returns
// their ids; they are removed when the benchmark ends, failed or not.
func makeCgroups(tb testing.TB, n int) []uint64 {
	tb.Helper()
	root, err := testenv.V2Root()
	if err != nil {
		tb.Skip(err)
	}
	parent := filepath.Join(root, "bpfleet-test", fmt.Sprintf("%s-%d", tb.Name(), time.Now().UnixNano()))
	var dirs []string
	tb.Cleanup(func() {
		for _, dir := range append(dirs, parent) {
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Errorf("removing cgroup: %v", err)
			}
		}
	})
	if err := os.MkdirAll(parent, 0o755); err != nil {
		tb.Fatalf("making cgroup: %v", err)
	}
	ids := make([]uint64, n)
	for i := range ids {
		dir := filepath.Join(parent, fmt.Sprintf("workload-%04d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Fatalf("making cgroup: %v", err)
		}
		dirs = append(dirs, dir)
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			tb.Fatal(err)
		}
		ids[i] = st.Ino
	}
	return ids
}

// fillProcessCounts writes a row for each id into process_counts, with a
// count of every process event.
func fillProcessCounts(tb testing.TB, m *ebpf.Map, ids []uint64) {
	tb.Helper()
	for i, id := range ids {
		var v procexit.ProcessProcessCountsValue
		for event := range processEvents {
			v.N[event] = uint64(i + 1)
		}
		if err := m.Update(id, v, ebpf.UpdateAny); err != nil {
			tb.Fatalf("writing process_counts: %v", err)
		}
	}
}

// updateCollector serves a collector's Update as a prometheus.Collector,
// unchecked, as the exporter's scrape does; an Update error fails the
// scrape.
type updateCollector struct{ c exporter.Collector }

func (updateCollector) Describe(chan<- *prometheus.Desc) {}

func (u updateCollector) Collect(ch chan<- prometheus.Metric) {
	if err := u.c.Update(context.Background(), ch); err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("update_error", "", nil, nil), err)
	}
}

// samples counts the sample lines of a text exposition.
func samples(body string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// BenchmarkScrapeFloor is the exposition library's own cost for the same
// 10,000 series as BenchmarkScrape (5 counters for each of 2,000 workloads
// with cgroup, namespace, pod, container and the event's label), through
// the same promhttp handler, with no BPF map, no attribution and no caps:
// "const" builds them with prometheus.MustNewConstMetric at every scrape,
// as most exporters do; "prebuilt" sends metrics built once (the floor of
// gathering and encoding alone).
func BenchmarkScrapeFloor(b *testing.B) {
	desc := prometheus.NewDesc("kernel_process_events_total", "Events.", []string{"cgroup", "namespace", "pod", "container", "event"}, nil)
	type row struct{ labels []string }
	var rows []row
	for i := range scrapeCgroups {
		for _, ev := range []string{"exec", "fork", "success", "failure", "signal"} {
			rows = append(rows, row{[]string{fmt.Sprintf("/bpfleet-test/workload-%04d", i), "", "", "", ev}})
		}
	}
	prebuilt := make([]prometheus.Metric, len(rows))
	for i, r := range rows {
		prebuilt[i] = prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(i), r.labels...)
	}
	for _, tc := range []struct {
		name    string
		collect func(ch chan<- prometheus.Metric)
	}{
		{"const", func(ch chan<- prometheus.Metric) {
			for i, r := range rows {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(i), r.labels...)
			}
		}},
		{"prebuilt", func(ch chan<- prometheus.Metric) {
			for _, m := range prebuilt {
				ch <- m
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectFunc(tc.collect))
			handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			b.ReportAllocs()
			var body string
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				body = rec.Body.String()
			}
			b.ReportMetric(float64(samples(body)), "series")
		})
	}
}

// collectFunc is an unchecked prometheus.Collector.
type collectFunc func(ch chan<- prometheus.Metric)

func (collectFunc) Describe(chan<- *prometheus.Desc) {}

func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
