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

// programs are the BPF programs (C function names) that cri_exporter loads
// and attaches, sorted: the oom collector's and the cgroup watcher's.
func programs() []string { return []string{"cgroup_mkdir", "cgroup_rmdir", "oom_mark_victim"} }

// startExporter runs cri_exporter on a free loopback port against ctd; the
// test's cleanup stops it and expects a clean exit.
func startExporter(t *testing.T, ctd *testenv.Containerd, args ...string) *exportertest.Process {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{
		"--cri.endpoint=" + ctd.Endpoint, "--workload.kubelet-cgroup-root=" + ctd.CgroupParent, "--collector.cri.poll-interval=100ms"}, args...)...)
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

// waitReady waits until both collectors succeed and every program is
// attached.
func waitReady(t *testing.T, p *exportertest.Process) {
	t.Helper()
	waitSuccess(t, p, map[string]float64{"cri": 1, "oom": 1})
	attached := map[string]float64{}
	for _, prog := range programs() {
		attached[prog] = 1
	}
	p.WaitForMetric(t, "cri_exporter_bpf_program_attached", "program", attached)
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

// TestNoEndpointCRIUnsupported: with --cri.endpoint empty the cri collector
// is unsupported (no success series) and oom serves on.
func TestNoEndpointCRIUnsupported(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--cri.endpoint=")
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("cri_exporter exited %d; log:\n%s", code, p.Log())
		}
	})
	fams := p.WaitForMetric(t, "cri_exporter_collector_unsupported", "collector", map[string]float64{"cri": 1, "oom": 0})
	success := exportertest.ByLabel(fams, "cri_scrape_collector_success", "collector")
	if _, ok := success["cri"]; ok {
		t.Errorf("cri_scrape_collector_success served for the unsupported cri collector: %v", success)
	}
	waitSuccess(t, p, map[string]float64{"oom": 1})
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
		if bytes.Contains(text, []byte("cri_container_exits_total{")) && bytes.Contains(text, []byte("cri_exporter_event_processing_duration_seconds")) {
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
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
		// Served once a series cap is reached.
		OnlyOnEvents:         []string{"cri_exporter_series_overflow_total"},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}

// TestREADMEMatchesMetricTable needs no root: README.md's Metrics table
// documents every metric of the table with its labels, type and collector.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}
