package mixins

// The systemd mixin under a real Prometheus: a real systemd 252 (booted by
// systemd_exporter/sdtest as PID 1 of its own namespaces, for memory
// accounting) with a flapping service, a failed one and one whose children
// the OOM killer keeps killing, and the real systemd_exporter beside it.

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// TestSystemdMixinInRealPrometheus: every dashboard query and recording
// rule of the systemd mixin returns data under the three Prometheus
// servers of startServers (2.42 native and classic, 3.x native), and
// SystemdUnitFailed, SystemdUnitFlapping and SystemdUnitOOMKilled fire. The one query left out reads
// systemd_unit_cpu_seconds_total: systemd 252 has no CPU accounting on
// these hybrid-cgroup hosts (CPUUsageNSec is [not set], see
// systemd_exporter's TestResourcesWhereAccountingIsOn).
func TestSystemdMixinInRealPrometheus(t *testing.T) {
	prometheus := exportertest.RequireCommand(t, "prometheus", "make test installs it with the prometheus Debian package")
	sys := sdtest.Boot(t, sdtest.Unshare())
	sys.AddUnit(t, "flaky.service", "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/false\nRestart=always\nRestartSec=1s\n")
	sys.AddUnit(t, "bad.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
	// The main process stays small; each child grows until the OOM killer
	// kills it (MemoryMax is the v1 memory limit here), and the next one
	// starts a second later.
	sys.AddUnit(t, "hog.service", "[Service]\nExecStart=/bin/sh -c 'while :; do sh -c \"exec tail /dev/zero\"; sleep 1; done'\nMemoryMax=32M\nOOMPolicy=continue\n")
	// Errors in the journal: a line at priority err (the <3> prefix) a second.
	sys.AddUnit(t, "noisy.service", "[Service]\nExecStart=/bin/sh -c 'while :; do echo \"<3>disk on fire\"; sleep 1; done'\n")
	sys.Run(t, "sh", "-c", "systemctl start flaky.service hog.service noisy.service; systemctl start bad.service || true")
	sys.Run(t, "journalctl", "--flush") // from /run/log/journal to the persistent journal the exporter reads

	dir := t.TempDir()
	e := exporterUnderTest{pkg: "github.com/bpfleet/bpfleet/systemd_exporter", job: "systemd-exporter", mixin: "systemd",
		config: `{ unitFailedFor: '1s', flappingFor: '1s', oomKilledFor: '1s' }`}
	bin := buildExporter(t, dir, e.pkg, "journal")
	p := exportertest.Start(t, bin, "--systemd.address="+sys.Address,
		"--collector.journal", "--collector.journal.directory="+filepath.Join(sys.Root, "var/log/journal"))
	instance := strings.TrimPrefix(p.URL, "http://")
	ruleFiles := writeRendered(t, dir, e.mixin, e.config)
	var checks []liveCheck
	for _, c := range mixinChecks(t, e, instance) {
		if !strings.Contains(c.expr, "systemd_unit_cpu_seconds_total") {
			checks = append(checks, c)
		}
	}
	for _, alert := range []string{"SystemdUnitFailed", "SystemdUnitFlapping", "SystemdUnitOOMKilled"} {
		checks = append(checks, liveCheck{where: "systemd alert", alert: alert})
	}
	jobs := []scrapeJob{{e.job, instance}}
	servers := startServers(t, prometheus, ruleFiles, jobs)

	waitForData(t, servers, checks, p)
}
