package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// maxPending bounds the plugin processes remembered between their exec
// and their exit, as the kernel's plugin_starts map does.
const maxPending = 4096

// pollInterval is how often the plugin directories are looked up again.
const pollInterval = 5 * time.Second

// ringBytes sizes plugin_events, the ring buffer of exec and exit records,
// at load time (the object's default is 1 MiB). An exec record is about
// 4.2 KiB (the environment's last 4 KiB), an exit 32 bytes: 256 KiB holds
// some 60 plugin execs that the reader, woken by each record, has not read
// yet. The ring's data pages are mapped twice into the exporter (so that a
// record that wraps reads straight) and all of them from the start, so the
// ring counts twice in the exporter's resident memory: 2 MiB at 1 MiB,
// 0.5 MiB at 256 KiB. A record that does not fit is counted
// (events_lost_total{reason="ringbuf_full"}).
const ringBytes = 256 << 10

// invocation is what the exec of a plugin said: which plugin, which command.
type invocation struct {
	plugin, command string
}

// pluginsCollector counts plugin invocations. The kernel reports each
// plugin's exec and exit on a ring buffer; Run pairs them by tgid and
// updates the counter and histogram, which Update serves.
type pluginsCollector struct {
	objs        pluginObjects
	set         *bpfload.Set
	loader      *bpfload.Loader
	env         exporter.Env
	dirs        []string
	pending     *lru.Cache[uint32, invocation]
	invocations *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	synced      time.Time // when Run last looked the directories up
}

// newPlugins loads and attaches tp_btf/sched_process_exec and
// tp_btf/sched_process_exit (kernel BTF needed) and watches the plugin
// directories dirs. Run reads the events; Close detaches the programs.
func newPlugins(ctx context.Context, env exporter.Env, dirs []string) (*pluginsCollector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	spec, err := loadPlugin()
	if err != nil {
		return nil, err
	}
	spec.Maps[pluginMapPluginEvents].MaxEntries = ringBytes
	c := &pluginsCollector{loader: loader, env: env, dirs: dirs, invocations: newInvocations(), durations: newDurations()}
	c.pending, _ = lru.New[uint32, invocation](maxPending) // only a size <= 0 fails
	if c.set, err = loader.Load(spec, &c.objs); err != nil {
		return nil, err
	}
	if err := syncPluginDirs(c.objs.PluginDirs, dirs, env.Logger); err != nil {
		return nil, errors.Join(err, c.set.Close())
	}
	return c, nil
}

func newInvocations() *prometheus.CounterVec {
	m := pluginInvocations
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Name, Help: m.Help}, m.LabelNames())
}

// newDurations is cni_plugin_duration_seconds: classic buckets from 5ms to
// 30s and a native histogram (factor 1.1).
func newDurations() *prometheus.HistogramVec {
	m := pluginDuration
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            m.Name,
		Help:                            m.Help,
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, m.LabelNames())
}

// Run handles the plugin events until ctx is done. Every pollInterval it
// looks the plugin directories up again (one may be made or replaced after
// the exporter started). It fails when the ring buffer cannot be read or
// plugin_dirs updated: the scaffold then retries it, and scrapes fail
// meanwhile.
func (c *pluginsCollector) Run(ctx context.Context) error {
	return maps.ReadRing(ctx, c.objs.PluginEvents, pollInterval, c.handle, c.syncDirs)
}

// syncDirs looks the plugin directories up when it has not for
// pollInterval.
func (c *pluginsCollector) syncDirs() error {
	if time.Since(c.synced) < pollInterval {
		return nil
	}
	c.synced = time.Now()
	return syncPluginDirs(c.objs.PluginDirs, c.dirs, c.env.Logger)
}

func (c *pluginsCollector) handle(raw []byte) {
	start := time.Now()
	ev, err := parsePluginEvent(raw)
	if err != nil {
		c.env.Self.AddEventsLost(c.env.Name, "parse_error", 1)
		return
	}
	switch ev := ev.(type) {
	case execEvent:
		c.pending.Add(ev.tgid, invocation{plugin: ev.plugin, command: ev.command})
	case exitEvent:
		inv, ok := c.pending.Peek(ev.tgid)
		if !ok {
			// Its exec record was lost (counted then) or evicted.
			c.env.Self.AddEventsLost(c.env.Name, "unpaired", 1)
			return
		}
		c.pending.Remove(ev.tgid)
		c.invocations.WithLabelValues(inv.plugin, inv.command, ev.result()).Inc()
		c.durations.WithLabelValues(inv.plugin, inv.command).Observe(ev.duration.Seconds())
	}
	c.env.Self.ObserveEventProcessing(c.env.Name, time.Since(start))
}

// Update serves the invocations counted so far, the fill of plugin_starts
// (the plugin processes running, as paired in user space) and the lost
// events.
func (c *pluginsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.invocations.Collect(ch)
	c.durations.Collect(ch)
	c.loader.MapEntries("plugin_starts", c.objs.PluginStarts, c.pending.Len())
	return maps.ReportLost(c.env.Self, c.env.Name, c.objs.LostEvents)
}

// Close detaches the programs; the scaffold has stopped Run.
func (c *pluginsCollector) Close() error { return c.set.Close() }

// syncPluginDirs makes the kernel's plugin_dirs hold exactly the existing
// directories of dirs, symbolic links resolved. A missing directory is
// skipped (logged at debug level): it may be made later.
func syncPluginDirs(m *ebpf.Map, dirs []string, logger *slog.Logger) error {
	want := map[pluginPluginDir]bool{}
	for _, d := range dirs {
		key, err := dirKey(d)
		if err != nil {
			logger.Debug("Skipping CNI plugin directory", "dir", d, "err", err)
			continue
		}
		want[key] = true
	}
	var stale []pluginPluginDir
	var key pluginPluginDir
	var one uint8
	it := m.Iterate()
	for it.Next(&key, &one) {
		if !want[key] {
			stale = append(stale, key)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading plugin_dirs: %w", err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting from plugin_dirs: %w", err)
		}
	}
	for k := range want {
		if err := m.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("adding %v to plugin_dirs: %w", k, err)
		}
	}
	return nil
}

// dirKey returns the kernel's identity of directory dir after symbolic
// links: its inode and its file system's device in the kernel's encoding
// (major << 20 | minor), which is what a task's bprm->file shows.
func dirKey(dir string) (pluginPluginDir, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return pluginPluginDir{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(resolved, &st); err != nil {
		return pluginPluginDir{}, fmt.Errorf("stat %s: %w", resolved, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return pluginPluginDir{}, fmt.Errorf("%s is not a directory", resolved)
	}
	return pluginPluginDir{Ino: st.Ino, Dev: unix.Major(st.Dev)<<20 | unix.Minor(st.Dev)}, nil
}
