package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Every collector but block, and the watcher, attach tp_btf programs, which
// need the kernel's BTF; block falls back to classic tracepoints and no
// CO-RE without it. These
// tests run the exporter in a private mount namespace where the kernel's
// BTF, or a tracepoint's format file, is missing.

// btfCollectors are the collectors that cannot load without kernel BTF.
func btfCollectors() []string { return []string{"oom", "process", "sched", "tcp"} }

// startHiding runs the exporter with args in a mount namespace of its own
// where hide (a shell command) has hidden something from it, such as the
// kernel's BTF.
func startHiding(t *testing.T, hide string, args ...string) *exportertest.Process {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", hide + ` && exec "$0" "$@"`, binary}, exportertest.ListenArgs(args...)...)...)
	// Go makes the new namespace's mounts private, so hide's mount stays in it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return exportertest.StartCmd(t, cmd)
}

// degraded is kernel_scrape_collector_success with only block loaded: a
// collector that is off for good has no success series.
func degraded() map[string]float64 { return map[string]float64{"block": 1} }

// unsupported is kernel_exporter_collector_unsupported with only block
// supported.
func unsupported() map[string]float64 {
	return map[string]float64{"block": 0, "oom": 1, "process": 1, "sched": 1, "tcp": 1}
}

func TestServesBlockWithoutKernelBTF(t *testing.T) {
	testenv.RequireRoot(t)
	p := startHiding(t, "mount -t tmpfs bpfleet-no-btf /sys/kernel/btf")
	p.WaitForMetric(t, "kernel_exporter_collector_unsupported", "collector", unsupported())
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", degraded())
	p.WaitForMetric(t, "kernel_exporter_bpf_program_attached", "program",
		attachedPrograms(false, []string{"block"}, append(btfCollectors(), watcher)))
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := p.Get(t, path); r.Code != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, r.Code, r.Body)
		}
	}

	// A kernel without BTF cannot get it back: each such collector says so
	// once, naming the missing BTF, and is not retried.
	const stayOff = `msg="Not supported on this host; the collector stays off"`
	exportertest.Eventually(t, func() error {
		for _, c := range btfCollectors() {
			if n := len(exportertest.LogLines(p.Log(), stayOff, "collector="+c+" ", `err="kernel BTF (/sys/kernel/btf/vmlinux): `, "not supported")); n != 1 {
				return fmt.Errorf("%d lines say the %s collector cannot load its programs and stays off, want 1", n, c)
			}
		}
		return nil
	})
	offAt := time.Now()

	before := blockWrites(t, p)
	writeToDisk(t)
	exportertest.Eventually(t, func() error {
		if after := blockWrites(t, p); after <= before {
			return fmt.Errorf("kernel_block_io_latency_seconds counts %v writes after a direct write and fsync, %v before", after, before)
		}
		return nil
	})

	// The first retry would come within 1.5s (1s backoff, 50% jitter).
	time.Sleep(time.Until(offAt.Add(2 * time.Second)))
	for _, c := range btfCollectors() {
		if n := len(exportertest.LogLines(p.Log(), "collector="+c+" ", "level=")); n != 1 {
			t.Errorf("%d log lines about the %s collector, want 1: it must not be retried", n, c)
		}
	}
	if n := len(exportertest.LogLines(p.Log(), "collector=block ", "level=ERROR")); n != 0 {
		t.Errorf("%d error lines about the block collector, want 0", n)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestRetriesCollectorsThatFailToLoad hides the kernel's BTF, so that the
// block collector takes its classic tracepoint design, and the tracefs
// directory of block:block_rq_issue under an empty tmpfs in the exporter's
// mount namespace: the block collector cannot read the tracepoint's
// format, an error that a later attempt may not have (not "unsupported"),
// so it is retried with backoff while the exporter serves, and loads once
// the directory is back.
func TestRetriesCollectorsThatFailToLoad(t *testing.T) {
	testenv.RequireRoot(t)
	const issue = bpfload.TracefsPath + "/events/block/block_rq_issue"
	if _, err := os.Stat(issue + "/format"); err != nil {
		t.Skipf("tracefs not at %s: %v", bpfload.TracefsPath, err)
	}
	p := startHiding(t, "mount -t tmpfs bpfleet-no-btf /sys/kernel/btf && mount -t tmpfs bpfleet-no-format "+issue)
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", map[string]float64{"block": 0})
	p.WaitForMetric(t, "kernel_exporter_collector_unsupported", "collector", unsupported())

	const cannot = `msg="Cannot construct collector"`
	exportertest.Eventually(t, func() error {
		if n := len(exportertest.LogLines(p.Log(), cannot, "collector=block ", issue+"/format", "retry_in=")); n < 2 {
			return fmt.Errorf("%d lines say the block collector cannot read its tracepoint format and will be retried, want 2 or more", n)
		}
		return nil
	})
	if r := p.Get(t, "/healthz"); r.Code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", r.Code, r.Body)
	}

	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(p.Pid()), "-m", "umount", issue).CombinedOutput(); err != nil {
		t.Fatalf("uncovering %s in the exporter's mount namespace: %v\n%s", issue, err, out)
	}
	p.WaitForMetric(t, "kernel_scrape_collector_success", "collector", degraded())
	p.WaitForMetric(t, "kernel_exporter_bpf_program_attached", "program",
		attachedPrograms(false, []string{"block"}, append(btfCollectors(), watcher)))
	for _, c := range btfCollectors() {
		if n := len(exportertest.LogLines(p.Log(), "collector="+c+" ", "level=ERROR")); n != 0 {
			t.Errorf("%d error lines about the %s collector, want 0", n, c)
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// blockWrites returns the number of block write requests that
// kernel_block_io_latency_seconds has counted, over every device.
func blockWrites(t *testing.T, p *exportertest.Process) uint64 {
	t.Helper()
	fams, err := p.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	var writes uint64
	for _, m := range fams["kernel_block_io_latency_seconds"].GetMetric() {
		if exportertest.LabelValue(m, "operation") == "write" {
			writes += m.GetHistogram().GetSampleCount()
		}
	}
	return writes
}

// writeToDisk writes 1 MiB past the page cache and syncs it, in /var/tmp,
// which stays on disk where /tmp may be a tmpfs.
func writeToDisk(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "kernel_exporter-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "data"),
		"bs=64k", "count=16", "oflag=direct", "conv=fsync").CombinedOutput()
	if err != nil {
		t.Fatalf("dd: %v\n%s", err, out)
	}
}
