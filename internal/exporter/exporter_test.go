package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestScrapeReportsEachCollector(t *testing.T) {
	var closes, attempts atomic.Int32
	empty := simple("empty", func(context.Context, chan<- prometheus.Metric) error { return exporter.ErrNoData })
	r := start(t, program(gauge(&closes), broken(&attempts), empty))
	r.waitReady(t)
	eventually(t, "broken collector constructed 3 times", func() bool { return attempts.Load() >= 3 })

	code, body := r.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d:\n%s", code, body)
	}
	mfs := parse(t, body)
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"test_static_value", nil, 42},
		{"test_scrape_collector_success", []string{"collector", "gauge"}, 1},
		{"test_scrape_collector_success", []string{"collector", "empty"}, 1},
		{"test_scrape_collector_success", []string{"collector", "broken"}, 0},
		{"test_scrape_collector_duration_seconds", []string{"collector", "broken"}, 0},
		{"test_exporter_build_info", []string{"goversion", runtime.Version()}, 1},
	} {
		got, ok := value(mfs, want.name, want.labels...)
		if !ok || got != want.value {
			t.Errorf("%s%v = %v (present: %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}
	if _, ok := value(mfs, "test_scrape_collector_duration_seconds", "collector", "gauge"); !ok {
		t.Error("no test_scrape_collector_duration_seconds{collector=gauge}")
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "promhttp_metric_handler_requests_total"} {
		if mfs[name] == nil {
			t.Errorf("exporter metric %s missing", name)
		}
	}
	if !strings.Contains(r.stderr.String(), "attaching: permission denied") {
		t.Errorf("construction failure not logged:\n%s", r.stderr.String())
	}
	exportertest.PromtoolCheck(t, []byte(body))
}

func TestCollectorSelection(t *testing.T) {
	off := simple("off", func(context.Context, chan<- prometheus.Metric) error { return nil })
	off.Default = false
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"broken", "gauge"}},
		{[]string{"--no-collector.broken"}, []string{"gauge"}},
		{[]string{"--collector.off"}, []string{"broken", "gauge", "off"}},
		{[]string{"--collector.disable-defaults", "--collector.gauge"}, []string{"gauge"}},
		{[]string{"--collector.disable-defaults", "--collector.off"}, []string{"off"}},
		{[]string{"--collector.disable-defaults"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var closes, attempts atomic.Int32
			r := start(t, program(gauge(&closes), broken(&attempts), off), tt.args...)
			r.waitReady(t)
			got := collectorsIn(r.scrape(t))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("collectors = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCollectorFlagReachesConstructor(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--collector.gauge.value=7.5")
	r.waitReady(t)
	if got, _ := value(r.scrape(t), "test_static_value"); got != 7.5 {
		t.Errorf("test_static_value = %v, want 7.5", got)
	}
}

func TestScrapeTimeout(t *testing.T) {
	var closes atomic.Int32
	release := make(chan struct{})
	var hadDeadline atomic.Bool
	slow := simple("slow", func(ctx context.Context, _ chan<- prometheus.Metric) error {
		_, ok := ctx.Deadline()
		hadDeadline.Store(ok)
		<-release // ignores ctx: the exporter must not wait for it
		return nil
	})
	r := start(t, program(gauge(&closes), slow))
	defer close(release)
	r.waitReady(t)

	for scrape := 1; scrape <= 2; scrape++ { // the second finds the first Update still running
		begin := time.Now()
		mfs := r.scrape(t, "X-Prometheus-Scrape-Timeout-Seconds", "1")
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("scrape %d took %v with a 1s timeout", scrape, took)
		}
		if got, _ := value(mfs, "test_scrape_collector_success", "collector", "slow"); got != 0 {
			t.Errorf("scrape %d: success{slow} = %v, want 0", scrape, got)
		}
		if got, _ := value(mfs, "test_scrape_collector_success", "collector", "gauge"); got != 1 {
			t.Errorf("scrape %d: success{gauge} = %v, want 1", scrape, got)
		}
		if got, _ := value(mfs, "test_static_value"); got != 42 {
			t.Errorf("scrape %d: test_static_value = %v, want 42", scrape, got)
		}
	}
	if !hadDeadline.Load() {
		t.Error("Update's context had no deadline")
	}
}

func TestSlowCollectorRecovers(t *testing.T) {
	release := make(chan struct{})
	slow := simple("slow", func(context.Context, chan<- prometheus.Metric) error {
		<-release
		return nil
	})
	r := start(t, program(slow))
	r.waitReady(t)
	mfs := r.scrape(t, "X-Prometheus-Scrape-Timeout-Seconds", "0.5")
	if got, _ := value(mfs, "test_scrape_collector_success", "collector", "slow"); got != 0 {
		t.Errorf("while stuck: success{slow} = %v, want 0", got)
	}
	close(release)
	mfs = r.scrape(t, "X-Prometheus-Scrape-Timeout-Seconds", "10")
	if got, _ := value(mfs, "test_scrape_collector_success", "collector", "slow"); got != 1 {
		t.Errorf("after release: success{slow} = %v, want 1", got)
	}
}

func TestPanickingCollectorFailsAlone(t *testing.T) {
	var closes atomic.Int32
	panics := simple("panics", func(context.Context, chan<- prometheus.Metric) error { panic("boom") })
	r := start(t, program(gauge(&closes), panics))
	r.waitReady(t)
	for range 2 {
		mfs := r.scrape(t)
		if got, _ := value(mfs, "test_scrape_collector_success", "collector", "panics"); got != 0 {
			t.Errorf("success{panics} = %v, want 0", got)
		}
		if got, _ := value(mfs, "test_static_value"); got != 42 {
			t.Errorf("test_static_value = %v, want 42", got)
		}
	}
}

func TestMaxRequests(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	blocking := simple("blocking", func(context.Context, chan<- prometheus.Metric) error {
		started <- struct{}{}
		<-release
		return nil
	})
	r := start(t, program(blocking), "--web.max-requests=1")
	r.waitReady(t)
	first := make(chan int, 1)
	go func() {
		code, _ := r.get(t, "/metrics")
		first <- code
	}()
	<-started
	code, body := r.get(t, "/metrics")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "Limit of concurrent requests reached (1)") {
		t.Errorf("second scrape = %d %q, want 503 and the limit message", code, body)
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first scrape = %d, want 200", code)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	release, succeed := make(chan struct{}), make(chan struct{})
	waiting := exporter.Spec{
		Name:    "waiting",
		Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			<-release
			select {
			case <-succeed:
				return updateFunc(func(context.Context, chan<- prometheus.Metric) error { return nil }), nil
			default:
				return nil, errors.New("not today")
			}
		},
	}
	r := start(t, program(waiting))
	if code, body := r.get(t, "/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 \"ok\"", code, body)
	}
	if code, _ := r.get(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before any attempt = %d, want 503", code)
	}
	close(release)
	// Attempted, but nothing is served: a pod without its capabilities must
	// not look ready.
	eventually(t, "/readyz says no collector is constructed", func() bool {
		code, body := r.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no collector constructed yet")
	})
	close(succeed)
	r.waitReady(t)
	if code, body := r.get(t, "/"); code != http.StatusOK || !strings.Contains(body, `href="/metrics"`) ||
		!strings.Contains(body, `href="/healthz"`) || !strings.Contains(body, `href="/readyz"`) {
		t.Errorf("landing page = %d, want 200 with links to metrics, healthz, readyz:\n%s", code, body)
	}
}

