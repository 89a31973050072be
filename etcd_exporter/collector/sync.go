package collector

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// Defaults of the sync collector's flags.
const (
	DefaultSyncComm        = "etcd"
	DefaultRefreshInterval = time.Second
)

// fullSearchEvery: when the processes are found by command name, each
// refresh only checks that the ones found still run under that name (one
// read of /proc/<pid>/comm each); /proc is searched whole when one of them
// is gone, when none was found, and at least this often, for an etcd
// started beside them. A whole search reads the comm of every process on
// the host: every second, it was most of an idle exporter's CPU.
const fullSearchEvery = 30 * time.Second

// syncSyscalls names enum sync_syscall, the histogram's labels.
var syncSyscalls = map[syncSyncSyscall]string{
	syncSyncSyscallSYNC_FSYNC:      "fsync",
	syncSyncSyscallSYNC_FDATASYNC:  "fdatasync",
	syncSyncSyscallSYNC_FILE_RANGE: "sync_file_range",
}

// latencyOpts: the kernel measures nanoseconds in native buckets of
// histogram.KernelSchema; classic buckets from about 1µs (2^-20 s) to 8 s.
var latencyOpts = histogram.Opts{
	Schema:  histogram.KernelSchema,
	Scale:   1e-9,
	Classic: histogram.ClassicPowersOfTwo(-20, 3),
}

// SyncSpec is the sync collector: the latency of the etcd process's
// fsync, fdatasync and sync_file_range calls, measured and aggregated in
// the kernel (bpf/etcd/sync.bpf.c). It needs no etcd credentials.
var SyncSpec = exporter.Spec{
	Name:    "sync",
	Help:    "fsync, fdatasync and sync_file_range latency of the etcd process, from eBPF.",
	Default: true,
	Flags: func(fs *exporter.FlagSet) exporter.New {
		pidFile := fs.Flag("pid-file", "File holding the pid of the etcd process; empty finds it by --collector.sync.cgroup or --collector.sync.comm.").Default("").String()
		cgroup := fs.Flag("cgroup", "cgroup v2 path, relative to the cgroup v2 root, of the etcd member (e.g. its static pod's container): every process in it and its descendants is measured, when --collector.sync.pid-file is empty. Wins over --collector.sync.comm.").Default("").String()
		comm := fs.Flag("comm", "Command name (/proc/<pid>/comm) of the etcd processes, when --collector.sync.pid-file is empty.").Default(DefaultSyncComm).String()
		refresh := fs.Flag("refresh-interval", "Time between two checks of the etcd processes (a restarted etcd has a new pid). Found by --collector.sync.comm, a check reads the command name of the processes found, and all of /proc is searched again when one is gone or none was found, and every 30s.").Default(DefaultRefreshInterval.String()).Duration()
		fs.Validate(func() error {
			switch {
			case *pidFile == "" && *cgroup == "" && *comm == "":
				return errors.New("--collector.sync.comm: empty, and no --collector.sync.pid-file or --collector.sync.cgroup")
			case len(*comm) > 15:
				return fmt.Errorf("--collector.sync.comm: %q is longer than a kernel command name (15 bytes)", *comm)
			case *refresh <= 0:
				return fmt.Errorf("--collector.sync.refresh-interval: must be positive, got %s", *refresh)
			}
			return checkCgroupPath(*cgroup)
		})
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			target := SyncTarget{PidFile: *pidFile, Comm: *comm, ProcRoot: "/proc"}
			if *cgroup != "" && *pidFile == "" {
				root, err := cgroupV2Root()
				if err != nil {
					return nil, fmt.Errorf("--collector.sync.cgroup: %w", err)
				}
				target.Cgroup = filepath.Join(root, filepath.Clean("/"+*cgroup))
			}
			return NewSync(ctx, env, target, *refresh)
		}
	},
}

// SyncTarget says which processes the sync collector measures.
type SyncTarget struct {
	PidFile  string // a file holding one pid; wins over Cgroup and Comm
	Cgroup   string // else every process of this cgroup v2 directory and its descendants; wins over Comm
	Comm     string // else every process with this command name
	ProcRoot string // /proc
}

// checkCgroupPath refuses a --collector.sync.cgroup that leaves the cgroup
// v2 root.
func checkCgroupPath(p string) error {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("--collector.sync.cgroup: %q leaves the cgroup v2 root", p)
		}
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("--collector.sync.cgroup: %q holds a NUL byte", p)
	}
	return nil
}

// cgroupV2Root returns the cgroup v2 mount: /sys/fs/cgroup/unified on
// hybrid hosts, /sys/fs/cgroup on pure v2 ones.
func cgroupV2Root() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	return "", fmt.Errorf("no cgroup v2 hierarchy mounted: %w", errors.ErrUnsupported)
}

