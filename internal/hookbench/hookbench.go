// Package hookbench measures what a collector's BPF programs cost per event
// on their hooks, for the exporters' BenchmarkHook* benchmarks. It is used
// by benchmarks only.
//
// A benchmark (Run) runs one tight user-space loop under several
// configurations:
//
//   - none: nothing attached;
//   - empty: the exporter's do-nothing programs on the collector's hooks;
//   - floor_percpu, floor_shared, floor_hash, floor_storage, floor_slot:
//     the counting floor of bpf/hookbench/floor.bpf.c on the same hooks,
//     the least a program that counts events does (one add to a per-CPU
//     slot; one atomic add to a shared slot; one to the current cgroup's
//     row in a small hash; one to the current cgroup's own storage; one to
//     the current cgroup's slot of a per-CPU, direct-mapped table);
//   - collector: the collector built by its real constructor.
//
// The budget (DESIGN.md, "Performance budgets") is the collector's cost per
// event at most twice the empty program's on the same hook; the floor tells
// how close to that any design that counts can come. Timings drift on a
// shared machine by more than these programs cost, so the configurations
// run interleaved, in Rounds rounds of b.N/Rounds iterations each, in the
// order above and then backwards (which cancels a linear drift), and each
// reports its own <config>-ns/op. After each timed run of a configuration
// that attaches programs, an untimed run of as many iterations with the
// kernel's BPF run-time statistics on measures the time spent inside the
// programs (<config>-bpf-ns/op), the program runs per iteration
// (<config>-runs/op) and each program's mean run time (<program>-ns/run;
// a floor program is named after the empty program on its hook, with the
// variant for "empty": floor_percpu_exec on empty_exec's hook). Statistics
// cost every program run two clock reads, which is why the timed runs go
// without. BENCHMARKS.md ("Per-event cost of the BPF programs") has the
// commands and results.
package hookbench

// The floor programs; the generated bindings and object are committed so
// that building needs no clang. `make generate` reruns this.
//go:generate go tool bpf2go -tags linux -target bpfel floor ../../bpf/hookbench/floor.bpf.c -- -I../../bpf/include

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Rounds is the number of interleaved rounds; even, so that each
// configuration runs as often early as late.
const Rounds = 6

// Loop is one iteration of a benchmark workload.
type Loop func() error

// Run runs l n times and fails tb at the first error.
func (l Loop) Run(tb testing.TB, n int) {
	tb.Helper()
	for range n {
		if err := l(); err != nil {
			tb.Fatal(err)
		}
	}
}

// Bench is one hook benchmark.
type Bench struct {
	// Env is what Collector is constructed with (see Env).
	Env exporter.Env
	// Collector constructs the collector measured; it must be an
	// io.Closer. Programs returns the programs it attached (SetPrograms
	// of its bpfload.Set).
	Collector exporter.New
	Programs  func(testing.TB, exporter.Collector) []*ebpf.Program
	// Empty is the exporter's do-nothing programs; Hooks names those on the
	// hooks the collector attaches to, as it chooses its design on this
	// kernel. The floor programs go on the same hooks.
	Empty *Empty
	Hooks []string
	// Loop is the workload.
	Loop Loop
	// RequireRuns fails the benchmark when a program measured ran less
	// than once per iteration, and when the kernel keeps no BPF run-time
	// statistics.
	RequireRuns bool
}

// config instruments the hooks for one round: attach returns the programs
// it attached, their names in the metrics, and a function that detaches
// them.
type config struct {
	name   string
	attach func() (progs []*ebpf.Program, names []string, detach func() error)
}

// result accumulates one configuration's rounds.
type result struct {
	iters   int
	elapsed time.Duration
	statIts int
	bpfTime time.Duration
	runs    uint64
	perProg map[string]ebpf.ProgramStats // by program name
}

