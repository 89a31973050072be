package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
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
	"github.com/bpfleet/bpfleet/internal/workload"
)

// Per-hook cost benchmarks. Each runs one tight user-space loop three ways:
// with nothing attached (none), with the do-nothing programs of
// bpf/kernel/empty.bpf.c on the collector's hooks (empty), and with the
// collector itself, built by its real constructor (collector). The budget
// (DESIGN.md, "Performance budgets") is
//
//	(collector − none) / (empty − none) ≤ 2
//
// in ns/op. Timings drift on a shared machine by more than these programs
// cost, so the three configurations run interleaved, in hookRounds rounds
// of b.N/hookRounds iterations each, in the order none, empty, collector and
// then backwards (which cancels a linear drift), and each reports its own
// <config>-ns/op. After each timed run of empty and collector, an untimed
// run of as many iterations with the kernel's BPF run-time statistics on
// measures the time spent inside the programs (<config>-bpf-ns/op) and the
// program runs per iteration (runs/op): that separates the programs' own
// cost from the noise of the loop. Statistics cost every program run two
// clock reads, which is why the timed runs go without. BENCHMARKS.md has the
// commands and results.

// hookRounds is the number of interleaved rounds; even, so that each
// configuration runs as often early as late.
const hookRounds = 6

// loop is one iteration of a benchmark workload.
type loop func() error

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

