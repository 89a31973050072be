package main

// End-to-end tests of the real systemd_exporter binary against a real
// systemd (Debian 12's, booted in systemd-nspawn by sdtest): TestMain builds
// the binary once; each test boots its own systemd, runs the exporter on a
// free loopback port and scrapes it over HTTP.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/collector"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

// startExporter runs systemd_exporter against sys and waits until its
// signal follower has taken systemd's listing, so that every transition
// after it is counted.
func startExporter(t testing.TB, sys *sdtest.System, args ...string) *exportertest.Process {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{"--systemd.address=" + sys.Address}, args...)...)
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("systemd_exporter exited %d; log:\n%s", code, p.Log())
		}
	})
	exportertest.Eventually(t, func() error {
		if n := strings.Count(p.Log(), "Following systemd's unit signals"); n < 1 {
			return fmt.Errorf("the exporter does not follow systemd's signals yet:\n%s", p.Log())
		}
		return nil
	})
	p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"unit": 1, "oom": 1, "process": 1})
	return p
}

// value returns the value of the series of name whose labels include
// labels, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if exportertest.LabelValue(m, k) != v {
				continue next
			}
		}
		return exportertest.Value(m), true
	}
	return 0, false
}

// byName sums name's series by their "name" label, over those whose other
// labels include labels.
func byName(fams map[string]*dto.MetricFamily, name string, labels map[string]string) map[string]float64 {
	out := map[string]float64{}
	f, ok := fams[name]
	if !ok {
		return out
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if exportertest.LabelValue(m, k) != v {
				continue next
			}
		}
		out[exportertest.LabelValue(m, "name")] += exportertest.Value(m)
	}
	return out
}

func scrape(t testing.TB, p *exportertest.Process) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := p.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// seriesOf returns name's series for unit as "label=value,..." → value.
func seriesOf(fams map[string]*dto.MetricFamily, name, unit string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		if exportertest.LabelValue(m, "name") != unit {
			continue
		}
		var ls []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "name" && l.GetName() != "type" {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
		}
		out[strings.Join(ls, ",")] = exportertest.Value(m)
	}
	return out
}

// flakyScript fails (exit 1) the first three times it runs, counting runs
// in /var/lib/flaky/runs, then stays up.
const flakyScript = `#!/bin/sh
n=$(cat /var/lib/flaky/runs 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > /var/lib/flaky/runs
[ "$n" -le 3 ] && exit 1
exec sleep infinity
`

// TestRestartedServiceFailuresBetweenScrapes: a Restart=on-failure service
// whose ExecStart fails three times and then stays up, all between two
// scrapes, counts 3 failures (exit-code), 3 restarts and exactly the
// ActiveState transitions it went through: active once per run and, per
// failure, failed, activating (auto-restart) and inactive (the restart
// job's stop), as systemd 252 signals them.
func TestRestartedServiceFailuresBetweenScrapes(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.WriteFile(t, "/usr/local/bin/flaky", flakyScript, 0o755)
	sys.Run(t, "mkdir", "-p", "/var/lib/flaky")
	sys.AddUnit(t, "flaky.service", "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/usr/local/bin/flaky\nRestart=on-failure\nRestartSec=100ms\n")
	p := startExporter(t, sys)
	before := scrape(t, p)
	if got := seriesOf(before, "systemd_service_failures_total", "flaky.service"); len(got) != 0 {
		t.Fatalf("failures before the start: %v", got)
	}

	sys.Systemctl(t, "start", "--no-block", "flaky.service")
	sys.WaitUnit(t, "flaky.service", "NRestarts", "3")
	sys.WaitUnit(t, "flaky.service", "SubState", "running")
	var runs int
	exportertest.Eventually(t, func() error {
		var err error
		if runs, err = strconv.Atoi(strings.TrimSpace(sys.ReadFile(t, "/var/lib/flaky/runs"))); err != nil || runs != 4 {
			return fmt.Errorf("the service ran %d times (%v), want 4", runs, err)
		}
		return nil
	})
	sys.WaitUnit(t, "flaky.service", "NRestarts", "3") // and no more
	nRestarts, _ := strconv.Atoi(sys.Show(t, "flaky.service", "NRestarts"))

	var after map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		after = scrape(t, p)
		if got := seriesOf(after, "systemd_unit_state_transitions_total", "flaky.service")["state=active"]; got != float64(runs) {
			return fmt.Errorf("transitions into active = %v, want %d", got, runs)
		}
		return nil
	})
	if got, want := seriesOf(after, "systemd_service_failures_total", "flaky.service"), map[string]float64{"result=exit-code": float64(runs - 1)}; !mapsEqual(got, want) {
		t.Errorf("systemd_service_failures_total = %v, want %v", got, want)
	}
	if got, _ := value(after, "systemd_service_restart_total", map[string]string{"name": "flaky.service"}); got != float64(nRestarts) {
		t.Errorf("systemd_service_restart_total = %v, want NRestarts %d", got, nRestarts)
	}
	if got, want := seriesOf(after, "systemd_unit_state_transitions_total", "flaky.service"),
		map[string]float64{"state=active": float64(runs), "state=failed": float64(nRestarts),
			"state=activating": float64(nRestarts), "state=inactive": float64(nRestarts)}; !mapsEqual(got, want) {
		t.Errorf("systemd_unit_state_transitions_total = %v, want %v", got, want)
	}
	if got, _ := value(after, "systemd_unit_state", map[string]string{"name": "flaky.service", "state": "active"}); got != 1 {
		t.Errorf(`systemd_unit_state{state="active"} = %v, want 1`, got)
	}
}

