package collector

import (
	"syscall"
	"testing"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/procexit"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestProcessExecsForksAndExits(t *testing.T) {
	h := newHarness(t, "process")
	cg := testenv.NewCgroup(t)

	p := cg.Start(t, "exec", "100", "/bin/true")
	before := h.scrape() // the workload's own exec is already counted
	p.Go(t)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("workload exited %d", code)
	}
	after := h.scrape()

	wl := workloadLabels(cg)
	if got := delta(before, after, "kernel_process_execs_total", wl...); got != 100 {
		t.Errorf("execs: +%v, want +100", got)
	}
	if got := delta(before, after, "kernel_process_forks_total", wl...); got != 100 {
		t.Errorf("forks: +%v, want +100", got)
	}
	// 100 children and the workload itself, each exiting 0.
	if got := delta(before, after, "kernel_process_exits_total", workloadLabels(cg, "outcome", "success")...); got != 101 {
		t.Errorf("successful exits: +%v, want +101", got)
	}
}

func TestProcessExitOutcomes(t *testing.T) {
	h := newHarness(t, "process")
	cg := testenv.NewCgroup(t)

	var exits, sleepers []*testenv.Process
	for _, code := range []string{"0", "0", "1", "1", "1", "3"} {
		exits = append(exits, cg.Start(t, "exit", code))
	}
	for i := 0; i < 2; i++ {
		sleepers = append(sleepers, cg.Start(t, "sleep"))
	}
	before := h.scrape()
	for _, p := range exits {
		p.Go(t)
		p.Wait(t)
	}
	for _, p := range sleepers {
		p.Go(t)
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.Wait(t)
	}
	after := h.scrape()

	for outcome, want := range map[string]float64{"success": 2, "failure": 4, "signal": 2} {
		if got := delta(before, after, "kernel_process_exits_total", workloadLabels(cg, "outcome", outcome)...); got != want {
			t.Errorf("exits with outcome %s: +%v, want +%v", outcome, got, want)
		}
	}
	for _, name := range []string{"kernel_process_execs_total", "kernel_process_forks_total"} {
		if got := delta(before, after, name, workloadLabels(cg)...); got != 0 {
			t.Errorf("%s: +%v, want +0", name, got)
		}
	}
}

// A workload whose cgroup is gone before the scrape keeps its counts and
// its labels until the grace period ends.
func TestProcessCountsOfRemovedCgroup(t *testing.T) {
	h := newHarness(t, "process")
	cg := testenv.NewCgroup(t)
	p := cg.Start(t, "exec", "10", "/bin/true")
	p.Go(t)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("workload exited %d", code)
	}
	cg.Remove(t)

	after := h.scrape()
	if got := after.counter("kernel_process_execs_total", workloadLabels(cg)...); got != 12 {
		t.Errorf("execs of the removed cgroup: %v, want 12 (the workload, its warm-up exec and its 10 children)", got)
	}
}

// Workloads beyond what the kernel's map holds are not lost: their events
// are folded, in the kernel, into the overflow series
// (cgroup="__overflow__"). The map here holds one row, taken by the first
// process event anywhere on the host, so every exec of the test's
// workloads lands in the overflow series, together with those of any other
// new cgroup on the host meanwhile: the overflow series rises by at least
// their 50 execs (internal/maps/foldtest checks folding exactly).
func TestProcessEventsBeyondTheMapFoldIntoOverflow(t *testing.T) {
	h := newHarness(t, "process", collectortest.WithMapMaxEntries(procexit.ProcessMapProcessCounts, 1))
	var cgs []*testenv.Cgroup
	var ps []*testenv.Process
	for range 5 {
		cg := testenv.NewCgroup(t)
		cgs = append(cgs, cg)
		ps = append(ps, cg.Start(t, "exec", "10", "/bin/true"))
	}
	overflow := []string{"cgroup", limits.OverflowLabel, "namespace", "", "pod", "", "container", ""}
	before := h.scrape()
	for _, p := range ps {
		p.Go(t)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("workload exited %d", code)
		}
	}
	after := h.scrape()
	own := 0.0
	for _, cg := range cgs {
		own += delta(before, after, "kernel_process_execs_total", workloadLabels(cg)...)
	}
	folded := delta(before, after, "kernel_process_execs_total", overflow...)
	if own+folded < 50 {
		t.Errorf("execs: +%v under the workloads' own series and +%v in the overflow series; want at least 50 together", own, folded)
	}
}
