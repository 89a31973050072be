package collector

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func init() {
	workloads["spin-park"] = spinParkWorkload
}

// spinParkWorkload spins as spinWorkload does, then creates the file
// $BPFLEET_DONE_FILE and sleeps until killed.
func spinParkWorkload(args []string) int {
	if code := spinWorkload(args); code != 0 {
		return code
	}
	if err := os.WriteFile(os.Getenv("BPFLEET_DONE_FILE"), nil, 0o600); err != nil {
		return 1
	}
	time.Sleep(time.Hour)
	return 0
}

func TestRunqueueLatencyOfOversubscribedCgroup(t *testing.T) {
	if !schedInfoLive() {
		t.Skip("the kernel keeps no run-queue statistics: TestRunqueueLatencyFallback covers the design used")
	}
	testRunqueueOversubscribed(t)
}

// TestRunqueueLatencyFallback is TestRunqueueLatencyOfOversubscribedCgroup
// with the wakeup design (task storage, three hooks) forced.
func TestRunqueueLatencyFallback(t *testing.T) {
	force(t, &schedInfoLive, func() bool { return false })
	testRunqueueOversubscribed(t)
}

func testRunqueueOversubscribed(t *testing.T) {
	h := newHarness(t, "sched")
	cg := testenv.NewCgroup(t)
	stats := filepath.Join(t.TempDir(), "schedstat")
	t.Setenv("BPFLEET_SCHEDSTAT_FILE", stats)
	p := cg.Start(t, "spin", "8", "1s") // 8 busy threads on this host's cores
	before := h.scrape()
	p.Go(t)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("workload exited %d", code)
	}
	after := h.scrape()

	name := "kernel_runqueue_latency_seconds"
	wl := workloadLabels(cg)
	samples := after.histCount(name, wl...) - before.histCount(name, wl...)
	// Every one of the 8 threads waited at least once: at its start, and
	// whenever a sibling preempted it. An exact count depends on the
	// scheduler; at least one sample per thread does not.
	if samples < 8 {
		t.Errorf("run-queue latency samples: +%d, want at least +8", samples)
	}
	hist := after.histogram(name, wl...)
	if hist == nil {
		t.Fatal("no run-queue latency series for the workload's cgroup")
	}
	if hist.GetSampleSum() <= 0 {
		t.Errorf("sum of run-queue latency: %v, want > 0", hist.GetSampleSum())
	}
	var wait, runs uint64
	data, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Sscan(string(data), &wait, &runs)
	t.Logf("samples %d sum %.6fs; schedstat runs %d wait %.6fs", samples, hist.GetSampleSum(), runs, float64(wait)/1e9)
	// The kernel's own scheduler statistics measure the same waits (enqueue
	// to on-CPU) per thread. Here they agree to 2%; schedstat also holds
	// the waits before the baseline; with the wakeup design, on a host
	// loaded by other tests a nested tracepoint hit is skipped now and then
	// (the kernel does not run a program inside itself), which loses a
	// sample; with the sched_info design, a wait cut by a migration counts
	// from the move. Hence the bounds: 15% under, 5% over.
	kernel := float64(wait) / 1e9
	if sum := hist.GetSampleSum(); sum < 0.85*kernel || sum > 1.05*kernel {
		t.Errorf("sum of run-queue latency %.6fs, kernel schedstat says %.6fs: outside [-15%%, +5%%]", sum, kernel)
	}
	if samples > runs {
		t.Errorf("%d run-queue latency samples, more than the %d times the kernel ran the threads", samples, runs)
	}
	if n := len(hist.GetPositiveSpan()); n == 0 {
		t.Errorf("no native buckets in %v", hist)
	}
}

