package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

const (
	invocationsHelp = "CNI plugin processes that ran to their end, by plugin binary, CNI_COMMAND (ADD, DEL, CHECK, VERSION, GC, STATUS, other) and result (success: exit status 0). Chained plugins (bridge running host-local) count separately."
	durationHelp    = "Time from the exec of a CNI plugin binary to the exit of its process, by plugin and CNI_COMMAND."
)

var (
	invocationsDesc = newDesc("plugin_invocations_total", invocationsHelp, "plugin", "command", "result")
	durationDesc    = newDesc("plugin_duration_seconds", durationHelp, "plugin", "command")
)

// pluginsCollectorName labels the collector's self-metrics.
const pluginsCollectorName = "plugins"

// maxPending bounds the plugin processes remembered between their exec
// and their exit, as the kernel's plugin_starts map does.
const maxPending = 4096

// pollInterval is how often the plugin directories are looked up again and
// lost events published when no event arrives.
const pollInterval = 5 * time.Second

// invocation is what the exec of a plugin said: which plugin, which command.
type invocation struct {
	plugin, command string
}

// pluginsCollector counts plugin invocations. The kernel reports each
// plugin's exec and exit on a ring buffer; a goroutine pairs them by tgid
// and updates the counter and histogram, which Update serves.
type pluginsCollector struct {
	objs        pluginObjects
	set         *bpfload.Set
	env         exporter.Env
	dirs        []string
	rd          *ringbuf.Reader
	pending     *lru.Cache[uint32, invocation]
	invocations *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	done        sync.WaitGroup
}

// newPlugins loads and attaches tp_btf/sched_process_exec and
// tp_btf/sched_process_exit (kernel BTF needed), watches the plugin
// directories dirs and starts reading events. Close stops and detaches.
func newPlugins(env exporter.Env, dirs []string) (*pluginsCollector, error) {
	spec, err := loadPlugin()
	if err != nil {
		return nil, err
	}
	c := &pluginsCollector{env: env, dirs: dirs, invocations: newInvocations(), durations: newDurations()}
	c.pending, _ = lru.New[uint32, invocation](maxPending) // only a size <= 0 fails
	if c.set, err = bpfload.Load(spec, &c.objs, env.Self); err != nil {
		return nil, err
	}
	if err := syncPluginDirs(c.objs.PluginDirs, dirs, env.Logger); err != nil {
		return nil, errors.Join(err, c.set.Close())
	}
	if c.rd, err = ringbuf.NewReader(c.objs.PluginEvents); err != nil {
		return nil, errors.Join(fmt.Errorf("reading plugin events: %w", err), c.set.Close())
	}
	c.done.Go(c.read)
	return c, nil
}

func newInvocations() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "plugin_invocations_total", Help: invocationsHelp,
	}, []string{"plugin", "command", "result"})
}

// newDurations is cni_plugin_duration_seconds: classic buckets from 5ms to
// 30s and a native histogram (factor 1.1).
func newDurations() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:                       namespace,
		Name:                            "plugin_duration_seconds",
		Help:                            durationHelp,
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"plugin", "command"})
}

// read handles events until the reader is closed. Every pollInterval it
// looks the plugin directories up again (one may be made or replaced after
// the exporter started) and publishes the lost events.
func (c *pluginsCollector) read() {
	for {
		c.rd.SetDeadline(time.Now().Add(pollInterval))
		rec, err := c.rd.Read()
		switch {
		case err == nil:
			c.handle(rec.RawSample)
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return
		case !errors.Is(err, os.ErrDeadlineExceeded):
			c.env.Logger.Error("Cannot read plugin events", "err", err)
			return
		}
		if err := syncPluginDirs(c.objs.PluginDirs, c.dirs, c.env.Logger); err != nil {
			c.env.Logger.Warn("Cannot update the plugin directories", "err", err)
		}
		if err := c.reportLost(); err != nil {
			c.env.Logger.Warn("Cannot read lost plugin events", "err", err)
		}
	}
}

func (c *pluginsCollector) handle(raw []byte) {
	start := time.Now()
	ev, err := parsePluginEvent(raw)
	if err != nil {
		c.env.Self.AddEventsLost(pluginsCollectorName, "parse_error", 1)
		return
	}
	switch ev := ev.(type) {
	case execEvent:
		c.pending.Add(ev.tgid, invocation{plugin: ev.plugin, command: ev.command})
	case exitEvent:
		inv, ok := c.pending.Peek(ev.tgid)
		if !ok {
			// Its exec record was lost (counted then) or evicted.
			c.env.Self.AddEventsLost(pluginsCollectorName, "unpaired", 1)
			return
		}
		c.pending.Remove(ev.tgid)
		c.invocations.WithLabelValues(inv.plugin, inv.command, ev.result()).Inc()
		c.durations.WithLabelValues(inv.plugin, inv.command).Observe(ev.duration.Seconds())
	}
	c.env.Self.ObserveEventProcessing(pluginsCollectorName, time.Since(start))
}

func (c *pluginsCollector) reportLost() error {
	totals, err := maps.ReadLost(c.objs.LostEvents)
	if err != nil {
		return err
	}
	for i, total := range totals {
		c.env.Self.SetEventsLost(pluginsCollectorName, maps.LostReasons[i], total)
	}
	return nil
}

func (c *pluginsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.invocations.Collect(ch)
	c.durations.Collect(ch)
	c.env.Self.MapEntries("plugin_starts", c.pending.Len(), int(c.objs.PluginStarts.MaxEntries()))
	return c.reportLost()
}

// Close stops reading events and detaches the programs.
func (c *pluginsCollector) Close() error {
	err := c.rd.Close()
	c.done.Wait()
	return errors.Join(err, c.set.Close())
}

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
