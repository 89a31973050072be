package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// exitsScript runs 50 processes of known outcome and a touch that says they
// are done, then stays up (a unit's cgroup is removed once it is empty; see
// the README). Everything else it runs is a shell builtin.
const exitsScript = `#!/bin/sh
i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i + 1)); done
i=0; while [ $i -lt 20 ]; do /bin/false; i=$((i + 1)); done
i=0; while [ $i -lt 10 ]; do /bin/sh -c 'kill -9 $$'; i=$((i + 1)); done
touch /var/tmp/exits.done
exec /bin/sleep infinity
`

// TestProcessExitsByOutcome: 50 processes of a unit exit, 20 with code 0,
// 20 with code 1 and 10 killed by SIGKILL, then a touch (code 0); the
// kernel's exits are attributed to the unit through its cgroup v2 path,
// exactly.
func TestProcessExitsByOutcome(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.WriteFile(t, "/usr/local/bin/exits", exitsScript, 0o755)
	sys.AddUnit(t, "exits.service", "[Service]\nExecStart=/usr/local/bin/exits\n")
	p := startExporter(t, sys)
	sys.Systemctl(t, "start", "exits.service")
	exportertest.Eventually(t, func() error {
		_, err := readFile(sys.Root + "/var/tmp/exits.done")
		return err
	})
	want := map[string]float64{"outcome=success": 21, "outcome=failure": 20, "outcome=signal": 10}
	exportertest.Eventually(t, func() error {
		got := seriesOf(scrape(t, p), "systemd_unit_process_exits_total", "exits.service")
		if !mapsEqual(got, want) {
			return errorf("systemd_unit_process_exits_total of exits.service = %v, want %v", got, want)
		}
		return nil
	})
}

// TestExitsOfMillisecondUnits: 20 oneshot units that each exit at once
// (their cgroups live milliseconds) are each counted with their one
// failed exit: the resolver learnt their paths when their cgroups were made.
func TestExitsOfMillisecondUnits(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.AddUnit(t, "blip@.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
	p := startExporter(t, sys)
	sys.Run(t, "sh", "-c", "for i in $(seq 1 20); do systemctl start blip@$i.service; done; true")
	exportertest.Eventually(t, func() error {
		for i := 1; i <= 20; i++ {
			unit := fmt.Sprintf("blip@%d.service", i)
			got := seriesOf(scrape(t, p), "systemd_unit_process_exits_total", unit)
			if !mapsEqual(got, map[string]float64{"outcome=failure": 1}) {
				return errorf("systemd_unit_process_exits_total of %s = %v, want one failure", unit, got)
			}
		}
		return nil
	})
}

// TestExitsOfUnitGoneBeforeScrape: a oneshot unit that lives about two
// seconds (longer than the collector's 1s resolving of new cgroups) and is
// gone, cgroup removed, before the scrape keeps its exits: 5 failures, and
// the sleep and the script itself as successes.
func TestExitsOfUnitGoneBeforeScrape(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.AddUnit(t, "short.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'for i in 1 2 3 4 5; do /bin/false; done; /bin/sleep 2'\n")
	p := startExporter(t, sys)
	sys.Systemctl(t, "start", "--no-block", "short.service")
	exportertest.Eventually(t, func() error {
		if _, err := os.Stat(sys.UnitCgroupPath("short.service")); err != nil {
			return err // not made yet
		}
		return nil
	})
	sys.WaitUnit(t, "short.service", "ActiveState", "inactive")
	exportertest.Eventually(t, func() error {
		if _, err := os.Stat(sys.UnitCgroupPath("short.service")); err == nil {
			return errorf("short.service's cgroup still exists")
		}
		return nil
	})
	want := map[string]float64{"outcome=success": 2, "outcome=failure": 5}
	exportertest.Eventually(t, func() error {
		got := seriesOf(scrape(t, p), "systemd_unit_process_exits_total", "short.service")
		if !mapsEqual(got, want) {
			return errorf("systemd_unit_process_exits_total of short.service = %v, want %v", got, want)
		}
		return nil
	})
}
