package main

// End-to-end tests of the real cri_exporter binary against a real
// containerd: TestMain builds it once; each test runs it as a child
// process on a free loopback port and scrapes it over HTTP.

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bpfleet/bpfleet/cri_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// binary is the cri_exporter that TestMain builds.
var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

// startExporter runs cri_exporter on a free loopback port against ctd; the
// test's cleanup stops it and expects a clean exit.
func startExporter(t *testing.T, ctd *testenv.Containerd, args ...string) *exportertest.Process {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{
		"--collector.cri.endpoint=" + ctd.Endpoint, "--collector.cri.poll-interval=100ms"}, args...)...)
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("cri_exporter exited %d; log:\n%s", code, p.Log())
		}
	})
	return p
}

// waitSuccess scrapes until the collectors report want.
func waitSuccess(t *testing.T, p *exportertest.Process, want map[string]float64) {
	t.Helper()
	p.WaitForMetric(t, "cri_scrape_collector_success", "collector", want)
}

// TestRuntimeStoppedAndRestarted: with containerd stopped the exporter
// keeps serving, cri reports success 0 and oom 1; once containerd is back,
// cri reports 1 again without the exporter being restarted.
func TestRuntimeStoppedAndRestarted(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	p := startExporter(t, ctd)
	waitSuccess(t, p, map[string]float64{"cri": 1, "oom": 1})
	ctd.Stop(t)
	waitSuccess(t, p, map[string]float64{"cri": 0, "oom": 1})
	ctd.Start(t)
	fams := p.WaitForMetric(t, "cri_scrape_collector_success", "collector", map[string]float64{"cri": 1, "oom": 1})
	if _, ok := fams["cri_runtime_info"]; !ok {
		t.Error("cri_runtime_info not served after containerd restarted")
	}
}

// TestPromtoolAndREADME scrapes an exporter that has seen a pod and an
// exit: promtool check metrics reports nothing, and README.md's tables
// list exactly the flags of --help and the metrics of the code.
func TestPromtoolAndREADME(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	p := startExporter(t, ctd, "--bpf.enable-stats")
	waitSuccess(t, p, map[string]float64{"cri": 1, "oom": 1})
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "init", Command: []string{"sh", "-c", "exit 3"}}))
	var text []byte
	exportertest.Eventually(t, func() error {
		text = p.Get(t, "/metrics").Body
		if bytes.Contains(text, []byte("cri_container_exits_total{")) && bytes.Contains(text, []byte("cri_event_processing_duration_seconds")) {
			return nil
		}
		return fmt.Errorf("no exit or cgroup event served:\n%s", text)
	})

	exportertest.PromtoolCheck(t, text)
	exportertest.CheckREADMEFlags(t, "README.md", binary)
	fams, err := exportertest.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Descs(), fams, exportertest.MetricExceptions{
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}
