package main

// End-to-end tests of the real kernel_exporter binary: TestMain builds it
// once, and each test runs it as a child process on a free loopback port,
// scrapes it over HTTP and stops it with a signal, as an operator would
// (internal/exportertest). Tests that load BPF programs skip unless they run
// as root.

import (
	"os"
	"slices"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// binary is the path of the kernel_exporter that TestMain builds; it is set
// once, before any test runs.
var binary string

func TestMain(m *testing.M) {
	exportertest.Main(m, ".", &binary)
}

// watcher names the workload resolver's cgroup watcher, which loads BPF
// programs whichever collectors run.
const watcher = "workload"

// bpfPrograms returns the BPF programs (C function names) that each part of
// the exporter loads and attaches: each collector, by name, and the watcher.
// block and sched choose their programs by what the kernel offers: on a
// kernel whose BTF the exporter sees (btf; the test hosts' kernels keep
// CONFIG_SCHED_INFO and name RQF_STATS), the kernel's own request and
// run-queue times; without, classic tracepoints and wakeup hooks.
func bpfPrograms(btf bool) map[string][]string {
	block := []string{"block_rq_complete", "block_rq_issue"}
	sched := []string{"sched_switch", "sched_wakeup", "sched_wakeup_new"}
	if btf {
		block = []string{"block_rq_complete_btf", "block_rq_issue_btf"}
		sched = []string{"sched_switch_queued"}
	}
	return map[string][]string{
		"block":   block,
		"oom":     {"oom_mark_victim"},
		"process": {"process_exec", "process_exit", "process_fork"},
		"sched":   sched,
		"tcp":     {"tcp_receive_reset", "tcp_retransmit", "tcp_send_reset", "tcp_set_state"},
		watcher:   {"cgroup_mkdir", "cgroup_rmdir"},
	}
}

// hostBTF reports whether this host's kernel has BTF.
func hostBTF() bool {
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	return err == nil
}

// allCollectors returns the collector names, sorted.
func allCollectors() []string {
	var names []string
	for name := range bpfPrograms(false) {
		if name != watcher {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// attachedPrograms returns kernel_exporter_bpf_program_attached as it reads once the
// parts named in attached have loaded and those named in failed have failed
// to, with the kernel's BTF seen or not (btf).
func attachedPrograms(btf bool, attached, failed []string) map[string]float64 {
	want := map[string]float64{}
	for name, progs := range bpfPrograms(btf) {
		for _, p := range progs {
			switch {
			case slices.Contains(attached, name):
				want[p] = 1
			case slices.Contains(failed, name):
				want[p] = 0
			}
		}
	}
	return want
}

// allSucceed is kernel_scrape_collector_success when every collector named
// is ready.
func allSucceed(collectors ...string) map[string]float64 {
	want := make(map[string]float64, len(collectors))
	for _, c := range collectors {
		want[c] = 1
	}
	return want
}

// waitReady waits until every collector named is ready and has attached its
// programs, as has the watcher, and returns that scrape.
func waitReady(t *testing.T, p *exportertest.Process, collectors ...string) map[string]*dto.MetricFamily {
	t.Helper()
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", allSucceed(collectors...))
	return p.WaitForMetric(t, "kernel_exporter_bpf_program_attached", "program",
		attachedPrograms(hostBTF(), append([]string{watcher}, collectors...), nil))
}
