package collector

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// handEnv is an Env with a loader and a resolver (no cgroup watcher), as
// the scaffold hands a constructor, for tests that count what a
// constructor leaves open.
func handEnv(t *testing.T) exporter.Env {
	t.Helper()
	return handEnvAt(t, "")
}

// handEnvAt is handEnv with its resolver's cgroup v2 root at root ("":
// the host's).
func handEnvAt(t *testing.T, root string) exporter.Env {
	t.Helper()
	testenv.RequireRoot(t)
	self, err := selfmetrics.New(namespace+"_exporter", prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { self.Shutdown(context.Background()) })
	loader, err := bpfload.NewLoader(self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.Close() })
	resolver, err := workload.NewResolver(workload.Options{CgroupRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resolver.Close() })
	return exporter.Env{
		Name:      "dns",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespace: namespace,
		Self:      self,
	}.WithComponents(map[string]any{bpfload.ComponentName: loader, workload.ComponentName: resolver})
}

// openFDs counts the test process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestFailedConstructionLeavesNothingOpen fails New after the programs and
// maps are loaded, with name capture on: the cgroup v2 root it is given is
// a cgroup removed since, to which the programs cannot attach. The scaffold
// retries a failed constructor forever, so each attempt must release
// everything. Before, New opened the NXDOMAIN names' ring-buffer reader
// (an epoll fd and an event fd, and a goroutine blocked on it) before a
// step that could still fail and never closed it on that failure: every
// attempt left two more descriptors open.
func TestFailedConstructionLeavesNothingOpen(t *testing.T) {
	gone := filepath.Join(testenv.NewCgroup(t).V2Dir, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	env := handEnvAt(t, gone)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	o := Options{Ports: []uint16{53}, Timeout: time.Second, Names: true}
	construct := func() {
		t.Helper()
		c, err := New(t.Context(), env, o)
		if err == nil {
			c.Close()
			t.Fatal("New attached to a cgroup that is gone")
		}
	}
	construct() // once first: what the runtime and cilium/ebpf open once
	before := openFDs(t)
	const attempts = 5
	for range attempts {
		construct()
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d open file descriptors after %d failed constructions, %d before", after, attempts, before)
	}
}

// TestRunClosesItsRingBufferReader runs the collector's background work
// three times, as the scaffold does after failures: each Run opens the
// names' ring-buffer reader and closes it when its context ends, so the
// descriptors open go back to what New left.
func TestRunClosesItsRingBufferReader(t *testing.T) {
	env := handEnv(t)
	c, err := New(t.Context(), env, Options{Ports: []uint16{53}, Timeout: time.Second, Names: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := openFDs(t)
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for deadline := time.Now().Add(5 * time.Second); openFDs(t) == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("Run opened no ring-buffer reader in 5s")
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if after := openFDs(t); after != before {
			t.Fatalf("%d open file descriptors after Run returned, %d before it", after, before)
		}
	}
}
