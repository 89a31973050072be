package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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

// Per-hook cost benchmarks of the plugins and drops collectors, as
// kernel_exporter's BenchmarkHook*: one tight user-space loop runs with
// nothing attached (none), with the do-nothing programs of
// bpf/cni/empty.bpf.c on the collector's hooks (empty) and with the
// collector built by its real constructor (collector), interleaved over
// hookRounds rounds in the order none, empty, collector and then
// backwards. Each reports <config>-ns/op; after each timed run of empty and
// collector, an untimed run with the kernel's BPF run-time statistics on
// gives <config>-bpf-ns/op, <config>-runs/op and each program's
// <program>-ns/run. BENCHMARKS.md ("cni hooks") has the command and results.

// hookRounds is the number of interleaved rounds; even, so that each
// configuration runs as often early as late.
const hookRounds = 6

// hookLoop is one iteration of a benchmark workload.
type hookLoop func() error

// hookConfig instruments the hooks for one round: attach returns the
// programs it attached and a function that detaches them.
type hookConfig struct {
	name   string
	attach func() (progs []*ebpf.Program, detach func() error)
}

// hookResult accumulates one configuration's rounds.
type hookResult struct {
	iters   int
	elapsed time.Duration
	statIts int
	bpfTime time.Duration
	runs    uint64
	perProg map[string]ebpf.ProgramStats // by program name
}

// BenchmarkHookCNIExec: vfork + exec of /bin/true + wait, outside the
// plugin directories (the common case on a node: most execs are no
// plugin's); each iteration is one sched_process_exec and one
// sched_process_exit.
func BenchmarkHookCNIExec(b *testing.B) {
	dir := b.TempDir()
	hookBench(b, pluginsCollectorOf(dir), []string{emptyProgEmptyExec, emptyProgEmptyExit}, execHookLoop)
}

// BenchmarkHookCNIDrop: a UDP datagram sent to a closed port of 127.0.0.1,
// which the kernel frees with reason NO_SOCKET; each iteration is at least
// one kfree_skb.
func BenchmarkHookCNIDrop(b *testing.B) {
	hookBench(b, dropsCollectorOf, []string{emptyProgEmptyKfreeSkb}, dropHookLoop)
}

// hookBench measures a loop made by newLoop under the three configurations,
// on the hooks of emptyProgs and of the collector newCollector, and fails
// when a program measured ran less than once per iteration.
func hookBench(b *testing.B, newCollector exporter.New, emptyProgs []string, newLoop func(testing.TB) hookLoop) {
	testenv.RequireRoot(b)
	b.StopTimer()
	op := newLoop(b)
	env := hookBenchEnv(b)
	empty := loadEmptyHooks(b)
	configs := []hookConfig{
		{"none", func() ([]*ebpf.Program, func() error) { return nil, func() error { return nil } }},
		{"empty", func() ([]*ebpf.Program, func() error) { return attachEmptyHooks(b, empty, emptyProgs) }},
		{"collector", func() ([]*ebpf.Program, func() error) {
			c, err := newCollector(context.Background(), env)
			if err != nil {
				b.Fatalf("constructing collector: %v", err)
			}
			return hookProgramsOf(b, c), c.(io.Closer).Close
		}},
	}
	results := make([]hookResult, len(configs))
	per := max(b.N/hookRounds, 1)
	for round := range hookRounds {
		for i := range configs {
			if round%2 == 1 {
				i = len(configs) - 1 - i
			}
			results[i].run(b, configs[i], op, per)
		}
	}
	b.ReportMetric(0, "ns/op") // the mean of three configurations means nothing
	for i, cfg := range configs {
		results[i].report(b, cfg.name)
		for prog, st := range results[i].perProg {
			if st.RunCount < uint64(results[i].statIts) {
				b.Errorf("%s: %s ran %d times in %d iterations", cfg.name, prog, st.RunCount, results[i].statIts)
			}
		}
	}
}

// run attaches cfg, times n iterations of op, then, if cfg attached
// programs, runs n more with statistics on and detaches.
func (r *hookResult) run(b *testing.B, cfg hookConfig, op hookLoop, n int) {
	b.Helper()
	progs, detach := cfg.attach()
	defer func() {
		if err := detach(); err != nil {
			b.Errorf("detaching %s: %v", cfg.name, err)
		}
	}()
	start := time.Now()
	b.StartTimer()
	runHookOps(b, op, n)
	b.StopTimer()
	r.elapsed += time.Since(start)
	r.iters += n
	if len(progs) > 0 {
		r.measurePrograms(b, progs, op, n)
	}
}

