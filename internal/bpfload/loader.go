package bpfload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// ComponentName is the name of the Loader component; its flags are
// --bpf.<option>.
const ComponentName = "bpf"

// statsSysctl reads 1 while an administrator has turned BPF run-time
// statistics on for the whole system. It does not reflect BPF_ENABLE_STATS
// handles, which is why a Loader tracks its own.
const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// Component is the exporter component of every eBPF exporter: a Loader.
// Flag: --bpf.enable-stats.
var Component = SizedComponent()

// SizedComponent is Component with a repeatable --bpf.map-max-entries
// NAME=ROWS flag that sizes the maps named here (aggregation maps whose
// rows are workloads), checked at parse time: a name that is not one of
// them, or a size below 1, is a usage error.
func SizedComponent(maps ...string) exporter.ComponentSpec {
	return exporter.ComponentSpec{
		Name: ComponentName,
		Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
			enableStats := fs.Flag("enable-stats", "Turn on the kernel's BPF run-time statistics while running, to report <ns>_exporter_bpf_program_run_seconds_total and <ns>_exporter_bpf_program_runs_total (costs a little on every BPF program run on the host).").
				Default("false").Bool()
			var sizes map[string]uint32
			if len(maps) > 0 {
				raw := fs.Flag("map-max-entries", "NAME=ROWS: size the BPF map NAME to ROWS rows instead of its default (repeatable; maps: "+strings.Join(maps, ", ")+"). A row costs about 90 bytes of kernel memory whatever the number of CPUs (shared maps, atomic adds); a full map folds new workloads' events into the overflow series.").
					PlaceHolder("NAME=ROWS").Strings()
				fs.Validate(func() (err error) {
					sizes, err = parseMapSizes(*raw, maps)
					return err
				})
			}
			return func(_ context.Context, env exporter.Env) (any, error) {
				l, err := NewLoader(env.Self)
				if err != nil {
					return nil, err
				}
				for name, n := range sizes {
					l.SetMaxEntries(name, n)
				}
				if *enableStats {
					if err := l.EnableStats(); err != nil {
						env.Logger.Warn("BPF run-time statistics stay off", "err", err)
					}
				}
				return l, nil
			}
		},
	}
}

// parseMapSizes parses --bpf.map-max-entries values against the maps that
// may be sized.
func parseMapSizes(values, maps []string) (map[string]uint32, error) {
	sizes := make(map[string]uint32, len(values))
	for _, v := range values {
		name, rows, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--bpf.map-max-entries: %q is not NAME=ROWS", v)
		}
		if !slices.Contains(maps, name) {
			return nil, fmt.Errorf("--bpf.map-max-entries: no map %q can be sized (maps: %s)", name, strings.Join(maps, ", "))
		}
		n, err := strconv.ParseUint(rows, 10, 32)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--bpf.map-max-entries: %s: rows must be a whole number from 1 to %d, got %q", name, uint32(math.MaxUint32), rows)
		}
		sizes[name] = uint32(n)
	}
	return sizes, nil
}

// FromEnv returns the exporter's Loader (Component), once constructed.
func FromEnv(ctx context.Context, env exporter.Env) (*Loader, error) {
	return exporter.Use[*Loader](ctx, env, ComponentName)
}

// Loader loads BPF objects (Load) and reports them in the exporter's
// self-metrics, under <ns>_exporter_:
//
//	bpf_program_attached{program}                 gauge: 1 attached, 0 not
//	bpf_program_recursion_misses_total{program}   counter: runs the kernel skipped because another BPF program was running on the CPU (events lost)
//	bpf_map_entries{map}, bpf_map_max_entries{map} gauges: fill level
//	bpf_program_run_seconds_total{program}        counter, while BPF stats are on
//	bpf_program_runs_total{program}               counter, while BPF stats are on
//
// Safe for concurrent use. The caller closes it, after every Set it loaded.
type Loader struct {
	programAttached metric.Int64Gauge
	mapEntries      metric.Int64Gauge
	mapMaxEntries   metric.Int64Gauge

	mu         sync.Mutex
	programs   map[string]*ebpf.Program
	maxEntries map[string]uint32 // SetMaxEntries
	stats      io.Closer         // BPF_ENABLE_STATS handle held by EnableStats
}

// SetMaxEntries sizes the map called name to n rows in every spec Load
// loads after this call (a harness filling a map with a few workloads, or a
// flag sizing one).
func (l *Loader) SetMaxEntries(name string, n uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxEntries == nil {
		l.maxEntries = make(map[string]uint32)
	}
	l.maxEntries[name] = n
}

