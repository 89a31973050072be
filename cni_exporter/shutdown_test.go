package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestSIGTERMUnloadsEveryBPFObject: an exporter with every collector up
// holds the programs of plugins, netns and drops, each by a link of its
// own; SIGTERM makes it exit 0 and release every program, link and map.
// CRI is off (--cri.endpoint=), so that drops succeeds without a runtime.
func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary, "--cri.endpoint=", "--collector.ipam.config-dir="+t.TempDir())
	p.WaitForMetric(t, "cni_scrape_collector_success", "collector",
		map[string]float64{"plugins": 1, "netns": 1, "ipam": 1, "drops": 1})

	exportertest.CheckSIGTERMReleasesBPF(t, p, before, []string{
		"clone3_enter", "clone3_exit", "clone_enter", "clone_exit",
		"kfree_skb",
		"plugin_exec", "plugin_exit",
		"unshare_enter", "unshare_exit",
	})
}
