package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// hogScript is a unit's main process that keeps running, with one child
// that waits for /var/tmp/hog.go and then eats memory until it is killed.
const hogScript = `#!/bin/sh
sh -c 'while [ ! -e /var/tmp/hog.go ]; do sleep 0.05; done; exec tail /dev/zero' hogchild &
exec sleep infinity
`

// TestOOMKilledChildOfRunningUnit: a child process of a unit that keeps
// running, under a 32 MiB cgroup v1 memory limit (this host's OOM killer
// works on v1), is killed by the OOM killer; the kernel's mark_victim is
// attributed to the unit through its cgroup v2 path: exactly one kill on
// hog.service, none elsewhere, and the unit stays active. SIGTERM then
// releases every BPF object.
func TestOOMKilledChildOfRunningUnit(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.WriteFile(t, "/usr/local/bin/hogger", hogScript, 0o755)
	sys.AddUnit(t, "hog.service", "[Service]\nExecStart=/usr/local/bin/hogger\n")
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary, "--systemd.address="+sys.Address)
	p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"unit": 1, "oom": 1, "process": 1})
	p.WaitForMetric(t, "systemd_exporter_bpf_program_attached", "program", map[string]float64{"cgroup_mkdir": 1, "cgroup_rmdir": 1, "oom_mark_victim": 1, "process_exec": 1, "process_fork": 1, "process_exit": 1})

	sys.Systemctl(t, "start", "hog.service")
	dir := sys.UnitCgroup(t, "hog.service")
	var child int
	exportertest.Eventually(t, func() error {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(procs)) {
			cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
			if strings.Contains(string(cmdline), "hogchild") {
				child, _ = strconv.Atoi(f)
				return nil
			}
		}
		return fmt.Errorf("no hog child in %s: %s", dir, procs)
	})
	mem := filepath.Join("/sys/fs/cgroup/memory", filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(dir))))+"-hog")
	if err := os.Mkdir(mem, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(mem); err != nil {
			t.Errorf("removing %s: %v", mem, err)
		}
	})
	for file, value := range map[string]string{"memory.limit_in_bytes": "33554432", "cgroup.procs": strconv.Itoa(child)} {
		if err := os.WriteFile(filepath.Join(mem, file), []byte(value), 0o644); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	sys.WriteFile(t, "/var/tmp/hog.go", "", 0o644)

	fams := p.WaitForMetric(t, "systemd_unit_oom_kills_total", "name", map[string]float64{"hog.service": 1})
	if got := sys.Show(t, "hog.service", "ActiveState"); got != "active" {
		t.Errorf("hog.service is %s after its child was killed, want active", got)
	}
	if v, _ := value(fams, "systemd_service_failures_total", map[string]string{"name": "hog.service"}); v != 0 {
		t.Errorf("hog.service failures = %v, want none", v)
	}
	exportertest.CheckSIGTERMReleasesBPF(t, p, before, []string{"cgroup_mkdir", "cgroup_rmdir", "oom_mark_victim", "process_exec", "process_exit", "process_fork"})
}
