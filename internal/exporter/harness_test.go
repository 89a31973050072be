package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/retry"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// waitFor bounds every wait of these tests; reaching it is a failure.
const waitFor = 20 * time.Second

// program returns a test exporter with the given collectors and fast
// construction retries.
func program(specs ...exporter.Spec) exporter.Program {
	return exporter.Program{
		Name:        "test_exporter",
		Namespace:   "test",
		Description: "Exporter under test.",
		DefaultPort: 10099,
		Collectors:  specs,
		Retry:       []retry.Option{retry.Initial(time.Millisecond), retry.Max(10 * time.Millisecond)},
	}
}

// gauge emits test_static_value with a value from --collector.gauge.value,
// which must not be negative, and counts its Close calls in closes.
func gauge(closes *atomic.Int32) exporter.Spec {
	return exporter.Spec{
		Name:    "gauge",
		Help:    "A constant gauge.",
		Default: true,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			value := fs.Flag("value", "Value of the gauge.").Default("42").Float64()
			fs.Validate(func() error {
				if *value < 0 {
					return fmt.Errorf("--collector.gauge.value: must not be negative, got %v", *value)
				}
				return nil
			})
			return func(_ context.Context, env exporter.Env) (exporter.Collector, error) {
				desc := prometheus.NewDesc(env.Namespace+"_static_value", "A value set by flag.", nil, nil)
				return &constCollector{desc: desc, value: *value, closes: closes}, nil
			}
		},
	}
}

type constCollector struct {
	desc   *prometheus.Desc
	value  float64
	closes *atomic.Int32
}

func (c *constCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.value)
	return nil
}

func (c *constCollector) Close() error {
	c.closes.Add(1)
	return nil
}

// broken's constructor always fails; attempts counts its calls.
func broken(attempts *atomic.Int32) exporter.Spec {
	return exporter.Spec{
		Name:    "broken",
		Help:    "Never constructs.",
		Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			attempts.Add(1)
			return nil, errors.New("attaching: permission denied")
		},
	}
}

// simple is a collector named name, on by default, whose Update is update.
func simple(name string, update func(context.Context, chan<- prometheus.Metric) error) exporter.Spec {
	return exporter.Spec{
		Name:    name,
		Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			return updateFunc(update), nil
		},
	}
}

type updateFunc func(context.Context, chan<- prometheus.Metric) error

func (f updateFunc) Update(ctx context.Context, ch chan<- prometheus.Metric) error { return f(ctx, ch) }

// running is an exporter run in-process by MainContext.
type running struct {
	url    string // http://127.0.0.1:port
	stderr *testenv.LogBuffer
	cancel context.CancelFunc
	exited chan int

	stopOnce sync.Once
	code     int
}

var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// start runs p with args on a free loopback port and waits until it listens.
// The test's cleanup stops it.
func start(t *testing.T, p exporter.Program, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &testenv.LogBuffer{}, cancel: cancel, exited: make(chan int, 1)}
	args = append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
	go func() { r.exited <- exporter.MainContext(ctx, p, args, io.Discard, r.stderr) }()
	t.Cleanup(func() { r.stop(t) })

	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(r.stderr.String()); m != nil {
			r.url = "http://" + m[1]
			return r
		}
		select {
		case code := <-r.exited:
			r.stopOnce.Do(func() { r.code = code })
			t.Fatalf("exporter exited with %d before listening:\n%s", code, r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("exporter not listening after %v:\n%s", waitFor, r.stderr.String())
	return nil
}

// stop cancels the exporter's context and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.stopOnce.Do(func() {
		r.cancel()
		select {
		case r.code = <-r.exited:
		case <-time.After(waitFor):
			t.Fatalf("exporter did not stop within %v:\n%s", waitFor, r.stderr.String())
		}
	})
	return r.code
}

// get fetches path with the given request headers (name, value pairs).
func (r *running) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	client := http.Client{Timeout: waitFor}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitReady polls /readyz until it answers 200.
func (r *running) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, "/readyz answers 200", func() bool {
		code, _ := r.get(t, "/readyz")
		return code == http.StatusOK
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %s", waitFor, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scrape fetches and parses the metrics page.
func (r *running) scrape(t *testing.T, header ...string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := r.get(t, "/metrics", header...)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d:\n%s", code, body)
	}
	return parse(t, body)
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewBufferString(text))
	if err != nil {
		t.Fatalf("parsing metrics: %v\n%s", err, text)
	}
	return mfs
}

// value returns the value of the gauge or counter series of family name
// whose labels include the given name, value pairs.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		if hasLabels(m, labels) {
			return m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == pairs[i] && l.GetValue() == pairs[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

// collectorsIn returns the collector label values of test_scrape_collector_success.
func collectorsIn(mfs map[string]*dto.MetricFamily) []string {
	var names []string
	for _, m := range mfs["test_scrape_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" {
				names = append(names, l.GetValue())
			}
		}
	}
	return names
}