// TestKilledServiceAndOneshot: a service killed by SIGKILL (no restart)
// counts one failure with result signal; a oneshot that succeeds counts
// none, and its transitions are activating then inactive.
func TestKilledServiceAndOneshot(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.AddUnit(t, "victim.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	sys.AddUnit(t, "once.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'sleep 0.2'\n")
	p := startExporter(t, sys)

	sys.Systemctl(t, "start", "victim.service")
	sys.WaitUnit(t, "victim.service", "ActiveState", "active")
	sys.Systemctl(t, "kill", "--signal=KILL", "victim.service")
	sys.WaitUnit(t, "victim.service", "ActiveState", "failed")
	sys.Systemctl(t, "start", "once.service")
	if got := sys.Show(t, "once.service", "Result"); got != "success" {
		t.Fatalf("once.service Result = %s", got)
	}

	var fams map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		fams = scrape(t, p)
		if got := seriesOf(fams, "systemd_unit_state_transitions_total", "once.service")["state=inactive"]; got != 1 {
			return fmt.Errorf("once.service transitions into inactive = %v, want 1", got)
		}
		if got := seriesOf(fams, "systemd_unit_state_transitions_total", "victim.service")["state=failed"]; got != 1 {
			return fmt.Errorf("victim.service transitions into failed = %v, want 1", got)
		}
		return nil
	})
	if got, want := seriesOf(fams, "systemd_service_failures_total", "victim.service"), map[string]float64{"result=signal": 1}; !mapsEqual(got, want) {
		t.Errorf("victim.service failures = %v, want %v", got, want)
	}
	if got := seriesOf(fams, "systemd_service_failures_total", "once.service"); len(got) != 0 {
		t.Errorf("once.service failures = %v, want none", got)
	}
	if got, want := seriesOf(fams, "systemd_unit_state_transitions_total", "once.service"), map[string]float64{"state=activating": 1, "state=inactive": 1}; !mapsEqual(got, want) {
		t.Errorf("once.service transitions = %v, want %v", got, want)
	}
	if got, want := seriesOf(fams, "systemd_unit_state_transitions_total", "victim.service"), map[string]float64{"state=active": 1, "state=failed": 1}; !mapsEqual(got, want) {
		t.Errorf("victim.service transitions = %v, want %v", got, want)
	}
}

// units returns every unit systemctl lists with its ActiveState, and the
// properties asked for.
func units(t testing.TB, sys *sdtest.System, props ...string) map[string]map[string]string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(sys.Systemctl(t, "list-units", "--all", "--plain", "--no-legend", "--no-pager"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	out := map[string]map[string]string{}
	show := sys.Systemctl(t, append([]string{"show", "-p", "Id,ActiveState," + strings.Join(props, ","), "--"}, names...)...)
	for _, block := range strings.Split(show, "\n\n") {
		kv := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				kv[k] = v
			}
		}
		if kv["Id"] != "" {
			out[kv["Id"]] = kv
		}
	}
	return out
}

