package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/hookbench"
	"github.com/bpfleet/bpfleet/internal/procexit"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Side-by-side benchmarks against Cloudflare's ebpf_exporter: the same
// loops as BenchmarkHook*, each run under three configurations that take
// turns on the same hooks: this package's collector (ours), an
// ebpf_exporter process with one config loaded (theirs), and the
// do-nothing programs of bpf/kernel/empty.bpf.c (empty). Each round
// attaches one configuration, runs the loop with the kernel's BPF run-time
// statistics on, and reads every program's run time and run count; the
// reported figures are medians over the rounds. Only program time is
// measured: both exporters' programs are timed by the same kernel counters,
// which leave out the hook's dispatch.
//
// The ebpf_exporter binary and its compiled configs come from
// scripts/bench-ebpf-exporter.sh, which builds them outside the checkout;
// without them these benchmarks skip. BENCHMARKS.md ("Side by side with
// ebpf_exporter") has the commands and results.

// peerDirEnv names the directory scripts/bench-ebpf-exporter.sh built:
// <dir>/ebpf_exporter and <dir>/configs/<name>.{yaml,bpf.o}.
const peerDirEnv = "BPFLEET_EBPF_EXPORTER_DIR"

// peerRounds is the number of rounds; even, so that each configuration runs
// as often early as late.
const peerRounds = 6

// peerDir returns the ebpf_exporter build directory, or skips.
func peerDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(peerDirEnv)
	if dir == "" {
		dirs, _ := filepath.Glob("/var/cache/bpfleet/ebpf_exporter-*")
		if len(dirs) == 0 {
			tb.Skipf("no ebpf_exporter build: run scripts/bench-ebpf-exporter.sh, or set %s", peerDirEnv)
		}
		slices.Sort(dirs)
		dir = dirs[len(dirs)-1]
	}
	if _, err := os.Stat(filepath.Join(dir, "ebpf_exporter")); err != nil {
		tb.Skipf("no ebpf_exporter binary (run scripts/bench-ebpf-exporter.sh): %v", err)
	}
	return dir
}

// peerConfig is one configuration of a side-by-side benchmark: attach
// returns the programs it attached and a function that detaches them.
type peerConfig struct {
	name   string
	attach func() (progs []*ebpf.Program, detach func() error)
}

// peerRound is what one round of one configuration measured.
type peerRound struct {
	bpfPerOp  float64            // ns inside all programs per iteration
	runsPerOp float64            // program runs per iteration
	perProg   map[string]float64 // ns per run, by program name
}

// peerBench runs newLoop's loop under ours (newCollector), theirs
// (ebpf_exporter with config) and empty (the empty programs on the hooks
// ours attaches, where empty.bpf.c has them) and reports medians of
// <config>-bpf-ns/op, <config>-runs/op and <config>-<program>-ns/run.
func peerBench(b *testing.B, newCollector exporter.New, oursSpec func() (*ebpf.CollectionSpec, error), config string, newLoop func(testing.TB) loop) {
	testenv.RequireRoot(b)
	dir := peerDir(b)
	for _, ext := range []string{".yaml", ".bpf.o"} {
		if _, err := os.Stat(filepath.Join(dir, "configs", config+ext)); err != nil {
			b.Skipf("ebpf_exporter config %s not built (run scripts/bench-ebpf-exporter.sh): %v", config, err)
		}
	}
	b.StopTimer()
	op := newLoop(b)
	env := benchEnv(b)
	ours := func() ([]*ebpf.Program, func() error) {
		c, err := newCollector(context.Background(), env)
		if err != nil {
			b.Fatalf("constructing collector: %v", err)
		}
		return programsOf(b, c), c.(io.Closer).Close
	}
	configs := []peerConfig{
		{"ours", ours},
		{"theirs", func() ([]*ebpf.Program, func() error) { return startPeer(b, dir, config) }},
	}
	empty := hookbench.LoadEmpty(b, loadEmpty)
	if names := emptyOnHooksOf(b, ours, oursSpec, empty); len(names) > 0 {
		configs = append(configs, peerConfig{"empty", func() ([]*ebpf.Program, func() error) { return empty.Attach(b, names) }})
	}
	rounds := make([][]peerRound, len(configs))
	per := max(b.N/peerRounds, 1)
	for round := range peerRounds {
		for i := range configs {
			if round%2 == 1 {
				i = len(configs) - 1 - i
			}
			rounds[i] = append(rounds[i], runPeerRound(b, configs[i], op, per))
		}
	}
	b.ReportMetric(0, "ns/op") // the loop is not timed
	for i, cfg := range configs {
		reportPeer(b, cfg.name, rounds[i])
	}
}