// Run measures bench.Loop under the configurations of the package comment.
func Run(b *testing.B, bench Bench) {
	testenv.RequireRoot(b)
	b.StopTimer()
	floor := loadFloorSet(b, bench.Empty, bench.Hooks)
	configs := []config{
		{"none", func() ([]*ebpf.Program, []string, func() error) { return nil, nil, func() error { return nil } }},
		{"empty", func() ([]*ebpf.Program, []string, func() error) {
			progs, detach := bench.Empty.Attach(b, bench.Hooks)
			return progs, nil, detach
		}},
	}
	for _, v := range floor.variants {
		configs = append(configs, config{v, func() ([]*ebpf.Program, []string, func() error) { return floor.attach(b, v) }})
	}
	configs = append(configs, config{"collector", func() ([]*ebpf.Program, []string, func() error) {
		c, err := bench.Collector(context.Background(), bench.Env)
		if err != nil {
			b.Fatalf("constructing collector: %v", err)
		}
		return bench.Programs(b, c), nil, c.(io.Closer).Close
	}})
	results := make([]result, len(configs))
	per := max(b.N/Rounds, 1)
	for round := range Rounds {
		for i := range configs {
			if round%2 == 1 {
				i = len(configs) - 1 - i
			}
			results[i].run(b, configs[i], bench, per)
		}
	}
	b.ReportMetric(0, "ns/op") // the mean of the configurations means nothing
	for i, cfg := range configs {
		results[i].report(b, cfg.name)
		if !bench.RequireRuns {
			continue
		}
		for prog, st := range results[i].perProg {
			if st.RunCount < uint64(results[i].statIts) {
				b.Errorf("%s: %s ran %d times in %d iterations", cfg.name, prog, st.RunCount, results[i].statIts)
			}
		}
	}
}

// run attaches cfg, times n iterations of the loop, then, if cfg attached
// programs, runs n more with statistics on and detaches.
func (r *result) run(b *testing.B, cfg config, bench Bench, n int) {
	b.Helper()
	progs, names, detach := cfg.attach()
	defer func() {
		if err := detach(); err != nil {
			b.Errorf("detaching %s: %v", cfg.name, err)
		}
	}()
	start := time.Now()
	b.StartTimer()
	bench.Loop.Run(b, n)
	b.StopTimer()
	r.elapsed += time.Since(start)
	r.iters += n
	if len(progs) > 0 {
		r.measurePrograms(b, progs, names, bench, n)
	}
}

// measurePrograms runs the loop n times with the kernel's BPF run-time
// statistics on and adds the programs' run time and runs. names are the
// programs' names in the metrics; nil: their own.
func (r *result) measurePrograms(b *testing.B, progs []*ebpf.Program, names []string, bench Bench, n int) {
	b.Helper()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		if bench.RequireRuns {
			b.Fatalf("no BPF run-time statistics: %v", err)
		}
		b.Logf("no BPF run-time statistics: %v", err)
		return
	}
	defer stats.Close()
	before := ProgramStats(b, progs)
	bench.Loop.Run(b, n)
	after := ProgramStats(b, progs)
	if r.perProg == nil {
		r.perProg = make(map[string]ebpf.ProgramStats)
	}
	r.statIts += n
	for i, p := range progs {
		d := ebpf.ProgramStats{
			Runtime:  after[i].Runtime - before[i].Runtime,
			RunCount: after[i].RunCount - before[i].RunCount,
		}
		r.bpfTime += d.Runtime
		r.runs += d.RunCount
		var name string
		if names != nil {
			name = names[i]
		} else {
			name = ProgramName(b, p)
		}
		total := r.perProg[name]
		total.Runtime += d.Runtime
		total.RunCount += d.RunCount
		r.perProg[name] = total
	}
}

// report reports <name>-ns/op and, when programs were measured,
// <name>-bpf-ns/op, <name>-runs/op and each program's mean run time
// (<program>-ns/run).
func (r *result) report(b *testing.B, name string) {
	b.ReportMetric(float64(r.elapsed)/float64(r.iters), name+"-ns/op")
	if r.statIts == 0 {
		return
	}
	b.ReportMetric(float64(r.bpfTime)/float64(r.statIts), name+"-bpf-ns/op")
	b.ReportMetric(float64(r.runs)/float64(r.statIts), name+"-runs/op")
	for prog, st := range r.perProg {
		if st.RunCount > 0 {
			b.ReportMetric(float64(st.Runtime)/float64(st.RunCount), prog+"-ns/run")
		}
	}
}

// ProgramStats returns the programs' run-time statistics.
func ProgramStats(tb testing.TB, progs []*ebpf.Program) []ebpf.ProgramStats {
	tb.Helper()
	out := make([]ebpf.ProgramStats, len(progs))
	for i, p := range progs {
		s, err := p.Stats()
		if err != nil {
			tb.Fatalf("reading stats of %s: %v", p, err)
		}
		out[i] = *s
	}
	return out
}

