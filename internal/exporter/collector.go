package exporter

import (
	"context"
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/workload"
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

// Env is what a collector constructor is given.
type Env struct {
	Logger    *slog.Logger
	Namespace string // metric namespace, e.g. "kernel"
	Self      *selfmetrics.Metrics
	// Workload resolves cgroup ids to workload labels; nil unless the
	// Program asked for it (Program.Workload).
	Workload *workload.Resolver
}

// New constructs a collector. It is retried with backoff while it fails, so
// it must release what it acquired before returning an error.
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
}

// FlagSet registers flags scoped to one collector.
type FlagSet struct {
	app    *kingpin.Application
	prefix string
	checks *[]func() error // shared by every collector's FlagSet
}

// Flag registers --collector.<name>.<option>.
func (f *FlagSet) Flag(option, help string) *kingpin.FlagClause {
	return f.app.Flag(f.prefix+option, help)
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
