package collector

import (
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/hookbench"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Per-hook cost benchmarks of the plugins and drops collectors, as
// kernel_exporter's BenchmarkHook* (internal/hookbench): one tight
// user-space loop runs with nothing attached, with the do-nothing programs
// of bpf/cni/empty.bpf.c on the collector's hooks, with the counting floor
// of bpf/hookbench/floor.bpf.c on the same hooks and with the collector
// built by its real constructor, interleaved. Every program measured must
// run at least once per iteration. BENCHMARKS.md ("cni hooks") has the
// command and results.

// BenchmarkHookCNIExec: vfork + exec of /bin/true + wait, outside the
// plugin directories (the common case on a node: most execs are no
// plugin's); each iteration is one sched_process_exec and one
// sched_process_exit.
func BenchmarkHookCNIExec(b *testing.B) {
	dir := b.TempDir()
	hookBench(b, pluginsCollectorOf(dir), []string{emptyProgEmptyExec, emptyProgEmptyExit}, hookbench.ExecLoop)
}

// BenchmarkHookCNIDrop: a UDP datagram sent to a closed port of 127.0.0.1,
// which the kernel frees with reason NO_SOCKET; each iteration is at least
// one kfree_skb.
func BenchmarkHookCNIDrop(b *testing.B) {
	hookBench(b, dropsCollectorOf, []string{emptyProgEmptyKfreeSkb}, dropHookLoop)
}

// hookBench measures a loop made by newLoop on the hooks of emptyProgs and
// of the collector newCollector. The collectors are constructed with a
// loader and a CRI client of no runtime (the drops collector asks it
// nothing until a scrape).
func hookBench(b *testing.B, newCollector exporter.New, emptyProgs []string, newLoop func(testing.TB) hookbench.Loop) {
	testenv.RequireRoot(b)
	b.StopTimer() // setting up is not measured
	op := newLoop(b)
	hookbench.Run(b, hookbench.Bench{
		Env:         hookbench.Env(b, "cni"),
		Collector:   newCollector,
		Programs:    hookProgramsOf,
		Empty:       hookbench.LoadEmpty(b, loadEmpty),
		Hooks:       emptyProgs,
		Loop:        op,
		RequireRuns: true,
	})
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
	return hookbench.SetPrograms(set)
}

// dropHookLoop sends one datagram per iteration from an unconnected UDP
// socket to a port of 127.0.0.1 bound and closed just before, so that no
// socket has it.
func dropHookLoop(tb testing.TB) hookbench.Loop {
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
