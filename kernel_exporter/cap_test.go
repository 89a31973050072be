package main

import (
	"fmt"
	"os/exec"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestSeriesCapFoldsTheRestIntoOverflow runs two exporters side by side at
// --workload.granularity=namespace against a real containerd: one with
// --collector.process.max-series=1, one uncapped. Everything outside
// Kubernetes containers is namespace "", which takes the capped one's only
// slot before any pod runs; a pod in namespace "shop" then goes to the
// overflow series, whose count is exactly the uncapped exporter's "shop"
// series, and kernel_exporter_series_overflow_total counts it.
func TestSeriesCapFoldsTheRestIntoOverflow(t *testing.T) {
	testenv.RequireRoot(t)
	ctd := testenv.StartContainerd(t)
	args := []string{"--collector.disable-defaults", "--collector.process",
		"--workload.granularity=namespace", "--cri.endpoint=" + ctd.Endpoint, "--workload.kubelet-cgroup-root=" + ctd.CgroupParent}
	capped := exportertest.Start(t, binary, append(args, "--collector.process.max-series=1")...)
	uncapped := exportertest.Start(t, binary, args...)
	for _, p := range []*exportertest.Process{capped, uncapped} {
		waitReady(t, p, "process")
	}
	// An exec outside Kubernetes, then a scrape: namespace "" is admitted.
	if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("/bin/true: %v %s", err, out)
	}
	execs := execsByNamespace(t, capped)
	if len(execs) != 1 || execs[""] == 0 {
		t.Fatalf("kernel_process_execs_total by namespace before any pod = %v, want only namespace \"\"", execs)
	}

	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})
	// Once sleep runs, the container's execs no longer change.
	var shop float64
	exportertest.Eventually(t, func() error {
		shop = execsByNamespace(t, uncapped)["shop"]
		if shop < 1 { // sleep at least; runc may add its own
			return fmt.Errorf("uncapped kernel_process_execs_total{namespace=\"shop\"} = %v, want at least 1", shop)
		}
		return nil
	})
	execs = execsByNamespace(t, capped)
	if _, ok := execs["shop"]; ok || len(execs) != 2 || execs[""] == 0 {
		t.Errorf("capped kernel_process_execs_total by namespace = %v, want namespace \"\" and __overflow__ only", execs)
	}
	if got := execs["__overflow__"]; got != shop {
		t.Errorf("capped kernel_process_execs_total{namespace=\"__overflow__\"} = %v, want the uncapped shop series, %v", got, shop)
	}
	exportertest.Eventually(t, func() error {
		fams, err := capped.Scrape()
		if err != nil {
			return err
		}
		if got := counter(fams, "kernel_exporter_series_overflow_total", "metric", "kernel_process_execs_total"); got < 1 {
			return fmt.Errorf("kernel_exporter_series_overflow_total{metric=\"kernel_process_execs_total\"} = %v, want at least 1", got)
		}
		return nil
	})
	fams, err := uncapped.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got := counter(fams, "kernel_exporter_series_overflow_total", "metric", "kernel_process_execs_total"); got != 0 {
		t.Errorf("uncapped kernel_exporter_series_overflow_total{metric=\"kernel_process_execs_total\"} = %v, want 0", got)
	}
}

// execsByNamespace scrapes p and returns kernel_process_execs_total by
// namespace label.
func execsByNamespace(t *testing.T, p *exportertest.Process) map[string]float64 {
	t.Helper()
	fams, err := p.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	execs := map[string]float64{}
	for _, m := range fams["kernel_process_execs_total"].GetMetric() {
		execs[exportertest.LabelValue(m, "namespace")] += m.GetCounter().GetValue()
	}
	return execs
}

// counter returns the value of the series of family name whose label is
// value, 0 when absent.
func counter(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range fams[name].GetMetric() {
		if exportertest.LabelValue(m, label) == value {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
