package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"
	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// updater adapts a collector to a prometheus.Collector for a test registry.
type updater struct{ c exporter.Collector }

func (updater) Describe(chan<- *prometheus.Desc) {}
func (u updater) Collect(ch chan<- prometheus.Metric) {
	if err := u.c.Update(context.Background(), ch); err != nil {
		panic(err)
	}
}

// gather returns what c serves.
func gather(t *testing.T, c exporter.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updater{c})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// startKeyspace runs a keyspace collector against cfg until the test ends,
// retrying its Runner every 100ms as the scaffold would (with backoff).
// maxSeries is the series cap (0: series.DefaultMaxSeries).
func startKeyspace(t *testing.T, cfg etcdclient.Config, kcfg KeyspaceConfig, maxSeries int) *Keyspace {
	t.Helper()
	cli, err := etcdclient.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	env := exporter.Env{Name: "keyspace", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxSeries: maxSeries}
	k := NewKeyspace(cli, kcfg, env)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			k.Run(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return k
}

// put writes a value of size bytes at key and returns the revision.
func put(t *testing.T, cli *clientv3.Client, key string, size int) int64 {
	t.Helper()
	resp, err := cli.Put(context.Background(), key, strings.Repeat("v", size))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return resp.Header.Revision
}

func del(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := cli.Delete(context.Background(), key)
	if err != nil || resp.Deleted != 1 {
		t.Fatalf("delete %s: deleted %v, %v", key, resp, err)
	}
	return resp.Header.Revision
}

// waitFor gathers until check passes (30s at most).
func waitFor(t *testing.T, c exporter.Collector, check func(map[string]*dto.MetricFamily) error) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		fams = gather(t, c)
		return check(fams)
	})
	return fams
}

// scanned waits until a pass read the keyspace at rev or later.
func scanned(t *testing.T, c exporter.Collector, rev int64) map[string]*dto.MetricFamily {
	t.Helper()
	return waitFor(t, c, func(fams map[string]*dto.MetricFamily) error {
		f := fams["etcd_keyspace_scan_revision"]
		if f == nil || int64(f.Metric[0].GetGauge().GetValue()) < rev {
			return fmt.Errorf("no pass at revision %d yet", rev)
		}
		return nil
	})
}

// byPrefix returns a counter or gauge per prefix.
func byPrefix(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	return exportertest.ByLabel(fams, name, "prefix")
}