// emptyOnHooksOf returns the empty programs on the hooks (section names) of
// the programs that ours attaches, as the collector chooses its design on
// this kernel.
func emptyOnHooksOf(b *testing.B, ours func() ([]*ebpf.Program, func() error), oursSpec func() (*ebpf.CollectionSpec, error), empty *hookbench.Empty) []string {
	b.Helper()
	spec, err := oursSpec()
	if err != nil {
		b.Fatal(err)
	}
	progs, detach := ours()
	hooks := map[string]bool{}
	for _, p := range progs {
		if ps, ok := spec.Programs[hookbench.ProgramName(b, p)]; ok {
			hooks[ps.SectionName] = true
		}
	}
	if err := detach(); err != nil {
		b.Fatalf("detaching: %v", err)
	}
	var names []string
	for name, ps := range empty.Spec.Programs {
		if hooks[ps.SectionName] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// runPeerRound attaches cfg, runs op n times with BPF run-time statistics
// on, and detaches.
func runPeerRound(b *testing.B, cfg peerConfig, op loop, n int) peerRound {
	b.Helper()
	progs, detach := cfg.attach()
	defer func() {
		if err := detach(); err != nil {
			b.Errorf("detaching %s: %v", cfg.name, err)
		}
	}()
	op.Run(b, max(n/10, 1)) // warm the programs' maps and caches
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("no BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	before := hookbench.ProgramStats(b, progs)
	op.Run(b, n)
	after := hookbench.ProgramStats(b, progs)
	r := peerRound{perProg: map[string]float64{}}
	var runtime time.Duration
	var runs uint64
	perProg := map[string]ebpf.ProgramStats{}
	for i, p := range progs {
		d := ebpf.ProgramStats{
			Runtime:  after[i].Runtime - before[i].Runtime,
			RunCount: after[i].RunCount - before[i].RunCount,
		}
		runtime += d.Runtime
		runs += d.RunCount
		name := hookbench.ProgramName(b, p)
		t := perProg[name]
		t.Runtime += d.Runtime
		t.RunCount += d.RunCount
		perProg[name] = t
	}
	r.bpfPerOp = float64(runtime) / float64(n)
	r.runsPerOp = float64(runs) / float64(n)
	for name, st := range perProg {
		if st.RunCount > 0 {
			r.perProg[name] = float64(st.Runtime) / float64(st.RunCount)
		}
	}
	return r
}

// reportPeer reports the medians of a configuration's rounds.
func reportPeer(b *testing.B, name string, rounds []peerRound) {
	pick := func(f func(peerRound) (float64, bool)) (float64, bool) {
		var v []float64
		for _, r := range rounds {
			if x, ok := f(r); ok {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return 0, false
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2], true
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
	}
	bpf, _ := pick(func(r peerRound) (float64, bool) { return r.bpfPerOp, true })
	runs, _ := pick(func(r peerRound) (float64, bool) { return r.runsPerOp, true })
	b.ReportMetric(bpf, name+"-bpf-ns/op")
	b.ReportMetric(runs, name+"-runs/op")
	progs := map[string]bool{}
	for _, r := range rounds {
		for p := range r.perProg {
			progs[p] = true
		}
	}
	for p := range progs {
		if v, ok := pick(func(r peerRound) (float64, bool) { x, ok := r.perProg[p]; return x, ok }); ok {
			b.ReportMetric(v, name+"-"+p+"-ns/run")
		}
	}
}

// startPeer starts ebpf_exporter with one config, waits until it serves,
// and returns the programs its process holds with a function that stops
// it (which detaches them).
func startPeer(b *testing.B, dir, config string) ([]*ebpf.Program, func() error) {
	b.Helper()
	cmd := exec.Command(filepath.Join(dir, "ebpf_exporter"),
		"--config.dir="+filepath.Join(dir, "configs"), "--config.names="+config, "--config.strict",
		"--web.listen-address=127.0.0.1:0", "--log.no-timestamps")
	// No OpenTelemetry export: the exporter would otherwise try to send
	// spans to an OTLP collector on localhost when it stops.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting ebpf_exporter: %v", err)
	}
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return fmt.Errorf("ebpf_exporter: %w", err)
		}
		return nil // stopped by the signal, whatever its exit status
	}
	ready := make(chan string, 1)
	logged := make(chan string, 1)
	go func() {
		var log strings.Builder
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			log.WriteString(s.Text() + "\n")
			if strings.Contains(s.Text(), "Listening on") {
				ready <- s.Text()
			}
		}
		logged <- log.String()
	}()
	select {
	case <-ready:
	case log := <-logged:
		cmd.Wait()
		b.Fatalf("ebpf_exporter stopped before serving:\n%s", log)
	case <-time.After(30 * time.Second):
		stop()
		b.Fatalf("ebpf_exporter not serving after 30s:\n%s", <-logged)
	}
	held, err := exportertest.HeldBPF(cmd.Process.Pid)
	if err != nil {
		stop()
		b.Fatalf("reading ebpf_exporter's BPF objects: %v", err)
	}
	var progs []*ebpf.Program
	for id := range held.Programs {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			stop()
			b.Fatalf("opening ebpf_exporter's program %d: %v", id, err)
		}
		progs = append(progs, p)
	}
	if len(progs) == 0 {
		stop()
		b.Fatalf("ebpf_exporter holds no BPF programs for %s", config)
	}
	return progs, func() error {
		for _, p := range progs {
			p.Close()
		}
		return stop()
	}
}

