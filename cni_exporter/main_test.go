package main

// End-to-end tests of the real cni_exporter binary: TestMain builds it
// once; each test runs it as a child process on a free loopback port.

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bpfleet/bpfleet/cni_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

// TestPromtoolAndREADME scrapes an exporter that has seen a pod made and
// removed through a real containerd: every collector succeeds, promtool
// check metrics reports nothing, and README.md's Metrics table lists
// exactly the metrics of the code and of the scrape.
func TestPromtoolAndREADME(t *testing.T) {
	ctd := testenv.StartContainerd(t, testenv.WithPrivateCNIPlugins())
	p := exportertest.Start(t, binary, "--bpf.enable-stats",
		"--collector.plugins.bin-dir="+ctd.CNIBinDir,
		"--collector.ipam.config-dir="+filepath.Join(ctd.Dir, "net.d"),
		"--cri.endpoint="+ctd.Endpoint)
	p.WaitForMetric(t, "cni_scrape_collector_success", "collector",
		map[string]float64{"plugins": 1, "netns": 1, "ipam": 1, "drops": 1})
	ctd.RemovePod(t, ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"}))
	// Each of loopback, bridge and host-local: one ADD, two DELs.
	p.WaitForMetric(t, "cni_plugin_invocations_total", "command", map[string]float64{"ADD": 1, "DEL": 2})

	resp := p.Get(t, "/metrics")
	text := resp.Body
	for _, want := range []string{"cni_plugin_duration_seconds_bucket", "cni_ipam_addresses_capacity{", "cni_packet_drops_total{", "cni_network_namespaces_created_total"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("no %s served", want)
		}
	}
	fams, err := exportertest.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.PromtoolCheck(t, text)
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
		OnlyOnEvents:         []string{"cni_exporter_series_overflow_total"},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}

// TestBadFlagExits2: a flag that does not exist, or a value a collector
// rejects, is a usage error.
func TestBadFlagExits2(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--collector.drops.max-series=0"},
		{"--cri.timeout=0s"},
		{"--collector.plugins.bin-dir=,"},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit status 2; output:\n%s", args, err, out)
		}
	}
}
