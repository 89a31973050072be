package collector

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestOOMKillCountedOnVictimCgroup(t *testing.T) {
	h := newHarness(t, "oom")
	victim := testenv.NewCgroup(t)
	victim.SetMemoryLimit(t, 32<<20)
	before := h.scrape()

	// The test process set the limit from its own cgroup; the kill happens
	// in the victim's allocation, and must be counted on the victim's cgroup.
	if code := victim.Run(t, "alloc", "256"); code != -1 {
		t.Fatalf("workload exited %d, want a death by signal (OOM kill)", code)
	}
	after := h.scrape()

	if got := delta(before, after, "kernel_oom_kills_total", workloadLabels(victim)...); got != 1 {
		t.Errorf("OOM kills of the victim's cgroup: +%v, want +1", got)
	}
	self := testenv.SelfCgroupPath(t)
	if got := delta(before, after, "kernel_oom_kills_total", "cgroup", self, "namespace", "", "pod", "", "container", ""); got != 0 {
		t.Errorf("OOM kills of the test's own cgroup %s: +%v, want +0", self, got)
	}
}
