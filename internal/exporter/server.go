package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/bpfleet/bpfleet/internal/retry"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// shutdownGrace bounds the graceful shutdown of the HTTP server and of the
// self-metrics.
const shutdownGrace = 5 * time.Second

// exporter is one running exporter: what MainContext starts and stops.
type exporter struct {
	p      Program
	cfg    *config
	logger *slog.Logger

	self     *selfmetrics.Metrics
	resolver *workload.Resolver // nil unless p.Workload
	sups     []*supervisor

	reg         *prometheus.Registry // build info and self-metrics
	exporterReg *prometheus.Registry // go_*, process_*, promhttp_*; nil when disabled
	handler     http.Handler
}

// start builds the registries, the self-metrics and the workload resolver,
// and starts a supervisor per enabled collector under ctx.
func start(ctx context.Context, p Program, cfg *config, logger *slog.Logger) (*exporter, error) {
	e := &exporter{p: p, cfg: cfg, logger: logger, reg: prometheus.NewRegistry()}
	e.reg.MustRegister(versioncollector.NewCollector(p.Namespace + "_exporter"))
	if !cfg.disableExporterMetrics {
		e.exporterReg = prometheus.NewRegistry()
		e.exporterReg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	var err error
	if e.handler, err = e.mux(); err != nil {
		return nil, err
	}
	if e.self, err = selfmetrics.New(p.Namespace, e.reg); err != nil {
		return nil, fmt.Errorf("creating self-metrics: %w", err)
	}
	if cfg.enableStats {
		if err := e.self.EnableStats(); err != nil {
			logger.Warn("BPF run-time statistics stay off", "err", err)
		}
	}
	if p.Workload {
		cfg.workload.Logger = logger.With("component", "workload")
		if e.resolver, err = workload.NewResolver(cfg.workload); err != nil {
			return nil, errors.Join(fmt.Errorf("creating workload resolver: %w", err), e.self.Shutdown(ctx))
		}
	}
	e.startSupervisors(ctx)
	return e, nil
}

func (e *exporter) startSupervisors(ctx context.Context) {
	names := make([]string, 0, len(e.cfg.collectors))
	for _, c := range e.cfg.collectors {
		env := Env{
			Logger:    e.logger.With("collector", c.name),
			Namespace: e.p.Namespace,
			Self:      e.self,
			Workload:  e.resolver,
		}
		e.sups = append(e.sups, newSupervisor(c, env, e.p.Retry))
		names = append(names, c.name)
	}
	e.logger.Info("Enabled collectors", "collectors", names)
}

// serve runs the supervisors and the HTTP server until ctx is done or the
// server fails, then shuts everything down. It returns the exit code.
func (e *exporter) serve(ctx context.Context) int {
	supCtx, stopSups := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, s := range e.sups {
		running.Go(func() { s.run(supCtx) })
	}
	if e.resolver != nil {
		running.Go(func() { e.watchCgroups(supCtx) })
	}
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, e.cfg.web, e.logger) }()

	code := 0
	select {
	case <-ctx.Done():
		e.logger.Info("Shutting down")
		e.shutdownHTTP(srv)
		<-served
	case err := <-served:
		e.logger.Error("Cannot serve HTTP", "err", err)
		code = 1
	}
	stopSups()
	running.Wait()
	e.release()
	return code
}

// watchCgroups runs the workload resolver's cgroup watcher until ctx is
// done, retrying with backoff while its program cannot be loaded; lookups
// work without it, only short-lived cgroups lose their labels.
func (e *exporter) watchCgroups(ctx context.Context) {
	logger := e.logger.With("component", "workload")
	opts := append([]retry.Option{retry.OnError(func(err error, next time.Duration) {
		logger.Warn("Cannot watch new cgroups; retrying", "err", err, "retry_in", next)
	})}, e.p.Retry...)
	_ = retry.Do(ctx, func(ctx context.Context) error {
		err := e.resolver.Watch(ctx, e.self)
		if unsupported(err) {
			logger.Warn("Cannot watch new cgroups on this host; workloads shorter than a scrape may lose their labels", "err", err)
			return retry.Permanent(err)
		}
		return err
	}, opts...)
}

func (e *exporter) shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		e.logger.Warn("Closing HTTP connections after the grace period", "err", err)
		_ = srv.Close()
	}
}

// release closes every constructed collector, then the resolver and the
// self-metrics (which releases BPF statistics), all within shutdownGrace.
func (e *exporter) release() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var closing sync.WaitGroup
	for _, s := range e.sups {
		closing.Go(func() { s.close(ctx) })
	}
	closing.Wait()
	if e.resolver != nil {
		if err := e.resolver.Close(); err != nil {
			e.logger.Error("Cannot close workload resolver", "err", err)
		}
	}
	if err := e.self.Shutdown(ctx); err != nil {
		e.logger.Error("Cannot shut self-metrics down", "err", err)
	}
}

// mux routes the landing page, the telemetry path, /healthz and /readyz.
func (e *exporter) mux() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle(e.cfg.telemetryPath, e.metricsHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/readyz", e.readyz)
	if e.cfg.telemetryPath == "/" {
		return mux, nil
	}
	landing, err := e.landingPage()
	if err != nil {
		return nil, fmt.Errorf("building landing page: %w", err)
	}
	mux.Handle("/", landing)
	return mux, nil
}

// readyz answers 200 once every enabled collector's constructor has
// returned at least once, whether it succeeded or not, and 503 before.
func (e *exporter) readyz(w http.ResponseWriter, _ *http.Request) {
	for _, s := range e.sups {
		if !s.attempted.Load() {
			http.Error(w, "collector "+s.name+" not attempted yet", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = fmt.Fprint(w, "ok")
}

func (e *exporter) landingPage() (http.Handler, error) {
	return web.NewLandingPage(web.LandingConfig{
		Name:        e.p.Name,
		Description: e.p.Description,
		Version:     version.Info(),
		Profiling:   "false",
		Links: []web.LandingLinks{
			{Address: e.cfg.telemetryPath, Text: "Metrics"},
			{Address: "/healthz", Text: "Health", Description: "200 while the exporter serves"},
			{Address: "/readyz", Text: "Readiness", Description: "200 once every collector was attempted"},
		},
	})
}