// NewLoader creates a Loader whose instruments are in self. It lifts the
// memlock limit where the kernel charges BPF memory to it (before 5.11);
// on later kernels BPF memory is charged to the cgroup and nothing changes.
//
// rlimit.RemoveMemlock probes the kernel by creating a map: without
// CAP_BPF that probe fails and it then tries to raise the limit, which
// fails too. On kernels that charge the cgroup the limit does not matter,
// so that failure is ignored there, and the first load names the missing
// capabilities instead of pointing at the memlock limit.
func NewLoader(self *selfmetrics.Metrics) (*Loader, error) {
	if err := rlimit.RemoveMemlock(); err != nil && !memcgCharged(kernelRelease()) {
		return nil, fmt.Errorf("lifting the memlock limit for BPF maps (kernels before 5.11 charge BPF memory to it: "+
			"give the exporter CAP_SYS_RESOURCE, or run it with an unlimited memlock limit, e.g. LimitMEMLOCK=infinity): %w", err)
	}
	l := &Loader{programs: make(map[string]*ebpf.Program)}
	if err := l.instruments(self.Meter()); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Loader) instruments(meter metric.Meter) error {
	var errs [6]error
	l.programAttached, errs[0] = meter.Int64Gauge("bpf_program_attached",
		metric.WithDescription("Whether the BPF program is attached (1) or not (0)."))
	l.mapEntries, errs[1] = meter.Int64Gauge("bpf_map_entries",
		metric.WithDescription("Number of entries in the BPF map."))
	l.mapMaxEntries, errs[2] = meter.Int64Gauge("bpf_map_max_entries",
		metric.WithDescription("Maximum number of entries of the BPF map."))
	runTime, err := meter.Float64ObservableCounter("bpf_program_run_seconds_total",
		metric.WithDescription("Time the BPF program ran, while kernel BPF statistics are enabled."),
		metric.WithUnit("s"))
	errs[3] = err
	runs, err := meter.Int64ObservableCounter("bpf_program_runs_total",
		metric.WithDescription("Times the BPF program ran, while kernel BPF statistics are enabled."))
	errs[4] = err
	misses, err := meter.Int64ObservableCounter("bpf_program_recursion_misses_total",
		metric.WithDescription("Times the kernel skipped the BPF program because another BPF program was running on the same CPU: events it never saw."))
	errs[5] = err
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("creating BPF instruments: %w", err)
	}
	if _, err := meter.RegisterCallback(l.observePrograms(runTime, runs, misses), runTime, runs, misses); err != nil {
		return fmt.Errorf("registering BPF callback: %w", err)
	}
	return nil
}

// ProgramAttached sets <ns>_exporter_bpf_program_attached{program}.
func (l *Loader) ProgramAttached(program string, attached bool) {
	var v int64
	if attached {
		v = 1
	}
	l.programAttached.Record(context.Background(), v, selfmetrics.Attr("program", program))
}

// MapEntries sets <ns>_exporter_bpf_map_entries{map} and
// <ns>_exporter_bpf_map_max_entries{map} of m, which holds entries.
func (l *Loader) MapEntries(mapName string, m *ebpf.Map, entries int) {
	attrs := selfmetrics.Attr("map", mapName)
	l.mapEntries.Record(context.Background(), int64(entries), attrs)
	l.mapMaxEntries.Record(context.Background(), int64(m.MaxEntries()), attrs)
}

// watchProgram reports p's statistics under program until the returned
// function is called. p must stay open until then. Watching a second program
// under the same name replaces the first; a stale stop then does nothing.
func (l *Loader) watchProgram(program string, p *ebpf.Program) (stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.programs[program] = p
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.programs[program] == p {
			delete(l.programs, program)
		}
	}
}

// observePrograms reports recursion misses always (the kernel counts them
// whether or not statistics are on, Linux 5.12) and run time and run counts
// while statistics are on.
func (l *Loader) observePrograms(runTime metric.Float64ObservableCounter, runs, misses metric.Int64ObservableCounter) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		statsOn := l.stats != nil || sysctlStatsEnabled()
		for name, p := range l.programs {
			s, err := p.Stats()
			if err != nil {
				continue // closed or gone: nothing to report
			}
			attrs := selfmetrics.Attr("program", name)
			o.ObserveInt64(misses, int64(s.RecursionMisses), attrs)
			if statsOn {
				o.ObserveFloat64(runTime, s.Runtime.Seconds(), attrs)
				o.ObserveInt64(runs, int64(s.RunCount), attrs)
			}
		}
		return nil
	}
}

func sysctlStatsEnabled() bool {
	b, err := os.ReadFile(statsSysctl)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// EnableStats turns the kernel's BPF run-time statistics on (BPF_ENABLE_STATS,
// Linux 5.8, CAP_SYS_ADMIN) and holds them on until Close. Statistics cost a
// little on every BPF program run on the host while on. Calling it again
// while they are held does nothing.
func (l *Loader) EnableStats() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats != nil {
		return nil
	}
	h, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	l.stats = h
	return nil
}

// Close releases the statistics handle of EnableStats.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats == nil {
		return nil
	}
	err := l.stats.Close()
	l.stats = nil
	return err
}

// kernelRelease returns uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// memcgCharged reports whether a kernel release (uname -r) charges BPF
// memory to the cgroup rather than to RLIMIT_MEMLOCK: 5.11 and later.
func memcgCharged(release string) bool { return atLeast(release, 5, 11) }

// atLeast reports whether a kernel release (uname -r) is major.minor or
// later; false when it cannot be parsed.
func atLeast(release string, major, minor int) bool {
	var maj, min int
	if _, err := fmt.Sscanf(release, "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}
