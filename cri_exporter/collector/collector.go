// Package collector holds cri_exporter's collectors: cri, which asks the
// container runtime over its CRI socket (the exporter's shared CRI client,
// internal/cri) about itself, its pods and its containers, and counts
// container exits; and oom, which counts OOM kills in the kernel
// (internal/oomkill) and attributes each to its container through the
// victim's cgroup (internal/workload) and the runtime's names for it.
// The two share no state: each asks the exporter's components.
package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/series"
)

// DefaultPollInterval is the default of --collector.cri.poll-interval.
const DefaultPollInterval = time.Second

// grace is how long a container name that no container has any more keeps
// its exit series, and an OOM-killed container whose pod is gone keeps its
// OOM series, so that the last increments are scraped.
const grace = series.DefaultGrace

// Specs returns cri_exporter's collectors, both on by default.
func Specs() []exporter.Spec {
	return []exporter.Spec{
		{Name: "cri", Help: "runtime health, pods, containers and container exits over CRI (needs --cri.endpoint)", Default: true,
			Flags: func(fs *exporter.FlagSet) exporter.New {
				poll := fs.Flag("poll-interval", "Time between two listings of the runtime's containers in the background, which catch exits between scrapes.").
					Default(DefaultPollInterval.String()).Duration()
				fs.Validate(func() error {
					if *poll <= 0 {
						return fmt.Errorf("--collector.cri.poll-interval: must be positive, got %s", *poll)
					}
					return nil
				})
				return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
					return newCRI(ctx, env, *poll)
				}
			}},
		{Name: "oom", Help: "OOM kills per container, from the kernel", Default: true,
			Constructor: newOOM, MaxSeries: series.DefaultMaxSeries},
	}
}