// cgroupPids returns the pids of every process in the cgroup directory dir
// and its descendants; a cgroup that does not exist (yet) has none.
func cgroupPids(dir string) ([]uint32, error) {
	var pids []uint32
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading cgroup: %w", err)
		}
		ps, err := parsePids(string(b))
		if err != nil {
			return fmt.Errorf("%s/cgroup.procs: %w", path, err)
		}
		pids = append(pids, ps...)
		return nil
	})
	return pids, err
}

// parsePids parses one pid a line (cgroup.procs); a pid of another pid
// namespace reads as 0 and is left out.
func parsePids(s string) ([]uint32, error) {
	var pids []uint32
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "0" {
			continue
		}
		pid, err := parsePid(line)
		if err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// byComm reports whether the target processes are found by command name.
func (t SyncTarget) byComm() bool { return t.PidFile == "" && t.Cgroup == "" }

// running reports whether every pid in pids is a process whose command
// name is still t.Comm: none gone, none reused by another program.
func (t SyncTarget) running(pids map[uint32]bool) bool {
	for pid := range pids {
		comm, err := os.ReadFile(filepath.Join(t.ProcRoot, strconv.FormatUint(uint64(pid), 10), "comm"))
		if err != nil || strings.TrimSuffix(string(comm), "\n") != t.Comm {
			return false
		}
	}
	return true
}

// Pids returns the pids of the target processes; none is not an error.
func (t SyncTarget) Pids() ([]uint32, error) {
	if t.PidFile != "" {
		b, err := os.ReadFile(t.PidFile)
		if err != nil {
			return nil, fmt.Errorf("reading pid file: %w", err)
		}
		pid, err := parsePid(string(b))
		if err != nil {
			return nil, fmt.Errorf("pid file %s: %w", t.PidFile, err)
		}
		if _, err := os.Stat(filepath.Join(t.ProcRoot, strconv.Itoa(int(pid)))); err != nil {
			return nil, nil // etcd is not running (yet)
		}
		return []uint32{pid}, nil
	}
	if t.Cgroup != "" {
		return cgroupPids(t.Cgroup)
	}
	dirs, err := os.ReadDir(t.ProcRoot)
	if err != nil {
		return nil, err
	}
	var pids []uint32
	for _, d := range dirs {
		pid, err := parsePid(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(t.ProcRoot, d.Name(), "comm"))
		if err == nil && strings.TrimSuffix(string(comm), "\n") == t.Comm {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// parsePid parses a positive pid, with surrounding white space.
func parsePid(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n == 0 || n > 1<<22 {
		return 0, fmt.Errorf("%q is not a pid", strings.TrimSpace(s))
	}
	return uint32(n), nil
}

// Sync is the sync collector.
type Sync struct {
	loader  *bpfload.Loader
	set     *bpfload.Set
	objs    syncObjects
	self    *selfmetrics.Metrics
	target  SyncTarget
	refresh time.Duration
	latency *prometheus.Desc

	mu      sync.Mutex
	watched map[uint32]bool
	// now is time.Now but in tests; searched is when /proc was last
	// searched whole (by command name), searches how often it was.
	now      func() time.Time
	searched time.Time
	searches int
	// written accounts write_bytes: each fd's bytes at the last scrape
	// and the totals per file kind, so that a counter never goes back
	// when an fd is closed and reused.
	written map[uint64]uint64
	byFile  map[string]uint64
}

// File kinds of etcd_process_write_bytes_total.
var fileKinds = []string{"wal", "snap", "db", "other"}

// fileKind names what an etcd file descriptor's target is, from its path
// (/proc/<pid>/fd/<fd>): the write-ahead log (member/wal/), the bbolt
// database (member/snap/db), snapshots (member/snap/) or other.
func fileKind(path string) string {
	switch {
	case strings.Contains(path, "/member/wal/"):
		return "wal"
	case strings.HasSuffix(path, "/member/snap/db"):
		return "db"
	case strings.Contains(path, "/member/snap/"):
		return "snap"
	}
	return "other"
}

// NewSync loads and attaches the sync programs; Run keeps their target
// pids current.
func NewSync(ctx context.Context, env exporter.Env, target SyncTarget, refresh time.Duration) (*Sync, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	spec, err := loadSync()
	if err != nil {
		return nil, fmt.Errorf("reading sync BPF spec: %w", err)
	}
	if err := setPidNamespace(spec); err != nil {
		return nil, err
	}
	s := &Sync{loader: loader, self: env.Self, target: target, refresh: refresh,
		latency: syncDuration.Desc(), watched: map[uint32]bool{}, now: time.Now,
		written: map[uint64]uint64{}, byFile: map[string]uint64{}}
	if s.set, err = loader.Load(spec, &s.objs); err != nil {
		return nil, err
	}
	if err := s.retarget(); err != nil {
		s.set.Close()
		return nil, err
	}
	return s, nil
}

// Run looks for the target processes every refresh interval.
func (s *Sync) Run(ctx context.Context) error {
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.retarget(); err != nil {
				return err
			}
		}
	}
}

// retarget writes the current target pids into sync_targets.
func (s *Sync) retarget() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target.byComm() {
		now := s.now()
		if len(s.watched) > 0 && now.Sub(s.searched) < fullSearchEvery && s.target.running(s.watched) {
			return nil
		}
		s.searched = now
		s.searches++
	}
	pids, err := s.target.Pids()
	if err != nil {
		return err
	}
	now := make(map[uint32]bool, len(pids))
	for _, pid := range pids {
		now[pid] = true
		if !s.watched[pid] {
			if err := s.objs.SyncTargets.Put(pid, uint8(1)); err != nil {
				return fmt.Errorf("adding pid %d: %w", pid, err)
			}
		}
	}
	for pid := range s.watched {
		if !now[pid] {
			if err := s.objs.SyncTargets.Delete(pid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("removing pid %d: %w", pid, err)
			}
		}
	}
	s.watched = now
	return nil
}

// Update serves the latency histograms, one per syscall (empty until the
// first call), and the number of processes measured.
func (s *Sync) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	rows, err := maps.ReadHistograms(s.objs.SyncLatency)
	if err != nil {
		return err
	}
	s.loader.MapEntries(syncMapSyncLatency, s.objs.SyncLatency, len(rows))
	bySyscall := make(map[syncSyncSyscall]*histogram.Series, len(syncSyscalls))
	for sc := range syncSyscalls {
		bySyscall[sc] = &histogram.Series{}
	}
	for k, v := range rows {
		if h, ok := bySyscall[syncSyncSyscall(k.Labels)]; ok {
			h.Add(k.Bucket, v.Count, v.Sum)
		}
	}
	for sc, h := range bySyscall {
		m, err := histogram.NewConstMetric(s.latency, h, latencyOpts, syncSyscalls[sc])
		if err != nil {
			return err
		}
		ch <- m
	}
	if err := s.accountWrites(); err != nil {
		return err
	}
	s.mu.Lock()
	n := len(s.watched)
	for _, kind := range fileKinds {
		ch <- prometheus.MustNewConstMetric(writeBytes.Desc(), prometheus.CounterValue, float64(s.byFile[kind]), kind)
	}
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(syncProcesses.Desc(), prometheus.GaugeValue, float64(n))
	return maps.ReportLost(s.self, "sync", s.objs.LostEvents)
}

