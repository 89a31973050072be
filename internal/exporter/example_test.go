package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// bus stands for an exporter-wide connection (D-Bus, etcd, the API
// server): a component that collectors share.
type bus struct{ address string }

func (b *bus) Close() error { return nil }

// busComponent declares --bus.address and builds the connection once.
var busComponent = exporter.ComponentSpec{
	Name: "bus",
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		address := fs.Flag("address", "Bus socket.").Default("unix:path=/run/dbus/system_bus_socket").String()
		return func(context.Context, exporter.Env) (any, error) {
			return &bus{address: *address}, nil // dial here; an error is retried
		}
	},
}

// unitsSpec is a collector with a flag of its own and a series cap, using
// the bus.
var unitsSpec = exporter.Spec{
	Name:      "units",
	Help:      "Units by state.",
	Default:   true,
	MaxSeries: 5000, // --collector.units.max-series
	Flags: func(fs *exporter.FlagSet) exporter.New {
		pattern := fs.Flag("include", "Units to report.").Default(".+").String()
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			b, err := exporter.Use[*bus](ctx, env, "bus")
			if err != nil {
				return nil, err
			}
			return &unitsCollector{bus: b, include: *pattern, max: env.MaxSeries}, nil
		}
	},
}

type unitsCollector struct {
	bus     *bus
	include string
	max     int
}

// Update is called at every scrape.
func (c *unitsCollector) Update(context.Context, chan<- prometheus.Metric) error { return nil }

// Run is the collector's background work (a watch of unit changes): the
// scaffold runs it, retries it with backoff and stops it before Close.
func (c *unitsCollector) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// A whole exporter: a Program with its components and collectors, handed to
// Main (MainContext here, to stop it in the example). Its flags are those
// of every exporter, the components' and the collectors'.
func Example() {
	program := exporter.Program{
		Name:        "units_exporter",
		Namespace:   "units",
		Description: "Unit states.",
		DefaultPort: 10099,
		Components:  []exporter.ComponentSpec{busComponent},
		Collectors:  []exporter.Spec{unitsSpec},
	}
	var help bytes.Buffer
	exporter.MainContext(context.Background(), program, []string{"--help"}, &help, io.Discard)
	for _, line := range strings.Split(help.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (strings.HasPrefix(f[0], "--bus.") || strings.Contains(f[0], "collector.units")) {
			fmt.Println(f[0])
		}
	}
	// Output:
	// --bus.address="unix:path=/run/dbus/system_bus_socket"
	// --[no-]collector.units
	// --collector.units.include=".+"
	// --collector.units.max-series=5000
}