func runHookOps(b *testing.B, op hookLoop, n int) {
	b.Helper()
	for range n {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// measurePrograms runs op n times with the kernel's BPF run-time statistics
// on and adds the programs' run time and runs.
func (r *hookResult) measurePrograms(b *testing.B, progs []*ebpf.Program, op hookLoop, n int) {
	b.Helper()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("no BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	before := hookProgramStats(b, progs)
	runHookOps(b, op, n)
	after := hookProgramStats(b, progs)
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
		info, err := p.Info()
		if err != nil {
			b.Fatalf("reading info of %s: %v", p, err)
		}
		total := r.perProg[info.Name]
		total.Runtime += d.Runtime
		total.RunCount += d.RunCount
		r.perProg[info.Name] = total
	}
}

// report reports <name>-ns/op and, when programs were measured,
// <name>-bpf-ns/op, <name>-runs/op and each program's mean run time
// (<program>-ns/run).
func (r *hookResult) report(b *testing.B, name string) {
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

func hookProgramStats(tb testing.TB, progs []*ebpf.Program) []ebpf.ProgramStats {
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

// hookBenchEnv is the environment the collectors are constructed with: a
// loader and a CRI client of no runtime (the drops collector asks it
// nothing until a scrape); its components are closed when tb ends.
func hookBenchEnv(tb testing.TB) exporter.Env {
	tb.Helper()
	self, err := selfmetrics.New("cni_exporter", prometheus.NewRegistry())
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
		Namespace: "cni",
		Self:      self,
	}.WithComponents(map[string]any{
		bpfload.ComponentName: loader,
		cri.ComponentName:     client,
	})
}

// emptyHooks is empty.bpf.c loaded, not attached.
type emptyHooks struct {
	coll *ebpf.Collection
}

// loadEmptyHooks loads empty.bpf.c until tb ends.
func loadEmptyHooks(tb testing.TB) emptyHooks {
	tb.Helper()
	spec, err := loadEmpty()
	if err != nil {
		tb.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		tb.Fatalf("loading empty programs: %v", err)
	}
	tb.Cleanup(coll.Close)
	return emptyHooks{coll}
}

// attachEmptyHooks attaches the empty (tp_btf) programs named and returns
// them with a function that detaches them.
func attachEmptyHooks(tb testing.TB, e emptyHooks, names []string) ([]*ebpf.Program, func() error) {
	tb.Helper()
	var progs []*ebpf.Program
	var links []link.Link
	detach := func() error {
		var errs []error
		for _, l := range links {
			errs = append(errs, l.Close())
		}
		return errors.Join(errs...)
	}
	for _, name := range names {
		prog := e.coll.Programs[name]
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			detach()
			tb.Fatalf("attaching %s: %v", name, err)
		}
		links = append(links, l)
		progs = append(progs, prog)
	}
	return progs, detach
}

// hookProgramsOf returns the programs a collector attached.
func hookProgramsOf(tb testing.TB, c exporter.Collector) []*ebpf.Program {
	tb.Helper()
	var set *bpfload.Set
	switch c := c.(type) {
	case *pluginsCollector:
		set = c.set
	case *dropsCollector:
		set = c.set
	default:
		tb.Fatalf("no programs known for %T", c)
	}
	var progs []*ebpf.Program
	for _, name := range set.Programs() {
		progs = append(progs, set.Program(name))
	}
	return progs
}

func execHookLoop(tb testing.TB) hookLoop {
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
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return fmt.Errorf("waiting for %d: %w", pid, err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("child %d ended with status %#x", pid, ws)
		}
		return nil
	}
}

// dropHookLoop sends one datagram per iteration from an unconnected UDP
// socket to a port of 127.0.0.1 bound and closed just before, so that no
// socket has it.
func dropHookLoop(tb testing.TB) hookLoop {
	tb.Helper()
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	payload := []byte{0}
	return func() error {
		if err := unix.Sendto(fd, payload, 0, to); err != nil {
			return fmt.Errorf("sending to 127.0.0.1:%d: %w", port, err)
		}
		return nil
	}
}
