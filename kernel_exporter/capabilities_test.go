package main

import (
	"fmt"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// An exporter started without the capabilities its programs need names
// the missing ones, per collector, instead of "MEMLOCK may be too low" or
// "not supported on this host", and reports the collector down (success 0,
// retried: the pod may get them by a rollout), without crashing.
func TestMissingCapabilityIsNamed(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.StartWithout(t, binary, []string{"bpf", "perfmon", "sys_admin"},
		"--collector.disable-defaults", "--collector.process", "--collector.tcp")
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", map[string]float64{"process": 0, "tcp": 0})
	for _, c := range []string{"process", "tcp"} {
		exportertest.Eventually(t, func() error {
			lines := exportertest.LogLines(p.Log(), "Cannot construct collector", "collector="+c+" ",
				"the exporter lacks CAP_BPF, CAP_PERFMON (these programs need CAP_BPF, CAP_PERFMON;")
			if len(lines) == 0 {
				return fmt.Errorf("no log line names the capabilities collector %s lacks; log:\n%s", c, p.Log())
			}
			return nil
		})
	}
	for _, bad := range []string{"MEMLOCK", "not supported", "unsupported"} {
		if n := len(exportertest.LogLines(p.Log(), "collector=", bad)); n != 0 {
			t.Errorf("%d log lines say %q; log:\n%s", n, bad, p.Log())
		}
	}
	fams, err := p.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got := exportertest.ByLabel(fams, "kernel_exporter_collector_unsupported", "collector"); got["process"] != 0 || got["tcp"] != 0 {
		t.Errorf("collector_unsupported = %v, want 0 for process and tcp", got)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
