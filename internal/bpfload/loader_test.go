package bpfload

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

func newLoader(t *testing.T) (*Loader, *prometheus.Registry) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs and maps needs root")
	}
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New("kernel_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { self.Shutdown(t.Context()) })
	l, err := NewLoader(self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l, reg
}

func noop(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SocketFilter,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("loading socket filter: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

func TestProgramAttachedAndMapEntries(t *testing.T) {
	l, reg := newLoader(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l.ProgramAttached("handle_exec", true)
	l.ProgramAttached("handle_exit", true)
	l.ProgramAttached("handle_exit", false)
	l.MapEntries("exits", m, 10)
	l.MapEntries("exits", m, 12)
	want := `
# HELP kernel_exporter_bpf_program_attached Whether the BPF program is attached (1) or not (0).
# TYPE kernel_exporter_bpf_program_attached gauge
kernel_exporter_bpf_program_attached{program="handle_exec"} 1
kernel_exporter_bpf_program_attached{program="handle_exit"} 0
# HELP kernel_exporter_bpf_map_entries Number of entries in the BPF map.
# TYPE kernel_exporter_bpf_map_entries gauge
kernel_exporter_bpf_map_entries{map="exits"} 12
# HELP kernel_exporter_bpf_map_max_entries Maximum number of entries of the BPF map.
# TYPE kernel_exporter_bpf_map_max_entries gauge
kernel_exporter_bpf_map_max_entries{map="exits"} 1024
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// A watched program reports its recursion misses always, and its runs and
// run time exactly while statistics are on.
func TestWatchedProgramStatistics(t *testing.T) {
	l, reg := newLoader(t)
	prog := noop(t)
	stop := l.watchProgram("noop", prog)
	if got := gauge(t, reg, "kernel_exporter_bpf_program_recursion_misses_total", "noop"); got != 0 {
		t.Errorf("recursion misses of a program run by nobody = %v, want 0", got)
	}
	if !sysctlStatsEnabled() {
		if n := programSeries(t, reg); n != 0 {
			t.Errorf("with statistics off: %d run series, want 0", n)
		}
	}
	if err := l.EnableStats(); err != nil {
		t.Fatalf("EnableStats: %v", err)
	}
	const n = 5
	for range n {
		if _, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
			t.Fatalf("running program: %v", err)
		}
	}
	if got := gauge(t, reg, "kernel_exporter_bpf_program_runs_total", "noop"); got != n {
		t.Errorf("runs = %v, want %d", got, n)
	}
	if got := gauge(t, reg, "kernel_exporter_bpf_program_run_seconds_total", "noop"); got <= 0 || got > 1 {
		t.Errorf("run seconds = %v, want in (0, 1]", got)
	}
	stop()
	if n := programSeries(t, reg); n != 0 {
		t.Errorf("after stop: %d run series, want 0", n)
	}
}

func programSeries(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	n, err := testutil.GatherAndCount(g, "kernel_exporter_bpf_program_runs_total", "kernel_exporter_bpf_program_run_seconds_total")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gauge returns the value of name{program} or fails the test.
func gauge(t *testing.T, g prometheus.Gatherer, name, program string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "program") == program {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{program=%q}", name, program)
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// What cilium/ebpf says the host cannot support becomes
// errors.ErrUnsupported, which the scaffold does not retry; other errors
// stay as they are.
func TestMarkUnsupported(t *testing.T) {
	notSupported := fmt.Errorf("attaching tcx: %w", ebpf.ErrNotSupported)
	if err := markUnsupported(notSupported); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, ebpf.ErrNotSupported) {
		t.Errorf("markUnsupported(%v) = %v, want both sentinels", notSupported, err)
	}
	denied := errors.New("operation not permitted")
	if err := markUnsupported(denied); err != denied {
		t.Errorf("markUnsupported(%v) = %v, want it unchanged", denied, err)
	}
	if err := markUnsupported(nil); err != nil {
		t.Errorf("markUnsupported(nil) = %v", err)
	}
}

func TestMarkUnsupportedKeepsTheMessage(t *testing.T) {
	err := fmt.Errorf("kernel BTF: %w", ebpf.ErrNotSupported)
	if got := markUnsupported(err).Error(); got != err.Error() {
		t.Errorf("message %q, want %q", got, err.Error())
	}
}