// accountWrites adds each fd's bytes since the last scrape to the kind of
// file it refers to now, and forgets the fds that are closed. Bytes written
// to an fd that is closed (or reused) between two scrapes count under the
// kind it has at the scrape: other when closed.
func (s *Sync) accountWrites() error {
	rows, err := maps.ReadRows[uint64](s.objs.WriteBytes, func(a, b uint64) uint64 { return a + b })
	if err != nil {
		return err
	}
	s.loader.MapEntries(syncMapWriteBytes, s.objs.WriteBytes, len(rows))
	s.mu.Lock()
	defer s.mu.Unlock()
	var closed []uint64
	for key, bytes := range rows {
		pid, fd := key>>32, key&(1<<32-1)
		path, err := os.Readlink(filepath.Join(s.target.ProcRoot, strconv.FormatUint(pid, 10), "fd", strconv.FormatUint(fd, 10)))
		if err != nil {
			closed = append(closed, key)
		}
		s.byFile[fileKind(path)] += bytes - s.written[key]
		s.written[key] = bytes
	}
	for _, key := range closed {
		delete(s.written, key)
	}
	return maps.Delete(s.objs.WriteBytes, closed)
}

// Close detaches the programs and closes the maps.
func (s *Sync) Close() error { return s.set.Close() }

// setPidNamespace tells the programs the exporter's pid namespace, in
// which sync_targets' pids are numbered.
func setPidNamespace(spec *ebpf.CollectionSpec) error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return fmt.Errorf("pid namespace: %w", err)
	}
	// The kernel's dev_t is major<<20 | minor, not stat's encoding.
	dev := uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev))
	if err := spec.Variables["pidns_dev"].Set(dev); err != nil {
		return fmt.Errorf("setting pidns_dev: %w", err)
	}
	if err := spec.Variables["pidns_ino"].Set(st.Ino); err != nil {
		return fmt.Errorf("setting pidns_ino: %w", err)
	}
	return nil
}
