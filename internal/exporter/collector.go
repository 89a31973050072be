package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// ErrNoData is returned by Collector.Update when there is nothing to report
// this scrape; it counts as success.
var ErrNoData = errors.New("collector returned no data")

// Collector is one named source of metrics of an exporter.
//
// Update is called once per scrape, concurrently with the other collectors
// (never concurrently with itself). ctx carries the scrape deadline. A
// collector that also implements io.Closer is closed once, on shutdown, after
// its last Update; Close must release every file descriptor, BPF program and
// link it owns.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Env is what a collector or component constructor is given.
type Env struct {
	// Name is the collector's (or component's) name: the collector label
	// of its self-metrics.
	Name      string
	Logger    *slog.Logger // carries collector=<name> (component=<name>)
	Namespace string       // metric namespace, e.g. "kernel"
	// Self holds the exporter's own instruments (<ns>_exporter_*).
	Self *selfmetrics.Metrics
	// MaxSeries is --collector.<name>.max-series for a Spec with a
	// MaxSeries default, else 0.
	MaxSeries int

	components map[string]*component
}

// Component returns the component called name, once its constructor has
// returned at least once: its value, or an error when it is not constructed
// (yet), which fails the asking constructor, to be retried. A component that
// is not supported on this host gives an error that wraps
// errors.ErrUnsupported. Packages that own a component offer a typed
// accessor over this (see Use).
func (e Env) Component(ctx context.Context, name string) (any, error) {
	c, ok := e.components[name]
	if !ok {
		return nil, fmt.Errorf("component %s: %w", name, errNotInProgram)
	}
	return c.get(ctx)
}

// New constructs a collector. It is retried with backoff while it fails, so
// it must release what it acquired before returning an error. ctx ends at
// shutdown (or when the constructor's attempt is abandoned); it is not the
// collector's lifetime: background work belongs in Runner.Run.
type New func(ctx context.Context, env Env) (Collector, error)

// Spec declares a collector: its name (--collector.<name>), whether it is on
// by default, and its collector-scoped flags.
type Spec struct {
	Name    string
	Help    string
	Default bool
	// Flags declares the collector's --collector.<name>.<option> flags on fs
	// and returns the constructor, which reads their parsed values. A nil
	// Flags is allowed only with a non-nil Constructor.
	Flags func(fs *FlagSet) New
	// Constructor is used when the collector has no flags of its own.
	Constructor New
	// MaxSeries, when positive, registers --collector.<name>.max-series
	// with this default: the series cap of each of the collector's
	// capped metrics, handed to the constructor as Env.MaxSeries.
	MaxSeries int
}

// FlagSet registers flags scoped to one collector.
type FlagSet struct {
	app    *kingpin.Application
	prefix string
	checks *[]func() error // shared by every collector's FlagSet
}

// Flag registers --collector.<name>.<option> (--<name>.<option> for a
// component).
func (f *FlagSet) Flag(option, help string) *kingpin.FlagClause {
	return f.app.Flag(f.prefix+option, help)
}

// Unscoped registers --<name> without the FlagSet's scope, for the few
// flags the field spells the same way in every tool (--kubeconfig, --shard);
// keep to those, as two components may not both register one.
func (f *FlagSet) Unscoped(name, help string) *kingpin.FlagClause {
	return f.app.Flag(name, help)
}

// Validate registers check, which runs once the command line is parsed,
// before any collector is constructed, whether or not the collector is
// enabled. An error rejects the command line: Main prints it as a usage
// error and exits with code 2, so the error should name the flag
// ("--collector.<name>.<option>: ..."). Checks run in the order collectors
// are named and then registered; the first error stops them.
func (f *FlagSet) Validate(check func() error) {
	*f.checks = append(*f.checks, check)
}
