// Package exporter is the scaffold every bpfleet exporter's main calls: the
// command line, the HTTP server, the collector registry and the shutdown.
//
// # Writing an exporter
//
// An exporter declares its collectors as Specs and hands them to Main with a
// Program. Its main.go does nothing else:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/bpfleet/bpfleet/internal/exporter"
//	)
//
//	func main() {
//		os.Exit(exporter.Main(exporter.Program{
//			Name:        "kernel_exporter",
//			Namespace:   "kernel",
//			Description: "Prometheus exporter for per-workload kernel events, aggregated in the kernel by eBPF.",
//			DefaultPort: 10061,
//			Workload:    true,
//			Collectors:  []exporter.Spec{exitSpec},
//		}, os.Args[1:], os.Stdout, os.Stderr))
//	}
//
// A collector is a Spec: its name, whether it is on by default, and either a
// Constructor or, when it has options, a Flags function that declares them
// (as --collector.<name>.<option>) and returns the constructor that reads
// them once the command line is parsed:
//
//	var exitSpec = exporter.Spec{
//		Name:    "exit",
//		Help:    "Process exits by workload and exit code.",
//		Default: true,
//		Flags: func(fs *exporter.FlagSet) exporter.New {
//			maxSeries := fs.Flag("max-series", "Series cap of kernel_process_exits_total.").Default("10000").Int()
//			return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
//				return newExitCollector(env, *maxSeries) // loads and attaches its BPF programs
//			}
//		},
//	}
//
// A value that the flag's type accepts but the collector does not (a port
// list, a negative duration) is rejected with FlagSet.Validate, which runs
// after parsing: the exporter exits with a usage error (code 2) instead of
// starting a collector that can never be constructed.
//
// The constructor runs in the background and is retried with exponential
// backoff (internal/retry) until it succeeds; meanwhile the collector reports
// <ns>_scrape_collector_success{collector} 0 and the exporter serves the
// rest. It must release what it acquired before returning an error. The
// collector's Update is called at every scrape with a context that carries
// the scrape's deadline; a collector that implements io.Closer is closed
// once at shutdown, which detaches its BPF programs.
//
// # What Main provides
//
// Flags: --web.listen-address (default :<DefaultPort>), --web.config.file
// (TLS and basic auth, see the exporter-toolkit), --web.systemd-socket,
// --web.telemetry-path, --web.disable-exporter-metrics, --web.max-requests,
// --log.level, --log.format, --version, --[no-]collector.<name>,
// --collector.disable-defaults, --bpf.enable-stats and, with
// Program.Workload, --workload.cgroup-root, --workload.cri-endpoint and
// --workload.cri-timeout.
//
// Metrics, all from private registries: <ns>_exporter_build_info,
// <ns>_scrape_collector_duration_seconds{collector} and
// <ns>_scrape_collector_success{collector}, the self-metrics of
// internal/selfmetrics, each collector's metrics and, unless
// --web.disable-exporter-metrics, go_*, process_* and promhttp_*. Scrapes
// negotiate OpenMetrics and the protobuf format, so native histograms reach
// Prometheus servers that ask for them.
//
// Endpoints: a landing page at /, the telemetry path, /healthz (200 while the
// process serves) and /readyz (200 once every enabled collector's constructor
// has returned at least once).
//
// A scrape's collectors share the time Prometheus gives the scrape
// (X-Prometheus-Scrape-Timeout-Seconds, less a margin); a collector that
// overruns it reports success 0 for that scrape and does not hold the scrape
// back.
//
// On SIGINT or SIGTERM, Main stops serving, waits up to 5s for open requests,
// stops the constructors, closes every constructed collector and returns 0.
//
// # Version
//
// The version shown by --version, the landing page and
// <ns>_exporter_build_info comes from github.com/prometheus/common/version,
// set at link time:
//
//	go build -ldflags "-X github.com/prometheus/common/version.Version=1.0.0 \
//		-X github.com/prometheus/common/version.Revision=$(git rev-parse HEAD) \
//		-X github.com/prometheus/common/version.Branch=main \
//		-X github.com/prometheus/common/version.BuildUser=ci \
//		-X github.com/prometheus/common/version.BuildDate=$(date +%Y%m%d-%H:%M:%S)"
//
// # Testing an exporter
//
// MainContext runs an exporter in-process until its context ends; pass
// --web.listen-address=127.0.0.1:0 and read the bound address from the
// "Listening on" log line.
package exporter
