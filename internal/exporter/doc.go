// Package exporter is the scaffold every bpfleet exporter's main calls: the
// command line, the HTTP server, the collector registry, the exporter-wide
// components, background work and the shutdown. It knows nothing of eBPF,
// cgroups or CRI: those are components owned by their packages
// (internal/bpfload, internal/workload, internal/cri), so that an exporter of
// D-Bus, etcd or the Kubernetes API links none of them.
//
// # Writing an exporter
//
// An exporter is a Program: its components and its collectors. Its main.go
// does nothing else (Example shows a whole one):
//
//	func main() {
//		os.Exit(exporter.Main(exporter.Program{
//			Name:        "kernel_exporter",
//			Namespace:   "kernel",
//			Description: "Per-workload kernel events from eBPF.",
//			DefaultPort: 10061,
//			Components:  []exporter.ComponentSpec{bpfload.Component, cri.Component, workload.Component},
//			Collectors:  collector.Specs(),
//		}, os.Args[1:], os.Stdout, os.Stderr))
//	}
//
// A collector is a Spec: its name, whether it is on by default, and either a
// Constructor or, when it has options, a Flags function that declares them
// (as --collector.<name>.<option>) and returns the constructor that reads
// them once the command line is parsed. A Spec with MaxSeries gets
// --collector.<name>.max-series, its series cap, as Env.MaxSeries.
//
// A value that the flag's type accepts but the collector does not (a port
// list, a negative duration) is rejected with FlagSet.Validate, which runs
// after parsing: the exporter exits with a usage error (code 2) instead of
// starting a collector that can never be constructed.
//
// # Lifecycle
//
// Components (ComponentSpec) are what collectors share: a connection, a
// client, a resolver, with flags --<component>.<option>. Each is constructed
// once, in the background, in the Program's order, retried with backoff
// while it fails, and handed to the collectors that ask for it
// (Env.Component, or a typed accessor of its package over Use). A
// constructor's ctx ends at shutdown; it is not the lifetime of what it
// builds.
//
// Collectors are constructed in the background too, retried with backoff
// (internal/retry) until they succeed; meanwhile a collector reports
// <ns>_scrape_collector_success{collector} 0 and the exporter serves the
// rest. A constructor must release what it acquired before returning an
// error. An error that wraps errors.ErrUnsupported (the host lacks a kernel
// hook, a bus, an API) is not retried: the collector reports
// <ns>_exporter_collector_unsupported{collector} 1 and no success series, so
// that alerts on failing collectors stay quiet on mixed fleets.
//
// Background work (watches, polls, ring-buffer readers) is a collector's or
// component's Runner: run after construction, retried with backoff when it
// fails (the collector reports success 0 until it runs again), stopped
// before Close. No constructor starts goroutines of its own.
//
// Update is called at every scrape with a context that carries the scrape's
// deadline. On shutdown, Runners stop, then collectors that implement
// io.Closer are closed (detaching BPF programs), then components, in reverse
// order.
//
// # What Main provides
//
// Flags: --web.listen-address (default :<DefaultPort>), --web.config.file
// (TLS and basic auth, see the exporter-toolkit), --web.systemd-socket,
// --web.telemetry-path, --web.disable-exporter-metrics, --web.max-requests,
// --log.level, --log.format, --version, --[no-]collector.<name>,
// --collector.disable-defaults, and the components' and collectors' own.
//
// Metrics, all from private registries: <ns>_exporter_build_info,
// <ns>_scrape_collector_duration_seconds{collector},
// <ns>_scrape_collector_success{collector},
// <ns>_exporter_collector_unsupported{collector}, the self-metrics of
// internal/selfmetrics (<ns>_exporter_*) and of the components, each
// collector's metrics and, unless --web.disable-exporter-metrics, go_*,
// process_* and promhttp_*. Scrapes negotiate OpenMetrics and the protobuf
// format, so native histograms reach Prometheus servers that ask for them.
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
// stops the constructors and Runners, closes every collector and component
// and returns 0.
//
// # Version
//
// The version shown by --version, the landing page and
// <ns>_exporter_build_info comes from github.com/prometheus/common/version,
// set at link time (the Makefile's LDFLAGS).
//
// # Testing an exporter
//
// MainContext runs an exporter in-process until its context ends; pass
// --web.listen-address=127.0.0.1:0 and read the bound address from the
// "Listening on" log line. Env.WithComponents hands a constructor components
// built by a test (internal/collectortest does that for eBPF collectors).
package exporter
