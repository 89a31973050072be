package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// diskOf names the whole disk holding dir, as kernel_block_io_latency_seconds
// labels it.
func diskOf(tb testing.TB, dir string) string {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		tb.Fatal(err)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Join(sys, "..") // a partition: the disk is its parent
	}
	uevent, err := os.ReadFile(filepath.Join(sys, "uevent"))
	if err != nil {
		tb.Skipf("%s is not on a block device: %v", dir, err)
	}
	for _, line := range strings.Split(string(uevent), "\n") {
		if name, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return name
		}
	}
	tb.Fatalf("no DEVNAME in %s/uevent", sys)
	return ""
}

func TestBlockLatencyOfDirectWritesAndFsync(t *testing.T) {
	if _, _, ok := blockStatsBits(); !ok {
		t.Skip("no kernel BTF for the block requests: TestBlockLatencyClassicTracepoints covers the design used")
	}
	h := newHarness(t, "block")
	if progs := h.c.(*blockCollector).set.Programs(); !slices.Equal(progs, []string{blockProgBlockRqCompleteBtf, blockProgBlockRqIssueBtf}) {
		t.Fatalf("programs %v, want the BTF design's", progs)
	}
	testBlockDirectWrites(t, h)
}

// TestBlockLatencyIssueTable is the BTF design with the kernel's issue
// times ignored (stats bits no queue or request has), as on a queue that
// keeps no I/O statistics: every request goes through block_issued.
func TestBlockLatencyIssueTable(t *testing.T) {
	if _, _, ok := blockStatsBits(); !ok {
		t.Skip("no kernel BTF for the block requests")
	}
	force(t, &blockStatsBits, func() (uint32, uint32, bool) { return 63, 31, true })
	testBlockDirectWrites(t, newHarness(t, "block"))
}

// TestBlockLatencyClassicTracepoints is the classic tracepoint design,
// forced, as on a kernel without BTF.
func TestBlockLatencyClassicTracepoints(t *testing.T) {
	force(t, &blockStatsBits, func() (uint32, uint32, bool) { return 0, 0, false })
	h := newHarness(t, "block")
	if progs := h.c.(*blockCollector).set.Programs(); !slices.Equal(progs, []string{blockProgBlockRqComplete, blockProgBlockRqIssue}) {
		t.Fatalf("programs %v, want the classic design's", progs)
	}
	testBlockDirectWrites(t, h)
}

func testBlockDirectWrites(t *testing.T, h *harness) {
	dir, err := os.MkdirTemp(".", "block-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	disk := diskOf(t, dir)
	before := h.scrape()

	const writes = 64
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_WRONLY|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Skipf("O_DIRECT not supported here: %v", err)
	}
	defer f.Close()
	buf := alignedBlock(4096)
	for i := 0; i < writes; i++ {
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	after := h.scrape()

	name := "kernel_block_io_latency_seconds"
	// Each synchronous O_DIRECT write is its own request: it cannot merge
	// with the next one, which is not issued before it completes. Journal
	// and other writers on the disk only add to the count.
	got := after.histCount(name, "device", disk, "operation", "write") -
		before.histCount(name, "device", disk, "operation", "write")
	if got < writes {
		t.Errorf("write latency samples on %s: +%d, want at least +%d", disk, got, writes)
	}
	h2 := after.histogram(name, "device", disk, "operation", "write")
	if h2 == nil || h2.GetSampleSum() <= 0 {
		t.Fatalf("write histogram on %s: %v, want a positive sum", disk, h2)
	}
	if inf := h2.GetSampleCount(); classicCount(h2, 8) > inf {
		t.Errorf("classic bucket le=8 holds %d > count %d", classicCount(h2, 8), inf)
	}
}

// alignedBlock returns a size-byte buffer aligned for O_DIRECT.
func alignedBlock(size int) []byte {
	b := make([]byte, size+4096)
	off := 4096 - int(uintptr(unsafe.Pointer(&b[0]))&4095)
	if off == 4096 {
		off = 0
	}
	return b[off : off+size]
}
