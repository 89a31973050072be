package exporter

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// config is the parsed command line.
type config struct {
	web                    *web.FlagConfig
	telemetryPath          string
	disableExporterMetrics bool
	maxRequests            int
	maxConnections         int
	idleTimeout            time.Duration
	log                    promslog.Config
	components             []declaredComponent
	collectors             []enabledCollector
}

// declaredComponent is a component with its parsed flags.
type declaredComponent struct {
	name  string
	build NewComponent
}

// enabledCollector is a collector switched on by the command line.
type enabledCollector struct {
	name      string
	build     New
	maxSeries int
}

// collectorFlags are the flags of one Spec, before parsing.
type collectorFlags struct {
	name      string
	build     New
	enabled   *bool
	explicit  bool // --[no-]collector.<name> given on the command line
	maxSeries *int // nil without Spec.MaxSeries
}

// terminate is what kingpin's exit (after --help, --version or a usage
// error) panics with, so that parseFlags returns instead of exiting.
type terminate int

// parseFlags parses args. exit is true when the process should stop with
// code: --help, --version or a bad command line.
func parseFlags(p Program, args []string, stdout, stderr io.Writer) (cfg *config, code int, exit bool) {
	app := kingpin.New(p.Name, p.Description).UsageWriter(stdout).ErrorWriter(stderr)
	app.Terminate(func(code int) { panic(terminate(code)) })
	app.Version(version.Print(p.Name))
	app.HelpFlag.Short('h')
	cfg = addFlags(app, p.DefaultPort)
	checks := []func() error{cfg.validate}
	app.Validate(func(*kingpin.Application) error { return firstError(checks) })
	var err error
	if cfg.components, err = addComponentFlags(app, p.Components, &checks); err != nil {
		app.Errorf("%v", err)
		return nil, 1, true
	}
	collectors, err := addCollectorFlags(app, p.Collectors, &checks)
	if err != nil {
		app.Errorf("%v", err)
		return nil, 1, true
	}
	disableDefaults := app.Flag("collector.disable-defaults",
		"Disable all collectors that are not enabled explicitly by --collector.<name>.").Default("false").Bool()

	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminate)
			if !ok {
				panic(r)
			}
			cfg, code, exit = nil, int(t), true
		}
	}()
	if _, err := app.Parse(args); err != nil {
		app.Errorf("%v, try --help", namingFlag(app, args, err))
		return nil, 2, true
	}
	cfg.collectors = enabledCollectors(collectors, *disableDefaults)
	return cfg, 0, false
}

// namingFlag prefixes err with the flag whose value it rejects, which
// kingpin leaves out of a value's parse error (strconv's, time's): it sets
// the flags of args again, in order, until one fails. Values set twice do
// not matter, as the command line is rejected.
func namingFlag(app *kingpin.Application, args []string, err error) error {
	ctx, perr := app.ParseContext(args)
	if perr != nil {
		return err
	}
	for _, el := range ctx.Elements {
		f, ok := el.Clause.(*kingpin.FlagClause)
		if ok && el.Value != nil && f.Model().Value.Set(*el.Value) != nil {
			return fmt.Errorf("--%s: %w", f.Model().Name, err)
		}
	}
	return err
}

// addFlags registers the flags of every exporter.
func addFlags(app *kingpin.Application, defaultPort int) *config {
	cfg := &config{web: kingpinflag.AddFlags(app, ":"+strconv.Itoa(defaultPort))}
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&cfg.telemetryPath)
	app.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (promhttp_*, process_*, go_*).").
		Default("false").BoolVar(&cfg.disableExporterMetrics)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests. Use 0 to disable.").
		Default("40").IntVar(&cfg.maxRequests)
	app.Flag("web.max-connections", "Maximum number of open HTTP connections; connections beyond it are closed at once. Use 0 to disable.").
		Default("256").IntVar(&cfg.maxConnections)
	app.Flag("web.idle-timeout", "How long an idle keep-alive connection stays open.").
		Default("2m").DurationVar(&cfg.idleTimeout)
	promslogflag.AddFlags(app, &cfg.log)
	return cfg
}

