package workload

import (
	"context"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// A cgroup made and removed between two lookups keeps its path: the
// watcher learnt it from the kernel at mkdir time.
func TestWatchRemembersShortLivedCgroups(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := DetectV2Root()
	if err != nil {
		t.Skip(err)
	}
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New("test_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(Options{CgroupRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, newLoader(t, self), self) }()
	waitAttached(t, reg)

	rel := "/bpfleet-watch-test-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	const children = 5
	ids := make([]uint64, 0, children)
	for i := 0; i < children; i++ {
		dir := filepath.Join(root, rel+"-"+string(rune('a'+i)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		id, err := CgroupID(dir)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i, id := range ids {
		want := rel + "-" + string(rune('a'+i))
		for {
			l, alive := r.Lookup(ctx, id)
			if l.Cgroup == want && !alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Lookup(%d) = %+v, alive %v; want cgroup %s, gone", id, l, alive, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch: %v", err)
	}
	// One processing-time sample per cgroup made, at least (others on the
	// host may make cgroups too).
	if n := processedEvents(t, reg); n < children {
		t.Errorf("event processing samples: %d, want at least %d", n, children)
	}
}

func processedEvents(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "test_exporter_event_processing_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "collector" && l.GetValue() == WatchCollector {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func waitAttached(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.CollectAndCount(reg, "test_exporter_bpf_program_attached") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("cgroup watch program not attached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingFinder counts the lookups that reach the kernel.
type countingFinder struct {
	pathFinder
	calls int
}

func (c *countingFinder) find(id uint64) (string, error) {
	c.calls++
	return c.pathFinder.find(id)
}

// While the watcher sees every mkdir and rmdir, lookups of known cgroups
// are answered from memory, and a removal is known without asking.
func TestWatchedLookupsAskTheKernelOnlyForUnknownCgroups(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := DetectV2Root()
	if err != nil {
		t.Skip(err)
	}
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New("test_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(Options{CgroupRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	finder := &countingFinder{pathFinder: r.paths}
	r.paths = finder
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, newLoader(t, self), self) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	waitAttached(t, reg)
	// The program is attached before Watch starts trusting its cache (the
	// loader returns memory to the kernel in between).
	waitFor(t, r.watched.Load)

	rel := "/bpfleet-watch-fast-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	dir := filepath.Join(root, rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	id, err := CgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { l, alive := r.Lookup(ctx, id); return alive && l.Cgroup == rel })
	calls := finder.calls
	for i := 0; i < 100; i++ {
		if l, alive := r.Lookup(ctx, id); !alive || l.Cgroup != rel {
			t.Fatalf("Lookup = %+v, %v; want %s, alive", l, alive, rel)
		}
	}
	if n := finder.calls - calls; n != 0 {
		t.Errorf("100 lookups of a watched cgroup asked the kernel %d times, want 0", n)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, alive := r.Lookup(ctx, id); return !alive })
	if n := finder.calls - calls; n != 0 {
		t.Errorf("the removal was learnt by asking the kernel %d times, want 0", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 5s")
		}
	}
}

func newLoader(t *testing.T, self *selfmetrics.Metrics) *bpfload.Loader {
	t.Helper()
	l, err := bpfload.NewLoader(self)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
