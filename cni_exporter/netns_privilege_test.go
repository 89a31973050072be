package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// With every capability it needs, the netns collector reads the network
// namespace of every process this test (root) can read; without
// CAP_SYS_PTRACE it cannot read those of processes with more privilege
// than its own (kernel threads at least), and says so: a warning naming
// the capability and a gauge of the processes it missed, never a silently
// low count.
func TestUnreadableNetnsAreCounted(t *testing.T) {
	testenv.RequireRoot(t)
	args := []string{"--collector.disable-defaults", "--collector.netns"}
	full := exportertest.Start(t, binary, args...)
	var asRoot float64
	exportertest.Eventually(t, func() error {
		asRoot = float64(unreadableAsThisProcess(t))
		fams, err := full.Scrape()
		if err != nil {
			return err
		}
		if got := exportertest.ByLabel(fams, "cni_exporter_netns_unreadable_processes", "")[""]; got != asRoot {
			return fmt.Errorf("cni_exporter_netns_unreadable_processes with every capability = %v, want %v (what this test cannot read either)", got, asRoot)
		}
		return nil
	})

	reduced := exportertest.StartWithout(t, binary, []string{"sys_ptrace", "sys_admin"}, args...)
	reduced.WaitForMetric(t, "cni_scrape_collector_success", "collector", map[string]float64{"netns": 1})
	fams, err := reduced.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got := exportertest.ByLabel(fams, "cni_exporter_netns_unreadable_processes", "")[""]; got <= asRoot {
		t.Errorf("cni_exporter_netns_unreadable_processes without CAP_SYS_PTRACE = %v, want more than with it (%v): kernel threads", got, asRoot)
	}
	if n := len(exportertest.LogLines(reduced.Log(), "level=WARN", "Cannot read the network namespace", "CAP_SYS_PTRACE")); n != 1 {
		t.Errorf("%d warnings name CAP_SYS_PTRACE, want 1; log:\n%s", n, reduced.Log())
	}
}

// unreadableAsThisProcess counts the processes whose network namespace
// this process may not read.
func unreadableAsThisProcess(t *testing.T) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if _, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); errors.Is(err, os.ErrPermission) {
			n++
		}
	}
	return n
}