// validate rejects web flag values that can never work.
func (c *config) validate() error {
	switch {
	case !strings.HasPrefix(c.telemetryPath, "/"):
		return fmt.Errorf("--web.telemetry-path: %q must start with /", c.telemetryPath)
	case c.telemetryPath == "/healthz" || c.telemetryPath == "/readyz":
		return fmt.Errorf("--web.telemetry-path: %s is the exporter's own endpoint", c.telemetryPath)
	case c.maxRequests < 0:
		return fmt.Errorf("--web.max-requests: %d is negative (0 disables the limit)", c.maxRequests)
	case c.maxConnections < 0:
		return fmt.Errorf("--web.max-connections: %d is negative (0 disables the limit)", c.maxConnections)
	case c.idleTimeout <= 0:
		return fmt.Errorf("--web.idle-timeout: must be positive, got %s", c.idleTimeout)
	}
	return nil
}

// addComponentFlags registers each component's --<name>.<option> flags, in
// the Program's order (which is also the order they are constructed in).
func addComponentFlags(app *kingpin.Application, specs []ComponentSpec, checks *[]func() error) ([]declaredComponent, error) {
	out := make([]declaredComponent, 0, len(specs))
	for _, s := range specs {
		if slices.ContainsFunc(out, func(c declaredComponent) bool { return c.name == s.Name }) {
			return nil, fmt.Errorf("component %q declared twice", s.Name)
		}
		build := s.Constructor
		if s.Flags != nil {
			build = s.Flags(&FlagSet{app: app, prefix: s.Name + ".", checks: checks})
		}
		if build == nil {
			return nil, fmt.Errorf("component %q has no constructor", s.Name)
		}
		out = append(out, declaredComponent{name: s.Name, build: build})
	}
	return out, nil
}

// addCollectorFlags registers --[no-]collector.<name> and the collector's
// scoped flags for each spec, in name order so that --help lists them sorted;
// their FlagSet checks join checks.
func addCollectorFlags(app *kingpin.Application, specs []Spec, checks *[]func() error) ([]*collectorFlags, error) {
	specs = slices.SortedFunc(slices.Values(specs), func(a, b Spec) int { return cmp.Compare(a.Name, b.Name) })
	flags := make([]*collectorFlags, 0, len(specs))
	for i, s := range specs {
		if i > 0 && specs[i-1].Name == s.Name {
			return nil, fmt.Errorf("collector %q declared twice", s.Name)
		}
		f := &collectorFlags{name: s.Name}
		f.enabled = app.Flag("collector."+s.Name, collectorHelp(s)).
			Default(strconv.FormatBool(s.Default)).
			Action(func(*kingpin.ParseContext) error { f.explicit = true; return nil }).
			Bool()
		f.build = s.Constructor
		fs := &FlagSet{app: app, prefix: "collector." + s.Name + ".", checks: checks}
		if s.Flags != nil {
			f.build = s.Flags(fs)
		}
		if s.MaxSeries > 0 {
			f.maxSeries = maxSeriesFlag(fs, s.MaxSeries)
		}
		if f.build == nil {
			return nil, fmt.Errorf("collector %q has no constructor", s.Name)
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// firstError runs checks in order and returns the first error.
func firstError(checks []func() error) error {
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// maxSeriesFlag registers --collector.<name>.max-series.
func maxSeriesFlag(fs *FlagSet, def int) *int {
	name := "--" + fs.prefix + "max-series"
	v := fs.Flag("max-series", "Series cap of each of the collector's per-key metrics (workloads, units, prefixes...); the rest are summed into one overflow series and counted in <ns>_exporter_series_overflow_total.").
		Default(strconv.Itoa(def)).Int()
	fs.Validate(func() error {
		if *v < 1 {
			return fmt.Errorf("%s: must be at least 1, got %d", name, *v)
		}
		return nil
	})
	return v
}

func collectorHelp(s Spec) string {
	state := "disabled"
	if s.Default {
		state = "enabled"
	}
	return fmt.Sprintf("Enable the %s collector (default: %s). %s", s.Name, state, s.Help)
}

// enabledCollectors returns the collectors switched on, in name order. With
// disableDefaults, only those given explicitly as --collector.<name> are.
func enabledCollectors(flags []*collectorFlags, disableDefaults bool) []enabledCollector {
	var on []enabledCollector
	for _, f := range flags {
		if *f.enabled && (f.explicit || !disableDefaults) {
			c := enabledCollector{name: f.name, build: f.build}
			if f.maxSeries != nil {
				c.maxSeries = *f.maxSeries
			}
			on = append(on, c)
		}
	}
	return on
}
