package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/hookbench"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// Per-hook cost benchmarks (internal/hookbench): each runs one tight
// user-space loop with nothing attached, with the do-nothing programs of
// bpf/kernel/empty.bpf.c on the collector's hooks, with the counting floor
// of bpf/hookbench/floor.bpf.c on the same hooks, and with the collector
// built by its real constructor, interleaved. BENCHMARKS.md ("Per-event cost
// of the BPF programs") has the commands and results.

// loop is one iteration of a benchmark workload.
type loop = hookbench.Loop

// hookBench measures a loop made by newLoop on the hooks of emptyProgs and
// of the collector newCollector.
func hookBench(b *testing.B, newCollector exporter.New, emptyProgs []string, newLoop func(testing.TB) loop) {
	testenv.RequireRoot(b)
	b.StopTimer() // setting up is not measured
	op := newLoop(b)
	hookbench.Run(b, hookbench.Bench{
		Env:       benchEnv(b),
		Collector: newCollector,
		Programs:  programsOf,
		Empty:     hookbench.LoadEmpty(b, loadEmpty),
		Hooks:     emptyProgs,
		Loop:      op,
	})
}

// benchEnv is the environment collectors are constructed with, as
// collectortest builds it (without the cgroup watcher); its components are
// closed when tb ends.
func benchEnv(tb testing.TB) exporter.Env {
	tb.Helper()
	env := hookbench.Env(tb, namespace)
	resolver, err := workload.NewResolver(workload.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resolver.Close() })
	return env.WithComponents(map[string]any{workload.ComponentName: resolver})
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
	return hookbench.SetPrograms(set)
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

// execLoop runs /bin/true: vfork + exec + wait.
func execLoop(tb testing.TB) loop { return hookbench.ExecLoop(tb) }

func forkLoop(testing.TB) loop {
	return func() error {
		pid, err := vforkExit()
		if err != nil {
			return fmt.Errorf("vfork: %w", err)
		}
		return hookbench.Wait(pid)
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