// basicAuthConfig's password for dave is dave123 (bcrypt cost 10, from the
// exporter-toolkit's test data).
const basicAuthConfig = `basic_auth_users:
  dave: $2y$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq
`

func TestWebConfigBasicAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(path, []byte(basicAuthConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--web.config.file="+path)
	for _, tt := range []struct {
		user, password string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{"dave", "wrong", http.StatusUnauthorized},
		{"dave", "dave123", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.password)
		}
		if code, _ := do(t, req); code != tt.want {
			t.Errorf("GET /metrics as %q:%q = %d, want %d", tt.user, tt.password, code, tt.want)
		}
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "test_exporter: error: unknown long flag '--bogus', try --help"},
		{[]string{"--web.max-requests=many"}, `test_exporter: error: --web.max-requests: strconv.ParseFloat: parsing "many": invalid syntax, try --help`},
		{[]string{"--collector.gauge.value=x"}, `test_exporter: error: --collector.gauge.value: strconv.ParseFloat: parsing "x": invalid syntax, try --help`},
		{[]string{"--collector.gauge.value=-1"}, `test_exporter: error: --collector.gauge.value: must not be negative, got -1, try --help`},
		{[]string{"--no-collector.gauge", "--collector.gauge.value=-1"}, `test_exporter: error: --collector.gauge.value: must not be negative, got -1, try --help`},
		{[]string{"--log.level=loud"}, `test_exporter: error: --log.level: unrecognized log level loud, try --help`},
		{[]string{"--web.telemetry-path="}, `test_exporter: error: --web.telemetry-path: "" must start with /, try --help`},
		{[]string{"--web.telemetry-path=metrics"}, `test_exporter: error: --web.telemetry-path: "metrics" must start with /, try --help`},
		{[]string{"--web.telemetry-path=/healthz"}, `test_exporter: error: --web.telemetry-path: /healthz is the exporter's own endpoint, try --help`},
		{[]string{"--web.telemetry-path=/readyz"}, `test_exporter: error: --web.telemetry-path: /readyz is the exporter's own endpoint, try --help`},
		{[]string{"--web.max-requests=-5"}, `test_exporter: error: --web.max-requests: -5 is negative (0 disables the limit), try --help`},
		{[]string{"--web.max-connections=-1"}, `test_exporter: error: --web.max-connections: -1 is negative (0 disables the limit), try --help`},
		{[]string{"--web.idle-timeout=0s"}, `test_exporter: error: --web.idle-timeout: must be positive, got 0s, try --help`},
	} {
		var closes atomic.Int32
		var stderr bytes.Buffer
		code := exporter.MainContext(t.Context(), program(gauge(&closes)), tt.args, &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var closes atomic.Int32
	var stderr testenv.LogBuffer
	code := exporter.MainContext(t.Context(), program(gauge(&closes)),
		[]string{"--web.listen-address=" + busy.Addr().String()}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and \"address already in use\"", code, stderr.String())
	}
	if closes.Load() > 1 {
		t.Errorf("gauge closed %d times, want at most once", closes.Load())
	}
}