func equal(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

func checkEqual(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]float64) {
	t.Helper()
	if got := byPrefix(fams, name); !equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// hist is what a test checks of one histogram series.
type hist struct {
	count   uint64
	sum     float64
	classic map[float64]uint64 // cumulative, only the bounds listed
	native  map[int32]uint64   // per native bucket index, all of them
	zero    uint64
}

func histograms(fams map[string]*dto.MetricFamily, name string) map[string]hist {
	out := map[string]hist{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		h := m.GetHistogram()
		got := hist{count: h.GetSampleCount(), sum: h.GetSampleSum(), classic: map[float64]uint64{}, native: map[int32]uint64{}, zero: h.GetZeroCount()}
		for _, b := range h.Bucket {
			got.classic[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		idx, n := int32(0), int64(0)
		di := 0
		for _, span := range h.PositiveSpan {
			idx += span.GetOffset()
			for range span.GetLength() {
				n += h.PositiveDelta[di]
				di++
				if n != 0 {
					got.native[idx] = uint64(n)
				}
				idx++
			}
		}
		out[exportertest.LabelValue(m, "prefix")] = got
	}
	return out
}

func checkHist(t *testing.T, prefix string, got hist, want hist) {
	t.Helper()
	if got.count != want.count || got.sum != want.sum || got.zero != want.zero {
		t.Errorf("value sizes of %s: count %d sum %g zero %d, want %d, %g, %d", prefix, got.count, got.sum, got.zero, want.count, want.sum, want.zero)
	}
	for bound, n := range want.classic {
		if got.classic[bound] != n {
			t.Errorf("value sizes of %s: classic bucket le=%g holds %d, want %d", prefix, bound, got.classic[bound], n)
		}
	}
	if len(got.native) != len(want.native) {
		t.Errorf("value sizes of %s: native buckets %v, want %v", prefix, got.native, want.native)
	}
	for i, n := range want.native {
		if got.native[i] != n {
			t.Errorf("value sizes of %s: native bucket %d holds %d, want %d (all: %v)", prefix, i, got.native[i], n, got.native)
		}
	}
}

const (
	pods       = "/registry/pods/"
	configmaps = "/registry/configmaps/"
	events     = "/registry/events/"
	crds       = "/registry/apiextensions.k8s.io/customresourcedefinitions/"
)

// podSize is the value size of pod i: 100, 1000 or 5000 bytes.
func podSize(i int) int { return []int{100, 1000, 5000}[i%3] }

// TestKeyspaceKubernetesWorkload: 10 events before the exporter starts
// (seen by the pass, not by the watch), then 300 pod puts, 50 ConfigMap
// puts (one of 300000 bytes), 20 pod deletions and keys outside the
// Kubernetes layout. Every count is exact.
// The pass reads the keyspace in one RangeStream (etcd 3.7) or, subtest
// paged, in pages of 7 keys as from older servers.
func TestKeyspaceKubernetesWorkload(t *testing.T) {
	t.Run("stream", func(t *testing.T) { testKubernetesWorkload(t, false) })
	t.Run("paged", func(t *testing.T) { testKubernetesWorkload(t, true) })
}

func testKubernetesWorkload(t *testing.T, paged bool) {
	e := etcdtest.Start(t, etcdtest.Options{})
	cli := e.Client(t)
	var rev int64
	for i := range 10 {
		rev = put(t, cli, fmt.Sprintf("%sns1/ev-%02d", events, i), 50)
	}
	k := startKeyspace(t, e.Config(), KeyspaceConfig{PageSize: 7, ScanInterval: 200 * time.Millisecond, CheckInterval: time.Second, Paged: paged}, 0)
	scanned(t, k, rev)

	for i := range 300 {
		put(t, cli, fmt.Sprintf("%sns1/pod-%03d", pods, i), podSize(i))
	}
	for i := range 50 {
		size := 2000
		if i == 49 {
			size = 300000
		}
		put(t, cli, fmt.Sprintf("%sns1/cm-%02d", configmaps, i), size)
	}
	for i := range 20 {
		del(t, cli, fmt.Sprintf("%sns1/pod-%03d", pods, i))
	}
	put(t, cli, crds+"widgets.example.com", 10)
	put(t, cli, "/registry/health", 17) // directly under /registry/
	put(t, cli, "/config/app", 3)       // outside /registry/
	rev = put(t, cli, "plain", 0)       // no directory at all, empty value

	puts := map[string]float64{pods: 300, configmaps: 50, crds: 1, RootPrefix: 1, OtherPrefix: 2}
	waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		if got := byPrefix(fams, "etcd_keyspace_puts_total"); !equal(got, puts) {
			return fmt.Errorf("puts %v, want %v", got, puts)
		}
		return nil
	})
	fams := scanned(t, k, rev)

	checkEqual(t, fams, "etcd_keyspace_puts_total", puts)
	checkEqual(t, fams, "etcd_keyspace_deletes_total", map[string]float64{pods: 20, configmaps: 0, crds: 0, RootPrefix: 0, OtherPrefix: 0})
	checkEqual(t, fams, "etcd_keyspace_keys", map[string]float64{pods: 280, configmaps: 50, events: 10, crds: 1, RootPrefix: 1, OtherPrefix: 2})
	// Pods: 100 each of 100, 1000 and 5000 bytes, less the deleted pods
	// 0..19: seven of 100, seven of 1000, six of 5000 bytes.
	checkEqual(t, fams, "etcd_keyspace_value_bytes", map[string]float64{
		pods: 610000 - (7*100 + 7*1000 + 6*5000), configmaps: 49*2000 + 300000, events: 500, crds: 10, RootPrefix: 17, OtherPrefix: 3})
	checkEqual(t, fams, "etcd_keyspace_largest_value_bytes", map[string]float64{pods: 5000, configmaps: 300000, events: 50, crds: 10, RootPrefix: 17, OtherPrefix: 3})

	h := histograms(fams, "etcd_keyspace_value_size_bytes")
	if len(h) != 5 {
		t.Errorf("value size histograms for %d prefixes, want 5: %v", len(h), h)
	}
	// Native schema 0: bucket i holds (2^(i-1), 2^i]: 100 → 7, 1000 → 10, 5000 → 13.
	checkHist(t, pods, h[pods], hist{count: 300, sum: 610000,
		classic: map[float64]uint64{64: 0, 128: 100, 512: 100, 1024: 200, 4096: 200, 8192: 300, 1 << 21: 300},
		native:  map[int32]uint64{7: 100, 10: 100, 13: 100}})
	checkHist(t, configmaps, h[configmaps], hist{count: 50, sum: 398000,
		classic: map[float64]uint64{1024: 0, 2048: 49, 262144: 49, 524288: 50},
		native:  map[int32]uint64{11: 49, 19: 1}})
	checkHist(t, OtherPrefix, h[OtherPrefix], hist{count: 2, sum: 3, zero: 1,
		classic: map[float64]uint64{64: 2}, native: map[int32]uint64{2: 1}})
	if r := exportertest.ByLabel(fams, "etcd_keyspace_watch_restarts_total", "reason"); !equal(r, map[string]float64{ReasonCompacted: 0, ReasonError: 0, ReasonLeaderLost: 0}) {
		t.Errorf("watch restarts %v, want none", r)
	}
}

// TestKeyspaceSeriesCap: with --collector.keyspace.prefix-depth=1 and a cap
// of 2 series per metric, the first two prefixes (in order) of each metric
// keep their series and the others are summed into the overflow series.
func TestKeyspaceSeriesCap(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	cli := e.Client(t)
	var rev int64
	for i, dir := range []string{"a", "b", "c", "d"} {
		for j := range i + 1 {
			rev = put(t, cli, fmt.Sprintf("/%s/k%d", dir, j), 10)
		}
	}
	k := startKeyspace(t, e.Config(), KeyspaceConfig{Prefixer: Prefixer{Depth: 1}, PageSize: 3, ScanInterval: time.Hour, CheckInterval: time.Second}, 2)
	fams := scanned(t, k, rev)
	checkEqual(t, fams, "etcd_keyspace_keys", map[string]float64{"/a/": 1, "/b/": 2, "__overflow__": 3 + 4})
	checkEqual(t, fams, "etcd_keyspace_value_bytes", map[string]float64{"/a/": 10, "/b/": 20, "__overflow__": 70})
	// One transaction: the watch counts the four puts at once, so the
	// cap admits the first two prefixes in order.
	var ops []clientv3.Op
	for _, dir := range []string{"d", "c", "b", "a"} {
		ops = append(ops, clientv3.OpPut("/"+dir+"/new", "v"))
	}
	if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		if got, want := byPrefix(fams, "etcd_keyspace_puts_total"), map[string]float64{"/a/": 1, "/b/": 1, "__overflow__": 2}; !equal(got, want) {
			return fmt.Errorf("puts %v, want %v", got, want)
		}
		return nil
	})
}