// hookBench measures a loop made by newLoop under the three configurations,
// on the hooks of emptyProgs and of the collector newCollector.
func hookBench(b *testing.B, newCollector exporter.New, emptyProgs []string, newLoop func(testing.TB) loop) {
	testenv.RequireRoot(b)
	b.StopTimer()
	op := newLoop(b)
	env := benchEnv(b)
	empty := loadEmptySet(b)
	configs := []hookConfig{
		{"none", func() ([]*ebpf.Program, func() error) { return nil, func() error { return nil } }},
		{"empty", func() ([]*ebpf.Program, func() error) { return attachEmpty(b, empty, emptyProgs) }},
		{"collector", func() ([]*ebpf.Program, func() error) {
			c, err := newCollector(context.Background(), env)
			if err != nil {
				b.Fatalf("constructing collector: %v", err)
			}
			return programsOf(b, c), c.(io.Closer).Close
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
	}
}

// run attaches cfg, times n iterations of op, then, if cfg attached
// programs, runs n more with statistics on and detaches.
func (r *hookResult) run(b *testing.B, cfg hookConfig, op loop, n int) {
	b.Helper()
	progs, detach := cfg.attach()
	defer func() {
		if err := detach(); err != nil {
			b.Errorf("detaching %s: %v", cfg.name, err)
		}
	}()
	start := time.Now()
	b.StartTimer()
	runOps(b, op, n)
	b.StopTimer()
	r.elapsed += time.Since(start)
	r.iters += n
	if len(progs) > 0 {
		r.measurePrograms(b, progs, op, n)
	}
}

func runOps(b *testing.B, op loop, n int) {
	b.Helper()
	for range n {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// measurePrograms runs op n times with the kernel's BPF run-time statistics
// on and adds the programs' run time and runs.
func (r *hookResult) measurePrograms(b *testing.B, progs []*ebpf.Program, op loop, n int) {
	b.Helper()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Logf("no BPF run-time statistics: %v", err)
		return
	}
	defer stats.Close()
	before := programStats(b, progs)
	runOps(b, op, n)
	after := programStats(b, progs)
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
		name := programName(b, p)
		total := r.perProg[name]
		total.Runtime += d.Runtime
		total.RunCount += d.RunCount
		r.perProg[name] = total
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

func programStats(tb testing.TB, progs []*ebpf.Program) []ebpf.ProgramStats {
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

func programName(tb testing.TB, p *ebpf.Program) string {
	tb.Helper()
	info, err := p.Info()
	if err != nil {
		tb.Fatalf("reading info of %s: %v", p, err)
	}
	return info.Name
}

// benchEnv is the environment collectors are constructed with, as
// collectortest builds it (without the cgroup watcher); its components are
// closed when tb ends.
func benchEnv(tb testing.TB) exporter.Env {
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
	resolver, err := workload.NewResolver(workload.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resolver.Close() })
	return exporter.Env{
		Name:      "bench",
		Logger:    slog.New(slog.DiscardHandler),
		Namespace: namespace,
		Self:      self,
	}.WithComponents(map[string]any{
		bpfload.ComponentName:  loader,
		cri.ComponentName:      client,
		workload.ComponentName: resolver,
	})
}

// emptySet is empty.bpf.c loaded, not attached.
type emptySet struct {
	spec *ebpf.CollectionSpec
	coll *ebpf.Collection
}

// loadEmptySet loads empty.bpf.c until tb ends.
func loadEmptySet(tb testing.TB) emptySet {
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
	return emptySet{spec, coll}
}

// attachEmpty attaches the empty programs named and returns them with a
// function that detaches them.
func attachEmpty(tb testing.TB, e emptySet, names []string) ([]*ebpf.Program, func() error) {
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
		l, err := attachSection(e.spec.Programs[name].SectionName, prog)
		if err != nil {
			detach()
			tb.Fatalf("attaching %s: %v", name, err)
		}
		links = append(links, l)
		progs = append(progs, prog)
	}
	return progs, detach
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

// programsOf returns the programs a collector attached.
func programsOf(tb testing.TB, c exporter.Collector) []*ebpf.Program {
	tb.Helper()
	var set *bpfload.Set
	switch c := c.(type) {
	case *processCollector:
		set = c.set
	case *schedCollector:
		set = c.set
	case *tcpCollector:
		set = c.set
	case *blockCollector:
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

// BenchmarkHookExec: vfork + exec of /bin/true + wait; each iteration is one
// sched_process_fork, one sched_process_exec and one sched_process_exit.
func BenchmarkHookExec(b *testing.B) {
	hookBench(b, newProcess, []string{emptyProgEmptyExec, emptyProgEmptyFork, emptyProgEmptyExit}, execLoop)
}

// BenchmarkHookFork: vfork of a child that exits at once + wait; each
// iteration is one sched_process_fork and one sched_process_exit.
func BenchmarkHookFork(b *testing.B) {
	hookBench(b, newProcess, []string{emptyProgEmptyExec, emptyProgEmptyFork, emptyProgEmptyExit}, forkLoop)
}

// BenchmarkHookConnect: a TCP connect and accept over 127.0.0.1, closed
// with a reset; each iteration is several inet_sock_set_state events, one
// reset sent and one received.
func BenchmarkHookConnect(b *testing.B) {
	hookBench(b, newTCP, []string{emptyProgEmptySetState, emptyProgEmptyRetransmit,
		emptyProgEmptySendReset, emptyProgEmptyReceiveReset}, connectLoop)
}

// BenchmarkHookWakeup: two threads ping-pong a byte over pipes; each
// iteration is two wakeups and at least two context switches. The empty
// programs sit on the hooks of the design the collector chooses: only
// sched_switch where the kernel keeps its run-queue statistics.
func BenchmarkHookWakeup(b *testing.B) {
	if !schedInfoLive() {
		b.Skip("the kernel keeps no run-queue statistics: BenchmarkHookWakeupFallback measures the design used")
	}
	hookBench(b, newSched, []string{emptyProgEmptySwitch}, pingPongLoop)
}

// BenchmarkHookWakeupFallback is BenchmarkHookWakeup with the wakeup design
// forced (task storage, three hooks).
func BenchmarkHookWakeupFallback(b *testing.B) {
	force(b, &schedInfoLive, func() bool { return false })
	hookBench(b, newSched, []string{emptyProgEmptyWakeup, emptyProgEmptyWakeupNew, emptyProgEmptySwitch}, pingPongLoop)
}

// BenchmarkHookBlockWrite: synchronous O_DIRECT 4 KiB overwrites of a file
// on the disk holding the package; each iteration is one block_rq_issue and
// one block_rq_complete, here on the tp_btf hooks of the BTF design.
func BenchmarkHookBlockWrite(b *testing.B) {
	if _, _, ok := blockStatsBits(); !ok {
		b.Skip("no kernel BTF for the block requests: BenchmarkHookBlockWriteClassic measures the design used")
	}
	hookBench(b, newBlock, []string{emptyProgEmptyBlockIssueBtf, emptyProgEmptyBlockCompleteBtf}, directWriteLoop)
}

// BenchmarkHookBlockWriteClassic is BenchmarkHookBlockWrite with the classic
// tracepoint design forced.
func BenchmarkHookBlockWriteClassic(b *testing.B) {
	force(b, &blockStatsBits, func() (uint32, uint32, bool) { return 0, 0, false })
	hookBench(b, newBlock, []string{emptyProgEmptyBlockIssue, emptyProgEmptyBlockComplete}, directWriteLoop)
}

// force sets *v to f until tb ends.
func force[T any](tb testing.TB, v *T, f T) {
	tb.Helper()
	old := *v
	*v = f
	tb.Cleanup(func() { *v = old })
}

// execLoop runs /bin/true. syscall.ForkExec clones with CLONE_VFORK|CLONE_VM.
func execLoop(tb testing.TB) loop {
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
		return wait(pid)
	}
}

func wait(pid int) error {
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("waiting for %d: %w", pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("child %d ended with status %#x", pid, ws)
	}
	return nil
}

func forkLoop(testing.TB) loop {
	return func() error {
		pid, err := vforkExit()
		if err != nil {
			return fmt.Errorf("vfork: %w", err)
		}
		return wait(pid)
	}
}

// vforkExit starts a child that exits with status 0 at once. The child
// shares the caller's memory and stack, and the caller sleeps until it
// exits, as in syscall.forkAndExecInChild: nothing may run in the child
// but the exit system call, hence no stack split.
//
//go:nosplit
func vforkExit() (int, error) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE,
		syscall.CLONE_VFORK|syscall.CLONE_VM|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(pid), nil
}

// connectLoop connects to a listener on 127.0.0.1 and accepts, on blocking
// sockets in one thread: over loopback the handshake completes inside
// connect. The client closes with a reset (SO_LINGER 0) so that no
// TIME_WAIT socket is left behind and a long loop never runs out of ports.
func connectLoop(tb testing.TB) loop {
	tb.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(ln) })
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(ln, 128); err != nil {
		tb.Fatal(err)
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		tb.Fatal(err)
	}
	return func() error {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(c)
		if err := unix.SetsockoptLinger(c, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
			return err
		}
		if err := unix.Connect(c, addr); err != nil {
			return fmt.Errorf("connecting: %w", err)
		}
		a, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if err != nil {
			return fmt.Errorf("accepting: %w", err)
		}
		return unix.Close(a)
	}
}

// pingPongLoop sends a byte to an echoing thread and reads it back, over
// blocking pipes, with both goroutines locked to their threads so that each
// hand-over is a wakeup and a context switch in the kernel, not in the Go
// scheduler.
func pingPongLoop(tb testing.TB) loop {
	tb.Helper()
	var ping, pong [2]int
	if err := unix.Pipe2(ping[:], unix.O_CLOEXEC); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Pipe2(pong[:], unix.O_CLOEXEC); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 1)
		for {
			if n, err := unix.Read(ping[0], buf); n != 1 || err != nil {
				return // ping's write end closed: the benchmark is over
			}
			if _, err := unix.Write(pong[1], buf); err != nil {
				return
			}
		}
	}()
	runtime.LockOSThread()
	tb.Cleanup(func() {
		runtime.UnlockOSThread()
		unix.Close(ping[1])
		<-done
		unix.Close(ping[0])
		unix.Close(pong[0])
		unix.Close(pong[1])
	})
	buf := []byte{1}
	return func() error {
		if _, err := unix.Write(ping[1], buf); err != nil {
			return fmt.Errorf("writing ping: %w", err)
		}
		if n, err := unix.Read(pong[0], buf); n != 1 || err != nil {
			return fmt.Errorf("reading pong: %d bytes: %w", n, err)
		}
		return nil
	}
}

// directWriteLoop overwrites one of 256 allocated 4 KiB blocks of a file
// with O_DIRECT, round robin: no allocation, no journal, one request each.
func directWriteLoop(tb testing.TB) loop {
	tb.Helper()
	const blocks = 256
	dir, err := os.MkdirTemp(".", "bench-block-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	fd, err := unix.Open(filepath.Join(dir, "data"), unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		tb.Skipf("O_DIRECT not supported here: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	buf := alignedBlock(4096)
	for i := range blocks {
		if _, err := unix.Pwrite(fd, buf, int64(i)*4096); err != nil {
			tb.Fatal(err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		tb.Fatal(err)
	}
	i := 0
	return func() error {
		_, err := unix.Pwrite(fd, buf, int64(i%blocks)*4096)
		i++
		return err
	}
}
