package exportertest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/testenv"
	dto "github.com/prometheus/client_model/go"
)

// WaitFor bounds every wait of this package; reaching it fails the test.
const WaitFor = 20 * time.Second

// Process is a running exporter child process. Its methods are safe to call
// from the test's goroutine only.
type Process struct {
	// URL is the exporter's address, http://127.0.0.1:port.
	URL string
	// User and Password are the basic auth credentials of every request,
	// when User is set.
	User, Password string

	cmd    *exec.Cmd
	log    *testenv.LogBuffer
	client *http.Client

	exited  chan struct{} // closed once the process has exited
	waitErr error         // the result of cmd.Wait, valid once exited is closed
}

// Response is what the exporter answered to one request.
type Response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// ListenArgs returns args after the listen address that has the kernel pick
// a free loopback port: the arguments Start runs the binary with.
func ListenArgs(args ...string) []string {
	return append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
}

// Start runs binary with ListenArgs(args...) and waits until it listens; see
// StartCmd.
func Start(tb testing.TB, binary string, args ...string) *Process {
	tb.Helper()
	return StartCmd(tb, exec.Command(binary, ListenArgs(args...)...))
}

var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// StartCmd starts cmd, which must run the exporter (directly or by exec)
// with its output on cmd's stdout or stderr, and waits until it logs the
// address it listens on. The test fails when the exporter exits first or
// does not listen within WaitFor. The test's cleanup kills the process if it
// still runs, and logs its output when the test failed.
func StartCmd(tb testing.TB, cmd *exec.Cmd) *Process {
	tb.Helper()
	p := &Process{
		cmd: cmd,
		log: &testenv.LogBuffer{},
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
		tb.Fatalf("starting %v: %v", cmd.Args, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() { p.cleanup(tb) })

	deadline := time.After(WaitFor)
	for {
		if m := listening.FindStringSubmatch(p.log.String()); m != nil {
			p.URL = "http://" + m[1]
			return p
		}
		select {
		case <-p.exited:
			tb.Fatalf("exporter exited before listening (%v); log:\n%s", p.waitErr, p.log)
		case <-deadline:
			tb.Fatalf("exporter not listening after %v; log:\n%s", WaitFor, p.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *Process) cleanup(tb testing.TB) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if tb.Failed() {
		tb.Logf("exporter log:\n%s", p.log)
	}
}

// Pid returns the exporter's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log returns what the exporter has written to stdout and stderr so far.
func (p *Process) Log() string { return p.log.String() }

// Terminate sends SIGTERM and returns the exit code once the process has
// exited; the test fails when it runs on for WaitFor.
func (p *Process) Terminate(tb testing.TB) int {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("sending SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(WaitFor):
		tb.Fatalf("exporter still running %v after SIGTERM", WaitFor)
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		return exit.ExitCode()
	}
	if p.waitErr != nil {
		tb.Fatalf("waiting for the exporter: %v", p.waitErr)
	}
	return 0
}

// Get requests path and fails the test when no response comes.
func (p *Process) Get(tb testing.TB, path string) Response {
	tb.Helper()
	r, err := p.get(path)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (p *Process) get(path string) (Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		return Response{}, err
	}
	if p.User != "" {
		req.SetBasicAuth(p.User, p.Password)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return Response{Code: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Scrape fetches /metrics in the text format and parses it; a status other
// than 200 is an error.
func (p *Process) Scrape() (map[string]*dto.MetricFamily, error) {
	r, err := p.get("/metrics")
	if err != nil {
		return nil, err
	}
	if r.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %s", r.Code, r.Body)
	}
	return Parse(r.Body)
}

// WaitForMetric scrapes until ByLabel(fams, name, label) equals want and
// returns that scrape.
func (p *Process) WaitForMetric(tb testing.TB, name, label string, want map[string]float64) map[string]*dto.MetricFamily {
	tb.Helper()
	var fams map[string]*dto.MetricFamily
	Eventually(tb, func() error {
		var err error
		if fams, err = p.Scrape(); err != nil {
			return err
		}
		if got := ByLabel(fams, name, label); !maps.Equal(got, want) {
			return fmt.Errorf("%s by %s = %v, want %v", name, label, got, want)
		}
		return nil
	})
	return fams
}

// Eventually calls check until it returns nil, and fails the test with
// check's last error when WaitFor passes first.
func Eventually(tb testing.TB, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", WaitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartWithout runs binary as Start does, as root but without the named
// capabilities (lower case, as setpriv(1) spells them: "perfmon",
// "sys_ptrace"), dropped from its bounding and inheritable sets.
func StartWithout(tb testing.TB, binary string, capabilities []string, args ...string) *Process {
	tb.Helper()
	setpriv := RequireCommand(tb, "setpriv", "drops capabilities (util-linux)")
	drop := "-" + strings.Join(capabilities, ",-")
	return StartCmd(tb, exec.Command(setpriv, append([]string{"--bounding-set=" + drop, "--inh-caps=" + drop, binary},
		ListenArgs(args...)...)...))
}