// TestRunqueueLatencyCountsEveryRun: with the sched_info design, each
// sample is one of the kernel's own run-queue waits, so a workload's
// samples are exactly the runs the kernel counts for its threads
// (/proc/<pid>/task/*/schedstat), and their sum the wait it counts. The
// workload's cgroup is frozen (cgroup.freeze) at the baseline and at the
// end, so that no thread runs while the two are read.
func TestRunqueueLatencyCountsEveryRun(t *testing.T) {
	if !schedInfoLive() {
		t.Skip("the kernel keeps no run-queue statistics")
	}
	h := newHarness(t, "sched")
	cg := testenv.NewCgroup(t)
	done := filepath.Join(t.TempDir(), "done")
	t.Setenv("BPFLEET_DONE_FILE", done)
	p := cg.Start(t, "spin-park", "8", "300ms")
	pid := p.Cmd.Process.Pid
	name := "kernel_runqueue_latency_seconds"
	wl := workloadLabels(cg)

	freeze(t, cg, true)
	before := h.scrape()
	lost0 := schedLost(t, h)
	runs0, wait0 := threadSchedstats(t, pid)
	freeze(t, cg, false)
	p.Go(t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workload did not finish spinning in 30s")
		}
	}
	freeze(t, cg, true)
	after := h.scrape()
	lost := schedLost(t, h) - lost0
	runs1, wait1 := threadSchedstats(t, pid)
	freeze(t, cg, false)

	samples := after.histCount(name, wl...) - before.histCount(name, wl...)
	var runs, wait uint64
	for tid, r := range runs1 {
		runs += r - runs0[tid]
		wait += wait1[tid] - wait0[tid]
	}
	sum := after.histogram(name, wl...).GetSampleSum()
	if hb := before.histogram(name, wl...); hb != nil {
		sum -= hb.GetSampleSum()
	}
	t.Logf("samples +%d, sum +%.6fs, host-wide lost +%d; kernel: runs +%d, wait +%.6fs", samples, sum, lost, runs, float64(wait)/1e9)
	// Every run is one sample. The kernel does not run sched_switch
	// programs for every switch it counts (on the dev VM, for no switch
	// away from a thread of its PID 1, about one in a few thousand, none
	// counted as a recursion miss): the program catches such a run up when
	// the thread next leaves a CPU (sched.bpf.c), with the wait the missed
	// switch would have given.
	if samples != runs {
		t.Errorf("run-queue latency samples +%d, want +%d (the runs the kernel counted; host-wide lost +%d)", samples, runs, lost)
	}
	// Compared to 1µs: the sum is served in float seconds.
	if kernel := float64(wait) / 1e9; math.Abs(sum-kernel) > 1e-6 {
		t.Errorf("sum of run-queue latency +%.9fs, the kernel counted +%.9fs", sum, kernel)
	}
}

// freeze freezes or thaws cg (cgroup v2 cgroup.freeze) and waits until
// cgroup.events says it is done.
func freeze(t *testing.T, cg *testenv.Cgroup, frozen bool) {
	t.Helper()
	want := map[bool]string{true: "1", false: "0"}[frozen]
	if err := os.WriteFile(filepath.Join(cg.V2Dir, "cgroup.freeze"), []byte(want), 0); err != nil {
		t.Skipf("no cgroup freezer: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		events, err := os.ReadFile(filepath.Join(cg.V2Dir, "cgroup.events"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(events), "frozen "+want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup.events after 30s: %q, want frozen %s", events, want)
		}
	}
}

// schedLost is the sched collector's lost events plus the times the
// kernel skipped its program (recursion misses), host-wide.
func schedLost(t *testing.T, h *harness) uint64 {
	t.Helper()
	c := h.c.(*schedCollector)
	lost, err := maps.ReadLost(c.maps.LostEvents)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, l := range lost {
		n += l
	}
	for _, name := range c.set.Programs() {
		st, err := c.set.Program(name).Stats()
		if err != nil {
			t.Fatal(err)
		}
		n += st.RecursionMisses
	}
	return n
}

// threadSchedstats reads the times run and the run-queue wait (ns) of each
// thread of pid from /proc/<pid>/task/<tid>/schedstat.
func threadSchedstats(t *testing.T, pid int) (runs, wait map[int]uint64) {
	t.Helper()
	runs, wait = make(map[int]uint64), make(map[int]uint64)
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	for _, dir := range dirs {
		tid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			t.Fatal(err)
		}
		var onCPU, w, r uint64
		if _, err := fmt.Sscan(string(data), &onCPU, &w, &r); err != nil {
			t.Fatalf("%s/schedstat: %v", dir, err)
		}
		runs[tid], wait[tid] = r, w
	}
	return runs, wait
}
