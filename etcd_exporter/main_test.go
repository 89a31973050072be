package main

// End-to-end tests of the real etcd_exporter binary against a real etcd
// v3.7 started as a separate process: TestMain builds the exporter once;
// each test runs it as a child process on a free loopback port and scrapes
// it over HTTP.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfleet/bpfleet/etcd_exporter/collector"
	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// binary is the etcd_exporter that TestMain builds.
var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

// startExporter runs etcd_exporter with args; the test's cleanup stops it
// and expects a clean exit.
func startExporter(t *testing.T, args ...string) *exportertest.Process {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{"--collector.keyspace.scan-interval=200ms", "--collector.keyspace.watch-check-interval=500ms", "--etcd.request-timeout=2s"}, args...)...)
	t.Cleanup(func() {
		if code := p.Terminate(t); code != 0 {
			t.Errorf("etcd_exporter exited %d; log:\n%s", code, p.Log())
		}
	})
	return p
}

func tlsArgs(e *etcdtest.Etcd) []string {
	return []string{"--etcd.endpoints=" + e.Endpoint, "--etcd.cacert=" + e.TLS.CA, "--etcd.cert=" + e.TLS.ClientCert, "--etcd.key=" + e.TLS.ClientKey}
}

// secret is in every key name and value the test writes: it must appear
// neither in a scrape nor in the exporter's log.
const secret = "s3cr3t"

// TestEndToEndTLS: over TLS with a client certificate, a Kubernetes-shaped
// workload gives exact per-prefix series; promtool finds nothing to
// report; README.md's tables match --help and the scrape; no key name or
// value leaks into the scrape or the log.
func TestEndToEndTLS(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{TLS: true})
	cli := e.Client(t)
	p := startExporter(t, append(tlsArgs(e), "--collector.sync.pid-file="+pidFile(t, e), "--bpf.enable-stats")...)
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 1, "lease": 1, "sync": 1})
	p.WaitForMetric(t, "etcd_process_sync_processes", "", map[string]float64{"": 1})

	ctx := context.Background()
	lease, err := cli.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/secrets/ns-%s/%s-%d", secret, secret, i), strings.Repeat(secret, 100), clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, fmt.Sprintf("/registry/secrets/ns-%s/%s-0", secret, secret)); err != nil {
		t.Fatal(err)
	}
	const prefix = "/registry/secrets/"
	p.WaitForMetric(t, "etcd_keyspace_puts_total", "prefix", map[string]float64{prefix: 12})
	p.WaitForMetric(t, "etcd_keyspace_keys", "prefix", map[string]float64{prefix: 11})
	fams := p.WaitForMetric(t, "etcd_keyspace_deletes_total", "prefix", map[string]float64{prefix: 1})
	for name, want := range map[string]float64{"etcd_keyspace_value_bytes": 11 * 600, "etcd_keyspace_largest_value_bytes": 600} {
		if got := exportertest.ByLabel(fams, name, "prefix"); got[prefix] != want || len(got) != 1 {
			t.Errorf("%s = %v, want {%s: %g}", name, got, prefix, want)
		}
	}
	if got := exportertest.ByLabel(fams, "etcd_leases", ""); got[""] != 1 {
		t.Errorf("etcd_leases = %v, want 1", got)
	}
	// Each of the 13 writes was committed with at least one WAL sync.
	var synced uint64
	for _, m := range fams["etcd_process_sync_duration_seconds"].GetMetric() {
		synced += m.GetHistogram().GetSampleCount()
	}
	if synced < 13 {
		t.Errorf("%d sync samples of etcd for 13 committed writes, want at least 13", synced)
	}

	text := p.Get(t, "/metrics").Body
	if bytes.Contains(text, []byte(secret)) {
		t.Errorf("a key or value is in the scrape:\n%s", text)
	}
	if strings.Contains(p.Log(), secret) {
		t.Errorf("a key or value is in the log:\n%s", p.Log())
	}
	exportertest.PromtoolCheck(t, text)
	exportertest.CheckREADMEFlags(t, "README.md", binary)
	fams, err = exportertest.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
		OnlyOnEvents: []string{"etcd_exporter_series_overflow_total", "etcd_exporter_events_lost_total",
			"etcd_exporter_bpf_program_run_seconds_total", "etcd_exporter_bpf_program_runs_total"},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}

