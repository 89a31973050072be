package collector

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/series"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// fakeClock is a settable clock for the oom collector's series.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestOOMSeriesLivesWithItsPod: the series of an OOM-killed container
// whose cgroup is gone stays while its pod's cgroup lives, however long;
// once the pod is gone too, it goes after the grace period, and its rows
// leave the kernel map.
func TestOOMSeriesLivesWithItsPod(t *testing.T) {
	ctd, h := newCollectors(t)
	oom := h.oom.C.(*oomCollector)
	clock := &fakeClock{now: time.Now()}
	oom.attr = series.New(series.Options[uint64]{Labeler: oom, Self: h.oom.Env.Self, Grace: grace, Now: clock.Now})

	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "ml", Name: "batch"})
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "hog", MemoryLimit: 32 << 20,
		Command: []string{"tail", "/dev/zero"}})
	ctd.WaitExited(t, id)
	hog := containerKV("ml", "batch", "hog")
	waitCounter(t, h, "cri_container_oom_kills_total", hog, 1)

	hogKey := containerKey{Namespace: "ml", Pod: "batch", Container: "hog"}
	var hogRows []uint64
	for cgroup, r := range oom.rows {
		if r.key == hogKey {
			hogRows = append(hogRows, cgroup)
		}
	}
	if len(hogRows) == 0 {
		t.Fatal("no kernel map row attributed to the hog container")
	}

	ctd.RemoveContainer(t, id) // its cgroup is gone; the pod's lives
	h.oom.Scrape()
	clock.advance(2 * grace)
	h.oom.Scrape() // a series expires after the scrape that finds it expired
	if got := h.oom.Scrape().Counter("cri_container_oom_kills_total", hog...); got != 1 {
		t.Errorf("OOM kills of a removed container of a live pod, after %v: %v, want 1", 2*grace, got)
	}

	ctd.RemovePod(t, pod)
	podDir := filepath.Join(oom.resolver.CgroupRoot(), ctd.CgroupParent, "kubepods", "besteffort", "pod"+pod.UID)
	if err := os.Remove(podDir); err != nil && !os.IsNotExist(err) {
		t.Fatalf("removing the pod cgroup, as the kubelet does: %v", err)
	}
	if got := h.oom.Scrape().Counter("cri_container_oom_kills_total", hog...); got != 1 {
		t.Errorf("OOM kills right after the pod is gone: %v, want 1 (kept for %v)", got, grace)
	}
	clock.advance(grace)
	h.oom.Scrape()
	s := h.oom.Scrape()
	if _, ok := s[collectortest.SeriesOf("cri_container_oom_kills_total", hog...)]; ok {
		t.Errorf("OOM series of a pod gone for %v still served", grace)
	}
	rows, err := maps.ReadCounters(oom.objs.OomCounts)
	if err != nil {
		t.Fatal(err)
	}
	for k := range rows {
		if slices.Contains(hogRows, k.ID) {
			t.Errorf("row of cgroup %d still in the kernel map after its series went", k.ID)
		}
	}
}
