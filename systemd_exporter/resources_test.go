package main

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// TestResourcesWhereAccountingIsOn: with systemd as PID 1 of its own
// namespaces (sdtest.Unshare), memory and task accounting are on (the
// host's v1 memory and pids controllers); CPU and IO accounting are not
// (systemd 252 on a hybrid host: CPUUsageNSec and IOReadBytes stay
// [not set]). The exporter serves systemd_unit_tasks_current as systemctl
// show gives it, follows a change of it that no signal announces (a new
// process in the running service), serves systemd_unit_memory_bytes where
// MemoryCurrent is set, and no CPU or IO series where they are not.
func TestResourcesWhereAccountingIsOn(t *testing.T) {
	sys := sdtest.Boot(t, sdtest.Unshare())
	sys.WriteFile(t, "/usr/local/bin/tasks", "#!/bin/sh\ntrap 'sleep infinity &' USR1\nsleep infinity &\nsleep infinity &\nwhile :; do wait; done\n", 0o755)
	sys.AddUnit(t, "tasks.service", "[Service]\nExecStart=/usr/local/bin/tasks\n")
	p := startExporter(t, sys, `--collector.unit.include=tasks\.service`)
	sys.Systemctl(t, "start", "tasks.service")

	check := func(wantTasks int) {
		t.Helper()
		exportertest.Eventually(t, func() error {
			fams, err := p.Scrape()
			if err != nil {
				return err
			}
			shown, _ := strconv.Atoi(sys.Show(t, "tasks.service", "TasksCurrent"))
			got, ok := value(fams, "systemd_unit_tasks_current", map[string]string{"name": "tasks.service"})
			if shown != wantTasks || !ok || got != float64(wantTasks) {
				return fmt.Errorf("systemd_unit_tasks_current = %v (%v), systemctl show TasksCurrent = %d, want %d", got, ok, shown, wantTasks)
			}
			mem, ok := value(fams, "systemd_unit_memory_bytes", map[string]string{"name": "tasks.service"})
			if shownMem := sys.Show(t, "tasks.service", "MemoryCurrent"); notSet(shownMem) || !ok || mem <= 0 {
				return fmt.Errorf("systemd_unit_memory_bytes = %v (%v), MemoryCurrent = %s", mem, ok, shownMem)
			}
			for prop, metric := range map[string]string{"CPUUsageNSec": "systemd_unit_cpu_seconds_total", "IOReadBytes": "systemd_unit_io_read_bytes_total"} {
				_, served := value(fams, metric, map[string]string{"name": "tasks.service"})
				if notSet := notSet(sys.Show(t, "tasks.service", prop)); served == notSet {
					t.Errorf("%s served: %v, but %s is %q", metric, served, prop, sys.Show(t, "tasks.service", prop))
				}
			}
			return nil
		})
	}
	check(3) // the script and two sleeps
	// One more process, which no signal announces.
	sys.Systemctl(t, "kill", "--signal=USR1", "--kill-who=main", "tasks.service")
	check(4)
}
