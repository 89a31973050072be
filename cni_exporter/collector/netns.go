package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// paths are where the host's processes and named network namespaces are.
type paths struct {
	proc      string   // procfs: /proc
	netnsDirs []string // bind mounts of network namespaces (ip netns, CNI runtimes)
}

// hostPaths returns the paths of the host the exporter runs on.
func hostPaths() paths {
	return paths{proc: "/proc", netnsDirs: []string{"/run/netns", "/var/run/netns"}}
}

// netnsCollector serves the network namespaces alive (a walk of procfs and
// the bind mount directories at each scrape) and those created (an
// in-kernel counter).
type netnsCollector struct {
	objs       netnsObjects
	set        *bpfload.Set
	env        exporter.Env
	paths      paths
	alive      *prometheus.Desc
	created    *prometheus.Desc
	unreadable *prometheus.Desc
	warned     bool // the last scrape found unreadable processes, and said so
}

// newNetns loads and attaches the syscall tracepoints of unshare, clone
// and clone3 (tracefs is mounted when missing). Close detaches them.
func newNetns(ctx context.Context, env exporter.Env, p paths) (*netnsCollector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	spec, err := loadNetns()
	if err != nil {
		return nil, err
	}
	c := &netnsCollector{env: env, paths: p, alive: networkNamespaces.Desc(), created: networkNamespacesCreated.Desc(),
		unreadable: netnsUnreadable.Desc()}
	if c.set, err = loader.Load(spec, &c.objs); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *netnsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	live, unreadable, err := liveNetns(c.paths)
	if err != nil {
		return err
	}
	if unreadable > 0 && !c.warned {
		c.env.Logger.Warn("Cannot read the network namespace of some processes: cni_network_namespaces misses theirs; "+
			"the exporter needs CAP_SYS_PTRACE and the host's PID namespace (hostPID: true)", "processes", unreadable)
	}
	c.warned = unreadable > 0
	ch <- prometheus.MustNewConstMetric(c.unreadable, prometheus.GaugeValue, float64(unreadable))
	created, err := maps.ReadPerCPU[uint32](c.objs.NetnsCreated, func(a, b uint64) uint64 { return a + b })
	if err != nil {
		return fmt.Errorf("reading netns_created: %w", err)
	}
	ch <- prometheus.MustNewConstMetric(c.alive, prometheus.GaugeValue, float64(len(live)))
	ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(created[0]))
	return maps.ReportLost(c.env.Self, c.env.Name, c.objs.LostEvents)
}

// Close detaches the programs.
func (c *netnsCollector) Close() error { return c.set.Close() }

// liveNetns returns the inode numbers of the network namespaces that a
// process (its main thread) is in or that are bind-mounted in p.netnsDirs,
// and how many processes' namespaces it was not allowed to read. Processes
// that exit during the walk are skipped.
func liveNetns(p paths) (live map[uint64]struct{}, unreadable int, err error) {
	entries, err := os.ReadDir(p.proc)
	if err != nil {
		return nil, 0, fmt.Errorf("listing %s: %w", p.proc, err)
	}
	live = map[uint64]struct{}{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(p.proc, e.Name(), "ns", "net"))
		if errors.Is(err, os.ErrPermission) {
			unreadable++
			continue
		}
		if err != nil {
			continue // exited meanwhile
		}
		if ino, ok := parseNetnsLink(link); ok {
			live[ino] = struct{}{}
		}
	}
	for _, dir := range p.netnsDirs {
		if err := addMountedNetns(dir, live); err != nil {
			return nil, 0, err
		}
	}
	return live, unreadable, nil
}

// parseNetnsLink parses the target of /proc/<pid>/ns/net: net:[<inode>].
func parseNetnsLink(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "net:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(s, 10, 64)
	return ino, err == nil
}

// addMountedNetns adds the network namespaces bind-mounted in dir to live;
// files there that are not namespaces (a mount point left behind) are not.
func addMountedNetns(dir string, live map[uint64]struct{}) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var fs unix.Statfs_t
		if unix.Statfs(path, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil {
			live[st.Ino] = struct{}{}
		}
	}
	return nil
}