// ProgramName returns a loaded program's name (its function's name, from
// BTF, not cut at the kernel's 15 characters).
func ProgramName(tb testing.TB, p *ebpf.Program) string {
	tb.Helper()
	info, err := p.Info()
	if err != nil {
		tb.Fatalf("reading info of %s: %v", p, err)
	}
	return info.Name
}

// SetPrograms returns the programs of a set, by name.
func SetPrograms(set *bpfload.Set) []*ebpf.Program {
	var progs []*ebpf.Program
	for _, name := range set.Programs() {
		progs = append(progs, set.Program(name))
	}
	return progs
}

// Env returns the environment collectors are constructed with, as
// collectortest builds it, with the components every hook benchmark's
// collectors take: a BPF loader and a CRI client of no runtime (asked
// nothing until a scrape). WithComponents adds others. namespace is the
// exporter's metric namespace; the components are closed when tb ends.
func Env(tb testing.TB, namespace string) exporter.Env {
	tb.Helper()
	self, err := selfmetrics.New(namespace+"_exporter", prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	loader, err := bpfload.NewLoader(self)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { loader.Close() })
	client, err := cri.New("", 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	return exporter.Env{
		Name:      "bench",
		Logger:    slog.New(slog.DiscardHandler),
		Namespace: namespace,
		Self:      self,
	}.WithComponents(map[string]any{
		bpfload.ComponentName: loader,
		cri.ComponentName:     client,
	})
}

// Empty is an exporter's do-nothing programs (a bpf2go spec of programs
// that return at once, one per hook), loaded, not attached.
type Empty struct {
	Spec *ebpf.CollectionSpec
	Coll *ebpf.Collection
}

// LoadEmpty loads the do-nothing programs of load until tb ends.
func LoadEmpty(tb testing.TB, load func() (*ebpf.CollectionSpec, error)) *Empty {
	tb.Helper()
	spec, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		tb.Fatalf("loading empty programs: %v", err)
	}
	tb.Cleanup(coll.Close)
	return &Empty{spec, coll}
}

// Attach attaches the empty programs named and returns them with a
// function that detaches them.
func (e *Empty) Attach(tb testing.TB, names []string) ([]*ebpf.Program, func() error) {
	tb.Helper()
	progs := make([]*ebpf.Program, len(names))
	for i, name := range names {
		progs[i] = e.Coll.Programs[name]
		if progs[i] == nil {
			tb.Fatalf("no empty program %s", name)
		}
	}
	detach, err := attachAll(progs, func(i int) string { return e.Spec.Programs[names[i]].SectionName })
	if err != nil {
		tb.Fatal(err)
	}
	return progs, detach
}

// attachAll attaches each program to the hook of section(i), or none of
// them, and returns a function that detaches them.
func attachAll(progs []*ebpf.Program, section func(i int) string) (func() error, error) {
	var links []link.Link
	detach := func() error {
		var errs []error
		for _, l := range links {
			errs = append(errs, l.Close())
		}
		return errors.Join(errs...)
	}
	for i, prog := range progs {
		l, err := attachSection(section(i), prog)
		if err != nil {
			detach()
			return nil, fmt.Errorf("attaching %s: %w", section(i), err)
		}
		links = append(links, l)
	}
	return detach, nil
}

// attachSection attaches a tracepoint/<group>/<name> or tp_btf program, as
// bpfload does.
func attachSection(section string, prog *ebpf.Program) (link.Link, error) {
	if rest, ok := strings.CutPrefix(section, "tracepoint/"); ok {
		group, name, _ := strings.Cut(rest, "/")
		if err := bpfload.EnsureTracefs(); err != nil {
			return nil, err
		}
		return link.Tracepoint(group, name, prog, nil)
	}
	return link.AttachTracing(link.TracingOptions{Program: prog})
}

// ExecLoop runs /bin/true and waits for it: one sched_process_fork, one
// sched_process_exec and one sched_process_exit per iteration.
// syscall.ForkExec clones with CLONE_VFORK|CLONE_VM.
func ExecLoop(tb testing.TB) Loop {
	tb.Helper()
	const path = "/bin/true"
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("no %s: %v", path, err)
	}
	argv := []string{path}
	return func() error {
		pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{})
		if err != nil {
			return fmt.Errorf("running %s: %w", path, err)
		}
		return Wait(pid)
	}
}

// Wait waits for child pid and fails unless it exited with status 0.
func Wait(pid int) error {
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("waiting for %d: %w", pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("child %d ended with status %#x", pid, ws)
	}
	return nil
}
