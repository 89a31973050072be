package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"
)

// workloadEnv selects a registered workload in a re-executed test binary.
const workloadEnv = "BPFLEET_TESTENV_WORKLOAD"

// Workload is a function run in a child process of the test binary; its
// return value is the child's exit code. args are what Start was given.
type Workload func(args []string) int

// Main runs the workload named in the environment, if any, and exits;
// otherwise it runs the tests. Call it from TestMain.
//
// A workload child first does the Go runtime's one-time work (see warmUp),
// tells its parent it is ready (fd 3), then waits for Go (a byte on stdin):
// between the two the parent places it in cgroups and takes a baseline, so
// that a baseline counts nothing of the child but its exec.
func Main(m *testing.M, workloads map[string]Workload) {
	name, ok := os.LookupEnv(workloadEnv)
	if !ok {
		os.Exit(m.Run())
	}
	w, ok := workloads[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "testenv: no workload %q (have %v)\n", name, keys(workloads))
		os.Exit(125)
	}
	warmUp()
	ready := os.NewFile(3, "ready")
	if _, err := ready.Write([]byte{1}); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: signalling ready: %v\n", err)
		os.Exit(125)
	}
	ready.Close()
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: waiting for go: %v\n", err)
		os.Exit(125)
	}
	os.Exit(w(os.Args[2:])) // after the -test.run argument of command
}

// warmUp makes the Go runtime do its one-time work before the workload is
// measured: the first os/exec call probes pidfd support with a clone of its
// own, which would otherwise count as one more fork and exit.
func warmUp() {
	if _, err := os.Stat("/bin/true"); err == nil {
		_ = exec.Command("/bin/true").Run()
	}
}

func keys(m map[string]Workload) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Process is a started workload.
type Process struct {
	Cmd   *exec.Cmd
	go_   io.WriteCloser
	ready *os.File // read end of the child's fd 3; nil for plain commands
}

// Go lets the workload run.
func (p *Process) Go(tb testing.TB) {
	tb.Helper()
	if _, err := p.go_.Write([]byte{1}); err != nil {
		tb.Fatalf("starting workload: %v", err)
	}
	p.go_.Close()
}

// Wait waits for the workload to exit and returns its exit code (-1 for a
// death by signal).
func (p *Process) Wait(tb testing.TB) int {
	tb.Helper()
	err := p.Cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		tb.Fatalf("waiting for workload: %v", err)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// waitReady waits for a workload child's ready byte.
func (p *Process) waitReady(tb testing.TB) {
	tb.Helper()
	if p.ready == nil {
		return
	}
	defer p.ready.Close()
	if err := p.ready.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(p.ready, make([]byte, 1)); err != nil {
		tb.Fatalf("waiting for workload to be ready: %v", err)
	}
}

// command builds the re-execution of the test binary as workload name and
// the read end of its ready pipe.
func command(tb testing.TB, name string, args ...string) (*exec.Cmd, *os.File) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), workloadEnv+"="+name)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w}
	return cmd, r
}
