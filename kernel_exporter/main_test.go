package main

// End-to-end tests of the real kernel_exporter binary: TestMain builds it
// once, and each test runs it as a child process on a free loopback port,
// scrapes it over HTTP and stops it with a signal, as an operator would.
// Tests that load BPF programs skip unless they run as root.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// waitFor bounds every wait of these tests; reaching it is a failure.
const waitFor = 20 * time.Second

// binary is the path of the kernel_exporter that TestMain builds; it is set
// once, before any test runs.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kernel_exporter-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "kernel_exporter")
	code := 1
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kernel_exporter: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// watcher names the workload resolver's cgroup watcher, which loads BPF
// programs whichever collectors run.
const watcher = "workload"

// bpfPrograms returns the BPF programs (C function names) that each part of
// the exporter loads and attaches: each collector, by name, and the watcher.
func bpfPrograms() map[string][]string {
	return map[string][]string{
		"block":   {"block_rq_complete", "block_rq_issue"},
		"oom":     {"oom_mark_victim"},
		"process": {"process_exec", "process_exit", "process_fork"},
		"sched":   {"sched_switch", "sched_wakeup", "sched_wakeup_new"},
		"tcp":     {"tcp_receive_reset", "tcp_retransmit", "tcp_send_reset", "tcp_set_state"},
		watcher:   {"cgroup_mkdir"},
	}
}

// allCollectors returns the collector names, sorted.
func allCollectors() []string {
	var names []string
	for name := range bpfPrograms() {
		if name != watcher {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// attachedPrograms returns kernel_bpf_program_attached as it reads once the
// parts named in attached have loaded and those named in failed have failed
// to.
func attachedPrograms(attached, failed []string) map[string]float64 {
	want := map[string]float64{}
	for name, progs := range bpfPrograms() {
		for _, p := range progs {
			switch {
			case slices.Contains(attached, name):
				want[p] = 1
			case slices.Contains(failed, name):
				want[p] = 0
			}
		}
	}
	return want
}

// allSucceed is kernel_scrape_collector_success when every collector named
// is ready.
func allSucceed(collectors ...string) map[string]float64 {
	want := make(map[string]float64, len(collectors))
	for _, c := range collectors {
		want[c] = 1
	}
	return want
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exporterProcess is a running kernel_exporter child process.
type exporterProcess struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	url    string // http://127.0.0.1:port
	client *http.Client
	user   string // basic auth credentials of every request, when set
	pass   string

	exited  chan struct{} // closed once the process has exited
	waitErr error         // the result of cmd.Wait, valid once exited is closed
}

var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startExporter runs the kernel_exporter with args on a free loopback port.
func startExporter(t *testing.T, args ...string) *exporterProcess {
	t.Helper()
	return startCmd(t, exec.Command(binary, exporterArgs(args)...))
}

// exporterArgs prepends the listen address that lets the kernel pick a port.
func exporterArgs(args []string) []string {
	return append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
}

// startCmd starts cmd, which must run the exporter (directly or by exec),
// and waits until it logs the address it listens on. The test's cleanup
// kills it if it still runs, and shows its log when the test failed.
func startCmd(t *testing.T, cmd *exec.Cmd) *exporterProcess {
	t.Helper()
	p := &exporterProcess{
		cmd: cmd,
		log: &syncBuffer{},
		client: &http.Client{
			Timeout: 10 * time.Second,
			// A connection per request, so that the exporter holds no idle
			// connection between requests.
			Transport: &http.Transport{DisableKeepAlives: true},
		},
		exited: make(chan struct{}),
	}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", cmd.Args, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.cleanup(t) })

	deadline := time.After(waitFor)
	for {
		if m := listening.FindStringSubmatch(p.log.String()); m != nil {
			p.url = "http://" + m[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("exporter exited before listening (%v); log:\n%s", p.waitErr, p.log)
		case <-deadline:
			t.Fatalf("exporter not listening after %v; log:\n%s", waitFor, p.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *exporterProcess) cleanup(t *testing.T) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if t.Failed() {
		t.Logf("exporter log:\n%s", p.log)
	}
}

// pid returns the exporter's process id.
func (p *exporterProcess) pid() int { return p.cmd.Process.Pid }

// terminate sends SIGTERM and returns the exit code once the process exits.
func (p *exporterProcess) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sending SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitFor):
		t.Fatalf("exporter still running %v after SIGTERM", waitFor)
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		return exit.ExitCode()
	}
	if p.waitErr != nil {
		t.Fatalf("waiting for the exporter: %v", p.waitErr)
	}
	return 0
}

// response is what the exporter answered to one request.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// get requests path.
func (p *exporterProcess) get(t *testing.T, path string) response {
	t.Helper()
	r, err := p.tryGet(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (p *exporterProcess) tryGet(path string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, p.url+path, nil)
	if err != nil {
		return response{}, err
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.pass)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: body}, nil
}

// scrape fetches /metrics in the text format and parses it.
func (p *exporterProcess) scrape() (map[string]*dto.MetricFamily, error) {
	r, err := p.tryGet("/metrics")
	if err != nil {
		return nil, err
	}
	if r.code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %s", r.code, r.body)
	}
	return parseText(r.body)
}

func parseText(body []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return fams, nil
}

// eventually calls check until it returns nil, and fails the test with
// check's last error when waitFor passes first.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", waitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForMetric scrapes until byLabel(name, label) equals want and returns
// that scrape.
func (p *exporterProcess) waitForMetric(t *testing.T, name, label string, want map[string]float64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	eventually(t, func() error {
		var err error
		if fams, err = p.scrape(); err != nil {
			return err
		}
		if got := byLabel(fams, name, label); !maps.Equal(got, want) {
			return fmt.Errorf("%s by %s = %v, want %v", name, label, got, want)
		}
		return nil
	})
	return fams
}

// waitReady waits until every collector named is ready and has attached its
// programs, as has the watcher, and returns that scrape.
func (p *exporterProcess) waitReady(t *testing.T, collectors ...string) map[string]*dto.MetricFamily {
	t.Helper()
	p.waitForMetric(t, "kernel_scrape_collector_success", "collector", allSucceed(collectors...))
	return p.waitForMetric(t, "kernel_bpf_program_attached", "program",
		attachedPrograms(append([]string{watcher}, collectors...), nil))
}

// byLabel returns the values of the gauge or counter family name, keyed by
// the value of label.
func byLabel(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	got := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		got[labelValue(m, label)] = value(m)
	}
	return got
}

// value returns the value of a gauge, counter or untyped metric.
func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// requireCommand skips the test when name is not on PATH.
func requireCommand(t *testing.T, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s on PATH (%s): %v", name, why, err)
	}
	return path
}

// logLines returns the lines of log that contain every one of parts.
func logLines(log string, parts ...string) []string {
	var lines []string
	for line := range strings.Lines(log) {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}
