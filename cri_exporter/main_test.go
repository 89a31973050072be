package main

// End-to-end tests of the real cri_exporter binary against a real
// containerd: TestMain builds it once; each test runs it as a child
// process on a free loopback port and scrapes it over HTTP.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bpfleet/bpfleet/cri_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// waitFor bounds every wait of these tests; reaching it is a failure.
const waitFor = 20 * time.Second

// binary is the cri_exporter that TestMain builds.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cri_exporter-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cri_exporter")
	code := 1
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cri_exporter: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuffer collects the exporter's log while the test reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startExporter runs cri_exporter on a free loopback port against ctd and
// returns its URL; the test's cleanup stops it.
func startExporter(t *testing.T, ctd *testenv.Containerd, args ...string) string {
	t.Helper()
	log := &logBuffer{}
	cmd := exec.Command(binary, append([]string{"--web.listen-address=127.0.0.1:0",
		"--collector.cri.endpoint=" + ctd.Endpoint, "--collector.cri.poll-interval=100ms"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := <-exited; err != nil {
			t.Errorf("cri_exporter exited with %v; log:\n%s", err, log)
		}
	})
	for deadline := time.Now().Add(waitFor); ; time.Sleep(10 * time.Millisecond) {
		if m := listening.FindStringSubmatch(log.String()); m != nil {
			return "http://" + m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("cri_exporter not listening after %v; log:\n%s", waitFor, log)
		}
	}
}

// scrape returns the exposition text of url's /metrics.
func scrape(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return b.Bytes()
}

func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// success returns cri_scrape_collector_success of each collector.
func success(t *testing.T, url string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range parse(t, scrape(t, url))["cri_scrape_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// waitSuccess scrapes until the collectors report want.
func waitSuccess(t *testing.T, url string, want map[string]float64) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); ; time.Sleep(100 * time.Millisecond) {
		got := success(t, url)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cri_scrape_collector_success %v after %v, want %v", got, waitFor, want)
		}
	}
}

// TestRuntimeStoppedAndRestarted: with containerd stopped the exporter
// keeps serving, cri reports success 0 and oom 1; once containerd is back,
// cri reports 1 again without the exporter being restarted.
func TestRuntimeStoppedAndRestarted(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	url := startExporter(t, ctd)
	waitSuccess(t, url, map[string]float64{"cri": 1, "oom": 1})
	ctd.Stop(t)
	waitSuccess(t, url, map[string]float64{"cri": 0, "oom": 1})
	ctd.Start(t)
	waitSuccess(t, url, map[string]float64{"cri": 1, "oom": 1})
	if _, ok := parse(t, scrape(t, url))["cri_runtime_info"]; !ok {
		t.Error("cri_runtime_info not served after containerd restarted")
	}
}

// TestPromtoolAndREADME scrapes an exporter that has seen a pod and an
// exit: promtool check metrics reports nothing, and README.md's tables
// list exactly the flags of --help and the metrics of the code.
func TestPromtoolAndREADME(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	url := startExporter(t, ctd, "--bpf.enable-stats")
	waitSuccess(t, url, map[string]float64{"cri": 1, "oom": 1})
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "init", Command: []string{"sh", "-c", "exit 3"}}))
	var text []byte
	for deadline := time.Now().Add(waitFor); ; time.Sleep(100 * time.Millisecond) {
		text = scrape(t, url)
		if bytes.Contains(text, []byte("cri_container_exits_total{")) && bytes.Contains(text, []byte("cri_event_processing_duration_seconds")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit or cgroup event served after %v:\n%s", waitFor, text)
		}
	}

	exportertest.PromtoolCheck(t, text)
	exportertest.CheckREADMEFlags(t, "README.md", binary)
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Descs(), parse(t, text), exportertest.MetricExceptions{
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}
