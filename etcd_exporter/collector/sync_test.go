package collector

import (
	"context"
	"fmt"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/cilium/ebpf"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// syncerEnv makes the test binary a syncer: it waits for a byte on stdin,
// then calls fsync, fdatasync and sync_file_range $syncerEnv times each on
// a file of its own and exits.
const syncerEnv = "ETCD_EXPORTER_TEST_SYNCER"

func TestMain(m *testing.M) {
	if n, ok := os.LookupEnv(syncerEnv); ok {
		os.Exit(syncer(n))
	}
	os.Exit(m.Run())
}

func syncer(count string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		return 2
	}
	f, err := os.CreateTemp("", "syncer-")
	if err != nil {
		return 3
	}
	defer os.Remove(f.Name())
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return 4
	}
	fd := int(f.Fd())
	for range n {
		f.Write([]byte("x"))
		if unix.Fsync(fd) != nil || unix.Fdatasync(fd) != nil || unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE) != nil {
			return 5
		}
	}
	return 0
}

// syncOfPidFile runs a sync collector that measures the pid in pidFile.
func syncOfPidFile(t *testing.T, pidFile string) *Sync {
	t.Helper()
	return syncOf(t, SyncTarget{PidFile: pidFile, ProcRoot: "/proc"})
}

// syncOf runs a sync collector that measures target.
func syncOf(t *testing.T, target SyncTarget) *Sync {
	t.Helper()
	s := newSyncOf(t, target)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sync collector's Run: %v", err)
		}
	})
	return s
}