// TestStateMatchesSystemctl: with no filter, the exporter serves every
// unit systemctl lists, its systemd_unit_state 1 on the ActiveState that
// systemctl show gives and 0 on the others; values systemd reports as
// [not set] are not served (TasksCurrent, MemoryCurrent, CPUUsageNSec:
// resource accounting is off inside nspawn here); the include and exclude
// regexps select exactly the matching units.
func TestStateMatchesSystemctl(t *testing.T) {
	sys := sdtest.Boot(t)
	p := startExporter(t, sys, "--collector.unit.exclude=")
	fams := scrape(t, p)
	want := units(t, sys, "TasksCurrent", "MemoryCurrent", "CPUUsageNSec", "NRestarts")
	// The state of each unit, as served.
	got := map[string]string{}
	for _, m := range fams["systemd_unit_state"].GetMetric() {
		name := exportertest.LabelValue(m, "name")
		if _, ok := got[name]; !ok {
			got[name] = ""
		}
		if exportertest.Value(m) == 1 {
			got[name] += exportertest.LabelValue(m, "state")
		}
	}
	if len(got) != len(want) {
		t.Errorf("served %d units, systemctl lists %d", len(got), len(want))
	}
	for name, kv := range want {
		if got[name] != kv["ActiveState"] {
			t.Errorf("%s: served state %q, systemctl show says %q", name, got[name], kv["ActiveState"])
		}
		if !strings.HasSuffix(name, ".service") {
			continue
		}
		for prop, metric := range map[string]string{"TasksCurrent": "systemd_unit_tasks_current", "MemoryCurrent": "systemd_unit_memory_bytes", "CPUUsageNSec": "systemd_unit_cpu_seconds_total"} {
			_, served := value(fams, metric, map[string]string{"name": name})
			if notSet := notSet(kv[prop]); served == notSet {
				t.Errorf("%s: %s = %q but %s served: %v", name, prop, kv[prop], metric, served)
			}
		}
		if v, _ := value(fams, "systemd_service_restart_total", map[string]string{"name": name}); strconv.Itoa(int(v)) != kv["NRestarts"] {
			t.Errorf("%s: systemd_service_restart_total = %v, NRestarts = %s", name, v, kv["NRestarts"])
		}
	}
	total := 0.0
	for _, v := range exportertest.ByLabel(fams, "systemd_units", "state") {
		total += v
	}
	if int(total) != len(want) {
		t.Errorf("systemd_units sums to %v, want %d", total, len(want))
	}
	if v, ok := value(fams, "systemd_system_running", nil); !ok || v != 1 {
		t.Errorf("systemd_system_running = %v, %v; want 1", v, ok)
	}

	t.Run("include and exclude", func(t *testing.T) {
		include, exclude := `systemd-.*|dbus\.service`, `systemd-journald\..*`
		q := startExporter(t, sys, "--collector.unit.include="+include, "--collector.unit.exclude="+exclude)
		served := map[string]bool{}
		for _, m := range scrape(t, q)["systemd_unit_state"].GetMetric() {
			served[exportertest.LabelValue(m, "name")] = true
		}
		inc, exc := regexp.MustCompile("^(?:"+include+")$"), regexp.MustCompile("^(?:"+exclude+")$")
		var wantNames, gotNames []string
		for name := range want {
			if inc.MatchString(name) && !exc.MatchString(name) {
				wantNames = append(wantNames, name)
			}
		}
		for name := range served {
			gotNames = append(gotNames, name)
		}
		sort.Strings(wantNames)
		sort.Strings(gotNames)
		if !slices.Equal(gotNames, wantNames) || len(gotNames) < 3 {
			t.Errorf("served %v\nwant %v", gotNames, wantNames)
		}
	})
}

// TestDBusRestarted: when dbus-daemon restarts, the collector reports
// success 0, reconnects, resubscribes, and counts what happens after
// exactly once: nothing counted before is counted again.
func TestDBusRestarted(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.AddUnit(t, "once.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n")
	p := startExporter(t, sys)
	sys.Systemctl(t, "start", "once.service")
	exportertest.Eventually(t, func() error {
		if got := seriesOf(scrape(t, p), "systemd_unit_state_transitions_total", "once.service")["state=inactive"]; got != 1 {
			return fmt.Errorf("once.service transitions into inactive = %v, want 1", got)
		}
		return nil
	})

	sys.Systemctl(t, "restart", "dbus.service")
	// The oom collector needs no bus: it serves on.
	p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"unit": 0, "oom": 1, "process": 1})
	exportertest.Eventually(t, func() error {
		if n := strings.Count(p.Log(), "Following systemd's unit signals"); n < 2 {
			return fmt.Errorf("not resubscribed (%d subscriptions)", n)
		}
		return nil
	})
	p.WaitForMetric(t, "systemd_scrape_collector_success", "collector", map[string]float64{"unit": 1, "oom": 1, "process": 1})
	if got, want := seriesOf(scrape(t, p), "systemd_unit_state_transitions_total", "once.service"), map[string]float64{"state=activating": 1, "state=inactive": 1}; !mapsEqual(got, want) {
		t.Errorf("after the reconnection, once.service transitions = %v, want %v", got, want)
	}
	sys.Systemctl(t, "start", "once.service")
	exportertest.Eventually(t, func() error {
		got := seriesOf(scrape(t, p), "systemd_unit_state_transitions_total", "once.service")
		if want := map[string]float64{"state=activating": 2, "state=inactive": 2}; !mapsEqual(got, want) {
			return fmt.Errorf("once.service transitions = %v, want %v", got, want)
		}
		return nil
	})
}

