package main

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestMetricsPassPromtoolCheck(t *testing.T) {
	testenv.RequireRoot(t)
	exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	p := exportertest.Start(t, binary)
	waitReady(t, p, allCollectors()...)

	r := p.Get(t, "/metrics")
	if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d, Content-Type %q; want 200 and the text format", r.Code, r.Header.Get("Content-Type"))
	}
	fams, err := exportertest.Parse(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(fams["kernel_exporter_build_info"].GetMetric()); got != 1 {
		t.Errorf("kernel_exporter_build_info has %d series, want 1", got)
	}
	exportertest.PromtoolCheck(t, r.Body)
}

func TestNoCollectorFlagRemovesItsSeries(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--no-collector.tcp")
	others := []string{"block", "oom", "process", "sched"}
	// waitReady fails unless kernel_exporter_bpf_program_attached lists exactly the
	// programs of the others and the watcher.
	fams := waitReady(t, p, others...)
	for name, fam := range fams {
		if strings.HasPrefix(name, "kernel_tcp_") {
			t.Errorf("%s served with the tcp collector off", name)
		}
		for _, m := range fam.GetMetric() {
			if exportertest.LabelValue(m, "collector") == "tcp" || strings.HasPrefix(exportertest.LabelValue(m, "map"), "tcp_") {
				t.Errorf("%s%v served with the tcp collector off", name, m.GetLabel())
			}
		}
	}
	if got := exportertest.LogLines(p.Log(), `msg="Enabled collectors"`, `collectors="[block oom process sched]"`); len(got) != 1 {
		t.Errorf("log has %d lines enabling exactly block, oom, process and sched, want 1", len(got))
	}
}

func TestBasicAuth(t *testing.T) {
	testenv.RequireRoot(t)
	const user, password = "admin", "s3cret passphrase"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "web-config.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "basic_auth_users:\n  %s: %s\n", user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary, "--web.config.file="+config)

	for _, tt := range []struct {
		user, password string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{user, "wrong", http.StatusUnauthorized},
		{"root", password, http.StatusUnauthorized},
		{user, password, http.StatusOK},
	} {
		p.User, p.Password = tt.user, tt.password
		r := p.Get(t, "/metrics")
		if r.Code != tt.want {
			t.Errorf("GET /metrics as %q:%q = %d, want %d", tt.user, tt.password, r.Code, tt.want)
		}
		if served := bytes.Contains(r.Body, []byte("kernel_exporter_build_info")); served != (tt.want == http.StatusOK) {
			t.Errorf("GET /metrics as %q:%q served metrics: %v, want %v", tt.user, tt.password, served, !served)
		}
	}
}

func TestBadFlagsExitWithUsageError(t *testing.T) {
	for _, tt := range []struct {
		arg  string
		want string // all of stderr
	}{
		{"--no-such-flag", "kernel_exporter: error: unknown long flag '--no-such-flag', try --help\n"},
		{"--collector.tpc", "kernel_exporter: error: unknown long flag '--collector.tpc', try --help\n"},
		{"--web.max-requests=abc", `kernel_exporter: error: --web.max-requests: strconv.ParseFloat: parsing "abc": invalid syntax, try --help` + "\n"},
		{"--cri.timeout=soon", `kernel_exporter: error: --cri.timeout: time: invalid duration "soon", try --help` + "\n"},
		{"--log.level=loud", "kernel_exporter: error: --log.level: unrecognized log level loud, try --help\n"},
		{"--bpf.map-max-entries=dns_counts=10", `kernel_exporter: error: --bpf.map-max-entries: no map "dns_counts" can be sized (maps: process_counts, oom_counts, tcp_counts, tcp_connect_latency, tcp_connecting, runqueue_latency, block_latency, block_issued), try --help` + "\n"},
		{"--bpf.map-max-entries=runqueue_latency", `kernel_exporter: error: --bpf.map-max-entries: "runqueue_latency" is not NAME=ROWS, try --help` + "\n"},
		{"--bpf.map-max-entries=runqueue_latency=0", `kernel_exporter: error: --bpf.map-max-entries: runqueue_latency: rows must be a whole number from 1 to 4294967295, got "0", try --help` + "\n"},
	} {
		t.Run(tt.arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, exportertest.ListenArgs(tt.arg)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit code %d (%v), want 2", code, err)
			}
			if stderr.String() != tt.want || stdout.Len() != 0 {
				t.Errorf("stderr %q, stdout %q; want stderr %q and no stdout", stderr.String(), stdout.String(), tt.want)
			}
		})
	}
}

func TestFileDescriptorsStayFlatOverScrapes(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary)
	waitReady(t, p, allCollectors()...)
	before := stableFDs(t, p.Pid())

	const scrapes = 100
	for range scrapes {
		if _, err := p.Scrape(); err != nil {
			t.Fatal(err)
		}
	}
	// The exporter closes each connection as it answers; give it the time
	// to close the last one. Descriptors may close meanwhile: objects that
	// the exporter dropped are closed when the Go runtime collects them.
	exportertest.Eventually(t, func() error {
		after, err := openFDs(p.Pid())
		if err != nil {
			return err
		}
		if opened := added(before, after); len(opened) > 0 {
			return fmt.Errorf("%d file descriptors opened over %d scrapes and still open: %v", len(opened), scrapes, opened)
		}
		return nil
	})
}

// stableFDs returns the targets of pid's open file descriptors once two
// reads 100ms apart agree.
func stableFDs(t *testing.T, pid int) map[string]string {
	t.Helper()
	var fds map[string]string
	exportertest.Eventually(t, func() error {
		first, err := openFDs(pid)
		if err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
		if fds, err = openFDs(pid); err != nil {
			return err
		}
		if !maps.Equal(first, fds) {
			return fmt.Errorf("file descriptors still changing: %v then %v", first, fds)
		}
		return nil
	})
	return fds
}

// openFDs returns the target of each of pid's open file descriptors, by
// descriptor number.
func openFDs(pid int) (map[string]string, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing file descriptors: %w", err)
	}
	fds := make(map[string]string, len(entries))
	for _, e := range entries {
		// A descriptor closed since ReadDir has no target; it is not open.
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds, nil
}

// added returns the descriptors of after that before lacks or that point
// elsewhere, sorted.
func added(before, after map[string]string) []string {
	var fds []string
	for fd, target := range after {
		if before[fd] != target {
			fds = append(fds, fd+" -> "+target)
		}
	}
	slices.Sort(fds)
	return fds
}

// --bpf.map-max-entries sizes the named maps, as the exporter reports them.
func TestMapMaxEntriesSizesMaps(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--collector.disable-defaults", "--collector.sched", "--collector.process",
		"--bpf.map-max-entries=runqueue_latency=1024", "--bpf.map-max-entries=process_counts=2048")
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", map[string]float64{"sched": 1, "process": 1})
	fams, err := p.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	got := exportertest.ByLabel(fams, "kernel_exporter_bpf_map_max_entries", "map")
	if got["runqueue_latency"] != 1024 || got["process_counts"] != 2048 {
		t.Errorf("kernel_exporter_bpf_map_max_entries = %v, want runqueue_latency 1024 and process_counts 2048", got)
	}
}
