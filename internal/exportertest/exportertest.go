// Package exportertest runs an exporter binary end to end, as an operator
// would: TestMain builds it once (Main), each test starts it as a child
// process on a free loopback port (Start), scrapes it over HTTP, polls it
// with deadlines (Eventually, Process.WaitForMetric) and stops it with
// SIGTERM (Process.Terminate). Beside the process it checks what the
// exporter leaves on the host: the BPF programs, links and maps a process
// holds (HeldBPF) and whether the kernel still has them after it exits
// (StillLoaded, Unowned), its output against promtool (PromtoolCheck), and
// its README's Flags and Metrics tables against --help, the collector
// descriptors and a scrape (CheckREADMEFlags, CheckREADMEMetrics).
//
// Every helper that waits gives up after WaitFor and fails the test.
package exportertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the exporter command in the directory pkgDir (relative to the
// test's working directory, "." for the package under test) into a temporary
// directory, sets *binary to its path, runs the tests and exits with their
// result, removing the binary first. A build failure exits with code 1 and
// the compiler's output before any test runs. Call it from TestMain.
func Main(m *testing.M, pkgDir string, binary *string) {
	path, remove, err := build(pkgDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = path
	code := m.Run()
	remove()
	os.Exit(code)
}

// build runs go build on pkgDir into a new temporary directory and returns
// the binary's path and a function that removes the directory.
func build(pkgDir string) (path string, remove func(), err error) {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", nil, fmt.Errorf("locating %s: %w", pkgDir, err)
	}
	name := filepath.Base(abs)
	dir, err := os.MkdirTemp("", name+"-e2e-")
	if err != nil {
		return "", nil, fmt.Errorf("making a directory for %s: %w", name, err)
	}
	remove = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", path, abs).CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("building %s: %w\n%s", name, err, out)
	}
	return path, remove, nil
}

// RequireCommand returns the path of the command name, and skips the test
// when it is not on PATH; why says what provides it.
func RequireCommand(tb testing.TB, name, why string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("needs %s on PATH (%s): %v", name, why, err)
	}
	return path
}