// TestPromtoolAndREADME: a scrape of an exporter that has seen a failure
// passes promtool check metrics, and README.md's tables list exactly the
// flags of --help and the metrics served.
func TestPromtoolAndREADME(t *testing.T) {
	sys := sdtest.Boot(t)
	sys.AddUnit(t, "bad.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n")
	p := startExporter(t, sys, "--collector.unit.exclude=", "--bpf.enable-stats")
	sys.Run(t, "sh", "-c", "systemctl start bad.service || true")
	var body []byte
	exportertest.Eventually(t, func() error {
		body = p.Get(t, "/metrics").Body
		if !strings.Contains(string(body), `systemd_service_failures_total{name="bad.service",result="exit-code"} 1`) {
			return fmt.Errorf("no failure served yet")
		}
		return nil
	})
	exportertest.PromtoolCheck(t, body)
	exportertest.CheckREADMEFlags(t, "README.md", binary)
	fams, err := exportertest.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
		OnlyOnEvents: []string{
			"systemd_exporter_series_overflow_total",
			// No OOM kill in this test (TestOOMKilledChildOfRunningUnit has one).
			"systemd_unit_oom_kills_total",
			// [not set] inside nspawn: resource accounting is off there.
			"systemd_unit_memory_bytes", "systemd_unit_memory_peak_bytes", "systemd_unit_cpu_seconds_total",
			"systemd_unit_io_read_bytes_total", "systemd_unit_io_write_bytes_total", "systemd_unit_tasks_current",
			// No timer or socket unit is loaded in the minimal container.
			"systemd_timer_last_trigger_seconds", "systemd_socket_accepted_connections_total",
			"systemd_socket_current_connections", "systemd_socket_refused_connections_total",
		},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}

// TestREADMEMatchesMetricTable needs no root.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}

// TestBadFlags: flags the collector cannot use are usage errors (exit 2).
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--collector.unit.include=("},
		{"--collector.unit.exclude=[z-a]"},
		{"--systemd.max-requests=0"},
		{"--systemd.max-requests=129"},
		{"--collector.unit.max-series=x"},
		{"--bpf.map-max-entries=tcp_counts=10"},
		{"--bpf.map-max-entries=process_counts=0"},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2\n%s", args, err, out)
		}
	}
}

// TestNoSystemdUnsupported: on a host not booted with systemd (this one)
// and without --systemd.address, the unit collector is unsupported: no
// success series, not retried, the exporter serves on.
func TestNoSystemdUnsupported(t *testing.T) {
	if sdtest.HostHasSystemd() {
		t.Skip("the host is booted with systemd")
	}
	cmd := exec.Command(binary, exportertest.ListenArgs()...)
	cmd.Env = sdtest.EnvWithout("DBUS_SYSTEM_BUS_ADDRESS")
	p := exportertest.StartCmd(t, cmd)
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("exit %d", code)
		}
	})
	exportertest.Eventually(t, func() error {
		fams, err := p.Scrape()
		if err != nil {
			return err
		}
		if got := exportertest.ByLabel(fams, "systemd_exporter_collector_unsupported", "collector"); got["unit"] != 1 {
			return fmt.Errorf("unsupported = %v, want unit 1", got)
		}
		if got, ok := exportertest.ByLabel(fams, "systemd_scrape_collector_success", "collector")["unit"]; ok {
			return fmt.Errorf("success served for the unsupported unit collector: %v", got)
		}
		return nil
	})
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// notSet reports whether systemctl show printed a value systemd does not
// have: "[not set]" for most, UINT64_MAX itself for some (IOReadBytes).
func notSet(v string) bool {
	return v == "" || v == "[not set]" || v == "18446744073709551615"
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