// BenchmarkPeerWakeup: the ping-pong of BenchmarkHookWakeup; theirs is
// runqlat (testdata/ebpf_exporter/runqlat.bpf.c).
func BenchmarkPeerWakeup(b *testing.B) {
	peerBench(b, newSched, loadSched, "runqlat", pingPongLoop)
}

// BenchmarkPeerWakeupFallback is BenchmarkPeerWakeup with ours forced to
// the wakeup design (task storage; sched_wakeup, sched_wakeup_new,
// sched_switch): ours, theirs and empty then run on the same three hooks.
func BenchmarkPeerWakeupFallback(b *testing.B) {
	force(b, &schedInfoLive, func() bool { return false })
	peerBench(b, newSched, loadSched, "runqlat", pingPongLoop)
}

// BenchmarkPeerBlockWrite: the O_DIRECT writes of BenchmarkHookBlockWrite;
// theirs is ebpf_exporter's examples/biolatency.
func BenchmarkPeerBlockWrite(b *testing.B) {
	peerBench(b, newBlock, loadBlock, "biolatency", directWriteLoop)
}

// BenchmarkPeerExec: the vfork + exec loop of BenchmarkHookExec; theirs is
// a per-cgroup exec counter (testdata/ebpf_exporter/cgroup-exec.bpf.c).
func BenchmarkPeerExec(b *testing.B) {
	peerBench(b, newProcess, procexit.LoadProcess, "cgroup-exec", execLoop)
}