func TestShutdownClosesEveryCollectorOnce(t *testing.T) {
	var gaugeCloses, otherCloses, attempts atomic.Int32
	other := gauge(&otherCloses)
	other.Name = "other"
	r := start(t, program(gauge(&gaugeCloses), other, broken(&attempts)))
	r.waitReady(t)
	eventually(t, "both collectors constructed", func() bool {
		mfs := r.scrape(t)
		g, _ := value(mfs, "test_scrape_collector_success", "collector", "gauge")
		o, _ := value(mfs, "test_scrape_collector_success", "collector", "other")
		return g == 1 && o == 1
	})
	if code := r.stop(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if g, o := gaugeCloses.Load(), otherCloses.Load(); g != 1 || o != 1 {
		t.Errorf("Close calls: gauge %d, other %d; want 1 each", g, o)
	}
	if _, err := http.Get(r.url + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestDisableExporterMetrics(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--web.disable-exporter-metrics")
	r.waitReady(t)
	mfs := r.scrape(t)
	for name := range mfs {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			t.Errorf("exporter metric %s served with --web.disable-exporter-metrics", name)
		}
	}
	for _, name := range []string{"test_exporter_build_info", "test_static_value", "test_scrape_collector_success"} {
		if mfs[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

func TestTelemetryPath(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--web.telemetry-path=/m")
	r.waitReady(t)
	if code, body := r.get(t, "/m"); code != http.StatusOK || !strings.Contains(body, "test_static_value 42") {
		t.Errorf("GET /m = %d, want 200 with test_static_value 42:\n%s", code, body)
	}
	if code, _ := r.get(t, "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics = %d, want 404", code)
	}
}

func TestContentNegotiation(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)))
	r.waitReady(t)
	for accept, want := range map[string]string{
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited": "application/vnd.google.protobuf",
		"application/openmetrics-text;version=1.0.0":                                                 "application/openmetrics-text",
		"text/plain;version=0.0.4":                                                                   "text/plain",
	} {
		req, err := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, want) {
			t.Errorf("Accept %s: Content-Type %q, want %s", accept, got, want)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var closes, attempts atomic.Int32
	p := program(gauge(&closes), broken(&attempts), capped())
	p.Components = []exporter.ComponentSpec{clientComponent(new(atomic.Int32))}
	var stdout bytes.Buffer
	if code := exporter.MainContext(t.Context(), p, []string{"--help"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("--help exit %d, want 0", code)
	}
	help := stdout.String()
	for _, want := range []string{
		`--web.listen-address=:10099`,
		`--web.config.file=""`,
		`--[no-]web.systemd-socket`,
		`--web.telemetry-path="/metrics"`,
		`--[no-]web.disable-exporter-metrics`,
		`--web.max-requests=40`,
		`--log.level=info`,
		`--log.format=logfmt`,
		`--[no-]version`,
		`--[no-]collector.disable-defaults`,
		`--[no-]collector.broken`,
		`Enable the broken collector (default: enabled).`,
		`Never constructs.`,
		`--[no-]collector.gauge`,
		`--collector.gauge.value=42`,
		`--client.address="localhost:1"`,
		`--collector.capped.max-series=100`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	// A scaffold knows nothing of eBPF or workloads: an exporter that does not
	// list their components has none of their flags.
	for _, absent := range []string{"--bpf.", "--workload.", "--cri."} {
		if strings.Contains(help, absent) {
			t.Errorf("--help lists a %s flag without that component", absent)
		}
	}
	if b, g := strings.Index(help, "collector.broken"), strings.Index(help, "collector.gauge"); b > g {
		t.Error("--help lists collector.gauge before collector.broken, want them sorted")
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := exporter.MainContext(t.Context(), program(), []string{"--version"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("--version exit %d, want 0", code)
	}
	if got := stdout.String(); !strings.HasPrefix(got, "test_exporter, version ") {
		t.Errorf("--version printed %q, want it to start with %q", got, "test_exporter, version ")
	}
}

func TestProgramErrors(t *testing.T) {
	var a, b atomic.Int32
	for name, p := range map[string]exporter.Program{
		"duplicate":      program(gauge(&a), gauge(&b)),
		"no constructor": program(exporter.Spec{Name: "none"}),
	} {
		var stderr bytes.Buffer
		code := exporter.MainContext(t.Context(), p, nil, &bytes.Buffer{}, &stderr)
		if code != 1 || stderr.Len() == 0 {
			t.Errorf("%s: exit %d, stderr %q; want 1 and a message", name, code, stderr.String())
		}
	}

}

func TestShutdownWithStuckCollector(t *testing.T) {
	var closes atomic.Int32
	started, stuck := make(chan struct{}, 1), make(chan struct{})
	defer close(stuck)
	stuckSpec := simple("stuck", func(context.Context, chan<- prometheus.Metric) error {
		started <- struct{}{}
		<-stuck // never returns while the exporter runs
		return nil
	})
	r := start(t, program(gauge(&closes), stuckSpec))
	r.waitReady(t)
	go func() { _, _ = http.Get(r.url + "/metrics") }()
	<-started
	if code := r.stop(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if got := closes.Load(); got != 1 {
		t.Errorf("gauge closed %d times, want 1", got)
	}
	if !strings.Contains(r.stderr.String(), "Collector still updating at shutdown") {
		t.Errorf("stuck collector not reported:\n%s", r.stderr.String())
	}
}

// A collector the host cannot support is tried once, not retried, and
// reports that it is unsupported, not that it fails, while the others serve.
func TestUnsupportedCollectorIsNotRetried(t *testing.T) {
	var closes, attempts atomic.Int32
	unsupported := exporter.Spec{
		Name:    "unsupported",
		Help:    "Needs a hook this kernel lacks.",
		Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			attempts.Add(1)
			return nil, fmt.Errorf("attaching kprobe/foo: %w", errors.ErrUnsupported)
		},
	}
	r := start(t, program(gauge(&closes), unsupported))
	r.waitReady(t)
	time.Sleep(300 * time.Millisecond) // several retry intervals of the test program
	if n := attempts.Load(); n != 1 {
		t.Errorf("unsupported collector constructed %d times, want 1", n)
	}
	_, body := r.get(t, "/metrics")
	mfs := parse(t, body)
	if got, ok := value(mfs, "test_scrape_collector_success", "collector", "unsupported"); ok {
		t.Errorf("unsupported collector reports success %v, want no success series", got)
	}
	if got, ok := value(mfs, "test_exporter_collector_unsupported", "collector", "unsupported"); !ok || got != 1 {
		t.Errorf("test_exporter_collector_unsupported{collector=unsupported} = %v (present %v), want 1", got, ok)
	}
	if got, ok := value(mfs, "test_exporter_collector_unsupported", "collector", "gauge"); !ok || got != 0 {
		t.Errorf("test_exporter_collector_unsupported{collector=gauge} = %v (present %v), want 0", got, ok)
	}
	if got, _ := value(mfs, "test_static_value"); got != 42 {
		t.Errorf("other collector's value = %v, want 42", got)
	}
	if !strings.Contains(r.stderr.String(), "Not supported on this host") {
		t.Errorf("unsupported collector not logged:\n%s", r.stderr.String())
	}
}