// pidFile writes the pid of e into a file for --collector.sync.pid-file.
func pidFile(t *testing.T, e *etcdtest.Etcd) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "etcd.pid")
	if err := os.WriteFile(path, []byte(strconv.Itoa(e.Pid())), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncPrograms are the BPF programs (C function names) of the sync
// collector, sorted.
var syncPrograms = []string{"sync_enter_fdatasync", "sync_enter_fsync", "sync_enter_sync_file_range",
	"sync_exit_fdatasync", "sync_exit_fsync", "sync_exit_sync_file_range",
	"write_enter_pwrite64", "write_enter_pwritev", "write_enter_pwritev2", "write_enter_write", "write_enter_writev",
	"write_exit_pwrite64", "write_exit_pwritev", "write_exit_pwritev2", "write_exit_write", "write_exit_writev"}

// TestSIGTERMUnloadsEveryBPFObject: the exporter holds the sync
// collector's programs, and SIGTERM releases every program, link and map.
func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	e := etcdtest.Start(t, etcdtest.Options{})
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary, "--etcd.endpoints="+e.Endpoint, "--collector.sync.pid-file="+pidFile(t, e))
	attached := map[string]float64{}
	for _, prog := range syncPrograms {
		attached[prog] = 1
	}
	p.WaitForMetric(t, "etcd_exporter_bpf_program_attached", "program", attached)
	exportertest.CheckSIGTERMReleasesBPF(t, p, before, syncPrograms)
}

// TestSyncServesWithoutEtcd: the kernel side needs no etcd: with etcd
// unreachable the sync collector succeeds and measures the process.
func TestSyncServesWithoutEtcd(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	p := startExporter(t, "--etcd.endpoints=http://127.0.0.1:1", "--collector.sync.pid-file="+pidFile(t, e))
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 0, "lease": 0, "sync": 1})
	p.WaitForMetric(t, "etcd_process_sync_processes", "", map[string]float64{"": 1})
}

// TestWrongCertificate: with a client certificate from another CA the
// exporter serves on, reports success 0 for both collectors and logs the
// TLS reason.
func TestWrongCertificate(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{TLS: true})
	p := startExporter(t, "--etcd.endpoints="+e.Endpoint, "--etcd.cacert="+e.TLS.CA, "--etcd.cert="+e.TLS.WrongClientCert, "--etcd.key="+e.TLS.WrongClientKey)
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 0, "lease": 0, "sync": 1})
	exportertest.Eventually(t, func() error {
		if lines := exportertest.LogLines(p.Log(), "tls: certificate required"); len(lines) == 0 {
			return errors.New("no log line names the TLS failure")
		}
		return nil
	})
}

// TestEtcdDown: with etcd killed the exporter keeps serving with success
// 0; once etcd is back both collectors succeed again, the watch restart is
// counted and a put made afterwards is counted once.
func TestEtcdDown(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	p := startExporter(t, "--etcd.endpoints="+e.Endpoint, "--no-collector.sync")
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 1, "lease": 1})
	e.Kill(t)
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 0, "lease": 0})
	e.Restart(t)
	if _, err := e.Client(t).Put(context.Background(), "/registry/pods/ns/p", "v"); err != nil {
		t.Fatal(err)
	}
	p.WaitForMetric(t, "etcd_scrape_collector_success", "collector", map[string]float64{"keyspace": 1, "lease": 1})
	p.WaitForMetric(t, "etcd_keyspace_puts_total", "prefix", map[string]float64{"/registry/pods/": 1})
	p.WaitForMetric(t, "etcd_keyspace_watch_restarts_total", "reason", map[string]float64{"compacted": 0, "error": 1, "leader_lost": 0})
}

// TestBadFlags: values the flags' types accept but the exporter cannot use
// exit with a usage error (code 2) naming the flag, before anything starts.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--collector.keyspace.page-size=0", "--collector.keyspace.page-size"},
		{"--collector.keyspace.prefix-depth=-1", "--collector.keyspace.prefix-depth"},
		{"--collector.keyspace.prefix-allow=(", "--collector.keyspace.prefix-allow"},
		{"--collector.keyspace.scan-interval=0s", "--collector.keyspace.scan-interval"},
		{"--etcd.endpoints=127.0.0.1:2379", "--etcd.endpoints"},
		{"--etcd.endpoints=", "--etcd.endpoints"},
		{"--etcd.cert=/nonexistent.pem", "--etcd.key"},
		{"--etcd.password=x", "--etcd.user"},
		{"--etcd.password-file=/nonexistent", "--etcd.password-file"},
		{"--etcd.request-timeout=0s", "--etcd.request-timeout"},
		{"--etcd.request-timeout=soon", "etcd.request-timeout"},
		{"--collector.sync.comm=", "--collector.sync.comm"},
		{"--collector.sync.comm=a-name-longer-than-15", "--collector.sync.comm"},
		{"--collector.sync.refresh-interval=0s", "--collector.sync.refresh-interval"},
		{"--collector.sync.cgroup=../system.slice", "--collector.sync.cgroup"},
		{"--collector.sync.cgroup=kubepods/../../x", "--collector.sync.cgroup"},
	} {
		out, err := exec.Command(binary, tc.arg).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%s: exit %v, want code 2; output:\n%s", tc.arg, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: output does not name %s:\n%s", tc.arg, tc.want, out)
		}
	}
}

// TestREADMEMatchesMetricTable needs no etcd: README.md's Metrics table
// documents every metric of the table with its labels, type and collector.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}
