package main

// The journal collector: unsupported in the default (static, untagged)
// binary; counted exactly, against a real systemd's journal, by the binary
// built with -tags journal (cgo), which this test builds so that the
// Makefile's go test exercises that flavour too.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// TestJournalUnsupportedInDefaultBuild: the default binary has no journal
// reader: --collector.journal reports it unsupported, no success series,
// and the exporter serves on. Needs no root.
func TestJournalUnsupportedInDefaultBuild(t *testing.T) {
	p := exportertest.Start(t, binary, "--collector.disable-defaults", "--collector.journal")
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("exit %d; log:\n%s", code, p.Log())
		}
	})
	exportertest.Eventually(t, func() error {
		fams, err := p.Scrape()
		if err != nil {
			return err
		}
		if got := exportertest.ByLabel(fams, "systemd_exporter_collector_unsupported", "collector"); got["journal"] != 1 {
			return fmt.Errorf("unsupported = %v, want journal 1", got)
		}
		if got, ok := exportertest.ByLabel(fams, "systemd_scrape_collector_success", "collector")["journal"]; ok {
			return fmt.Errorf("success served for the unsupported journal collector: %v", got)
		}
		return nil
	})
	if !strings.Contains(p.Log(), "built without the journal reader") {
		t.Errorf("the log does not say why the journal collector is unsupported:\n%s", p.Log())
	}
}

// buildJournalBinary builds systemd_exporter with -tags journal and cgo.
func buildJournalBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "systemd_exporter")
	cmd := exec.Command("go", "build", "-tags", "journal", "-o", path, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags journal (needs gcc and libsystemd-dev: scripts/test-deps.d/systemd.sh): %v\n%s", err, out)
	}
	return path
}

// journalWriter writes 10 messages at priority err and 5 at info to its
// stdout, which systemd hands to journald (the <N> prefixes set the
// priority).
const journalWriter = "[Service]\nType=oneshot\nStandardOutput=journal\nExecStart=/bin/sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo \"<3>error $i\"; done; for i in 1 2 3 4 5; do echo \"<6>info $i\"; done'\n"

// TestJournalCountsUnitMessages: the tagged binary, pointed at a booted
// systemd's journal directory, counts exactly the 10 err and 5 info
// messages a unit writes after it started, and none of the same unit's
// messages written before it started (history is not replayed).
func TestJournalCountsUnitMessages(t *testing.T) {
	sdtest.RequireRoot(t)
	exportertest.RequireCommand(t, "gcc", "cgo, for the journal build flavour")
	tagged := buildJournalBinary(t)
	sys := sdtest.Boot(t)
	dir := filepath.Join(sys.Root, "var/log/journal")
	sys.AddUnit(t, "journal-writer.service", journalWriter)
	// History: one run before the exporter starts, flushed to the
	// persistent journal.
	sys.Systemctl(t, "start", "journal-writer.service")
	sys.Run(t, "journalctl", "--flush")
	if out := sys.Run(t, "journalctl", "-q", "-o", "cat", "-u", "journal-writer.service", "-p", "err"); strings.Count(out, "error ") != 10 {
		t.Fatalf("the container's journal has not the first run's 10 err messages:\n%s", out)
	}

	p := exportertest.Start(t, tagged, "--systemd.address="+sys.Address, "--collector.disable-defaults",
		"--collector.journal", "--collector.journal.directory="+dir)
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("systemd_exporter exited %d; log:\n%s", code, p.Log())
		}
	})
	exportertest.Eventually(t, func() error {
		if !strings.Contains(p.Log(), "Following the journal") {
			return fmt.Errorf("the exporter does not follow the journal yet:\n%s", p.Log())
		}
		return nil
	})
	p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"journal": 1})
	if got := seriesOf(scrape(t, p), "systemd_journal_messages_total", "journal-writer.service"); len(got) != 0 {
		t.Fatalf("history counted: %v", got)
	}

	sys.Systemctl(t, "start", "journal-writer.service")
	want := map[string]float64{"priority=err": 10, "priority=info": 5}
	exportertest.Eventually(t, func() error {
		if got := seriesOf(scrape(t, p), "systemd_journal_messages_total", "journal-writer.service"); !mapsEqual(got, want) {
			return fmt.Errorf("journal-writer.service: %v, want %v", got, want)
		}
		return nil
	})
	// Still exactly that once the journal holds both runs (30 messages).
	out := sys.Run(t, "journalctl", "-q", "-o", "cat", "-u", "journal-writer.service")
	if n := strings.Count(out, "error ") + strings.Count(out, "info "); n != 30 {
		t.Fatalf("the journal holds %d of the unit's messages, want 30:\n%s", n, out)
	}
	fams := scrape(t, p)
	if got := seriesOf(fams, "systemd_journal_messages_total", "journal-writer.service"); !mapsEqual(got, want) {
		t.Errorf("journal-writer.service: %v, want %v", got, want)
	}
	body := p.Get(t, "/metrics").Body
	exportertest.PromtoolCheck(t, body)
}

// TestJournalMissingDirectory: a journal directory that does not exist
// (a DaemonSet's mount missing) fails the collector, retried: success 0,
// not unsupported, and the exporter serves on.
func TestJournalMissingDirectory(t *testing.T) {
	exportertest.RequireCommand(t, "gcc", "cgo, for the journal build flavour")
	tagged := buildJournalBinary(t)
	p := exportertest.Start(t, tagged, "--collector.disable-defaults", "--collector.journal",
		"--collector.journal.directory="+filepath.Join(t.TempDir(), "absent"))
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("exit %d; log:\n%s", code, p.Log())
		}
	})
	fams := p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"journal": 0})
	if got := exportertest.ByLabel(fams, "systemd_exporter_collector_unsupported", "collector"); got["journal"] != 0 {
		t.Errorf("unsupported = %v, want journal 0", got)
	}
	exportertest.Eventually(t, func() error {
		if !strings.Contains(p.Log(), "absent") {
			return fmt.Errorf("the log does not name the missing directory:\n%s", p.Log())
		}
		return nil
	})
}