// newSyncOf makes a sync collector that measures target, without running
// it; it is closed when the test ends.
func newSyncOf(t *testing.T, target SyncTarget) *Sync {
	t.Helper()
	testenv.RequireRoot(t)
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New("etcd_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { self.Shutdown(context.Background()) })
	loader, err := bpfload.NewLoader(self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.Close() })
	env := exporter.Env{Name: "sync", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Namespace: "etcd", Self: self}.
		WithComponents(map[string]any{bpfload.ComponentName: loader})
	s, err := NewSync(context.Background(), env, target, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("constructing sync collector: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return s
}

func writePid(t *testing.T, path string, pid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncCounts returns the sample count per syscall.
func syncCounts(fams map[string]*dto.MetricFamily) map[string]uint64 {
	out := map[string]uint64{}
	if f := fams["etcd_process_sync_duration_seconds"]; f != nil {
		for _, m := range f.Metric {
			out[exportertest.LabelValue(m, "syscall")] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func waitWatching(t *testing.T, s *Sync, n float64) {
	t.Helper()
	waitFor(t, s, func(fams map[string]*dto.MetricFamily) error {
		if got := exportertest.ByLabel(fams, "etcd_process_sync_processes", "")[""]; got != n {
			return fmt.Errorf("%g processes measured, want %g", got, n)
		}
		return nil
	})
}

// TestSyncCountsTheTargetOnly: a syncer process makes 40 calls of each
// sync syscall while the test process makes as many of its own; only the
// syncer's are counted, exactly, each with a latency.
func TestSyncCountsTheTargetOnly(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	writePid(t, pidFile, 1<<22) // no such process yet
	s := syncOfPidFile(t, pidFile)
	waitWatching(t, s, 0)

	const n = 40
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", syncerEnv, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	writePid(t, pidFile, cmd.Process.Pid)
	waitWatching(t, s, 1)
	stdin.Write([]byte{1})
	// The test process syncs too, meanwhile: not a target.
	f, err := os.CreateTemp(t.TempDir(), "own")
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		fd := int(f.Fd())
		if unix.Fsync(fd) != nil || unix.Fdatasync(fd) != nil || unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE) != nil {
			t.Fatal("own syncs failed")
		}
	}
	f.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("syncer: %v", err)
	}
	fams := gather(t, s)
	want := map[string]uint64{"fsync": n, "fdatasync": n, "sync_file_range": n}
	got := syncCounts(fams)
	// A call is not measured only when the kernel skipped one of its
	// programs (a recursion miss: another BPF program, or a bpf() map
	// operation of a process preempted on that CPU, held the CPU's BPF
	// guard): every call is either measured or missed, never lost silently.
	missed := syncMisses(t, s)
	for sc, w := range want {
		if got[sc] > w || got[sc]+missed[sc] < w {
			t.Errorf("%s: %d samples and %d recursion misses, want %d samples (less at most the misses)", sc, got[sc], missed[sc], w)
		}
	}
	// Nothing was lost for want of a row (sync_latency once held 64 rows:
	// spread latencies filled it).
	if lost, err := maps.ReadLost(s.objs.LostEvents); err != nil || slices.ContainsFunc(lost, func(n uint64) bool { return n != 0 }) {
		t.Errorf("lost events %v (%v), want none", lost, err)
	}
	// The syncer wrote one byte before each sync, to a file in /tmp.
	if got, want := exportertest.ByLabel(fams, "etcd_process_write_bytes_total", "file"), map[string]float64{"wal": 0, "snap": 0, "db": 0, "other": n}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bytes written %v, want %v", got, want)
	}
	for _, m := range fams["etcd_process_sync_duration_seconds"].Metric {
		if h := m.GetHistogram(); h.GetSampleSum() <= 0 || h.GetSchema() != 3 {
			t.Errorf("%s: sum %g, schema %d; want a positive sum of native schema 3", exportertest.LabelValue(m, "syscall"), h.GetSampleSum(), h.GetSchema())
		}
	}
}

// TestSyncOfRealEtcd: 50 puts committed one after another by a real etcd
// each make it sync its write-ahead log at least once.
func TestSyncOfRealEtcd(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	pidFile := filepath.Join(t.TempDir(), "pid")
	writePid(t, pidFile, e.Pid())
	s := syncOfPidFile(t, pidFile)
	waitWatching(t, s, 1)
	fams := gather(t, s)
	before, walBefore := syncCounts(fams), exportertest.ByLabel(fams, "etcd_process_write_bytes_total", "file")["wal"]
	cli := e.Client(t)
	const n = 50
	for i := range n {
		put(t, cli, fmt.Sprintf("/registry/pods/ns/p-%d", i), 100)
	}
	fams = gather(t, s)
	after, walAfter := syncCounts(fams), exportertest.ByLabel(fams, "etcd_process_write_bytes_total", "file")["wal"]
	synced := after["fsync"] + after["fdatasync"] - before["fsync"] - before["fdatasync"]
	if synced < n {
		t.Errorf("%d fsync/fdatasync samples for %d committed puts, want at least one each (before %v, after %v)", synced, n, before, after)
	}
	t.Logf("%d puts: samples before %v, after %v; %g WAL bytes", n, before, after, walAfter-walBefore)
	// Each put's WAL record holds its key (20 bytes) and value (100).
	if wal := walAfter - walBefore; wal < n*120 || wal > n*1024 {
		t.Errorf("%g bytes written to the WAL for %d puts of 120 bytes, want between %d and %d", wal, n, n*120, n*1024)
	}
}

// startSyncer starts a syncer of n calls of each sync syscall, inside the
// cgroup v2 directory cgroupDir unless empty; writing to the returned pipe
// lets it go.
func startSyncer(t *testing.T, n int, cgroupDir string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", syncerEnv, n))
	if cgroupDir != "" {
		fd, err := unix.Open(cgroupDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stdin
}

// TestSyncOfCgroup: the sync collector of a cgroup (--collector.sync.cgroup)
// measures every process in it, re-read at each refresh: a real etcd
// started inside it syncs for its puts; a syncer started inside it later
// is added and its calls counted exactly, while the calls of a syncer
// outside the cgroup, made at the same time, are not counted; once the
// inner syncer exited, only etcd is measured again.
func TestSyncOfCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.NewCgroup(t)
	e := etcdtest.Start(t, etcdtest.Options{CgroupDir: cg.V2Dir})
	s := syncOf(t, SyncTarget{Cgroup: cg.V2Dir, ProcRoot: "/proc"})
	waitWatching(t, s, 1)

	before := syncCounts(gather(t, s))
	cli := e.Client(t)
	const puts = 30
	for i := range puts {
		put(t, cli, fmt.Sprintf("/registry/pods/ns/p-%d", i), 100)
	}
	after := syncCounts(gather(t, s))
	if synced := after["fsync"] + after["fdatasync"] - before["fsync"] - before["fdatasync"]; synced < puts {
		t.Errorf("%d fsync/fdatasync samples of the etcd in the cgroup for %d committed puts, want at least one each", synced, puts)
	}

	const n = 25
	inner, goInner := startSyncer(t, n, cg.V2Dir)
	outer, goOuter := startSyncer(t, 3*n, "")
	waitWatching(t, s, 2)
	before = syncCounts(gather(t, s))
	goOuter.Write([]byte{1})
	goInner.Write([]byte{1})
	if err := inner.Wait(); err != nil {
		t.Fatalf("inner syncer: %v", err)
	}
	if err := outer.Wait(); err != nil {
		t.Fatalf("outer syncer: %v", err)
	}
	after = syncCounts(gather(t, s))
	// etcd itself calls only fdatasync (its WAL and bbolt), and may still
	// commit meanwhile: fsync and sync_file_range are the inner syncer's
	// alone, exactly; fdatasync holds its n and at most a few of etcd's,
	// never the outer syncer's 3n.
	for _, sc := range []string{"fsync", "sync_file_range"} {
		if got := after[sc] - before[sc]; got != n {
			t.Errorf("%s: %d samples, want %d (the inner syncer's only; before %v, after %v)", sc, got, n, before, after)
		}
	}
	if got := after["fdatasync"] - before["fdatasync"]; got < n || got >= 2*n {
		t.Errorf("fdatasync: %d samples, want the inner syncer's %d and a few of etcd's at most (before %v, after %v)", got, n, before, after)
	}
	waitWatching(t, s, 1)
}

// FuzzParsePids: cgroup.procs of any content parses to pids or an error,
// never a crash, and every pid parsed is positive.
func FuzzParsePids(f *testing.F) {
	for _, s := range []string{"", "1\n", "12\n345\n", "0\n7\n", "x\n", "-1\n", "4194305\n", " 9 \n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pids, err := parsePids(s)
		if err != nil {
			return
		}
		for _, p := range pids {
			if p == 0 || p > 1<<22 {
				t.Fatalf("%q: pid %d", s, p)
			}
		}
	})
}

// TestParsePids: one pid a line, 0 (another pid namespace's) left out.
func TestParsePids(t *testing.T) {
	got, err := parsePids("12\n0\n345\n\n")
	if err != nil || fmt.Sprint(got) != "[12 345]" {
		t.Errorf("got %v, %v; want [12 345]", got, err)
	}
	if _, err := parsePids("12\nx\n"); err == nil {
		t.Error("garbage line parsed")
	}
}

// syncMisses returns, per syscall, the recursion misses of its enter and
// exit programs.
func syncMisses(t *testing.T, s *Sync) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for sc, progs := range map[string][]*ebpf.Program{
		"fsync":           {s.objs.SyncEnterFsync, s.objs.SyncExitFsync},
		"fdatasync":       {s.objs.SyncEnterFdatasync, s.objs.SyncExitFdatasync},
		"sync_file_range": {s.objs.SyncEnterSyncFileRange, s.objs.SyncExitSyncFileRange},
	} {
		for _, p := range progs {
			st, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			out[sc] += st.RecursionMisses
		}
	}
	return out
}
