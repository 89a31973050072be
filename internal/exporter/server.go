package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// shutdownGrace bounds the graceful shutdown of the HTTP server and of the
// self-metrics.
const shutdownGrace = 5 * time.Second

// exporter is one running exporter: what MainContext starts and stops.
type exporter struct {
	p      Program
	cfg    *config
	logger *slog.Logger

	self       *selfmetrics.Metrics
	components []*component // in construction order
	sups       []*supervisor
	startup    *startupGate // the collectors' start-up

	reg         *prometheus.Registry // build info and self-metrics
	exporterReg *prometheus.Registry // go_*, process_*, promhttp_*; nil when disabled
	handler     http.Handler
}

// start builds the registries and the self-metrics, and a supervisor per
// component and per enabled collector.
func start(p Program, cfg *config, logger *slog.Logger) (*exporter, error) {
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
	if e.self, err = selfmetrics.New(p.Namespace+"_exporter", e.reg); err != nil {
		return nil, fmt.Errorf("creating self-metrics: %w", err)
	}
	e.newSupervisors()
	return e, nil
}

func (e *exporter) newSupervisors() {
	byName := make(map[string]*component, len(e.cfg.components))
	for _, c := range e.cfg.components {
		comp := &component{
			name:  c.name,
			build: c.build,
			env:   e.env(c.name, e.logger.With("component", c.name), 0, byName),
			retry: e.p.Retry,
			tried: make(chan struct{}),
		}
		// Each component sees those declared before it, so that their
		// dependencies cannot form a cycle.
		byName = maps.Clone(byName)
		byName[c.name] = comp
		e.components = append(e.components, comp)
	}
	names := make([]string, 0, len(e.cfg.collectors))
	e.startup = &startupGate{logger: e.logger}
	for _, c := range e.cfg.collectors {
		env := e.env(c.name, e.logger.With("collector", c.name), c.maxSeries, byName)
		e.sups = append(e.sups, newSupervisor(c, env, e.p.Retry, e.startup))
		names = append(names, c.name)
	}
	e.logger.Info("Enabled collectors", "collectors", names)
}

func (e *exporter) env(name string, logger *slog.Logger, maxSeries int, components map[string]*component) Env {
	return Env{
		Name:       name,
		Logger:     logger,
		Namespace:  e.p.Namespace,
		Self:       e.self,
		MaxSeries:  maxSeries,
		components: components,
	}
}

// serve runs the supervisors and the HTTP server until ctx is done or the
// server fails, then shuts everything down. It returns the exit code.
func (e *exporter) serve(ctx context.Context) int {
	// Components outlive the collectors: they stop after them.
	compCtx, stopComps := context.WithCancel(context.WithoutCancel(ctx))
	var compsRunning sync.WaitGroup
	for _, c := range e.components {
		compsRunning.Go(func() { c.start(compCtx) })
	}
	supCtx, stopSups := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, s := range e.sups {
		running.Go(func() { s.start(supCtx) })
	}
	srv := &http.Server{
		Handler:           e.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       e.cfg.idleTimeout,
		ConnState:         limitConnections(e.cfg.maxConnections),
	}
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
	e.startup.stop()
	stopComps()
	compsRunning.Wait()
	e.release()
	return code
}

func (e *exporter) shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		e.logger.Warn("Closing HTTP connections after the grace period", "err", err)
		_ = srv.Close()
	}
}

// release closes every constructed collector, then the components in
// reverse order and the self-metrics, all within shutdownGrace.
func (e *exporter) release() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var closing sync.WaitGroup
	for _, s := range e.sups {
		closing.Go(func() { s.close(ctx) })
	}
	closing.Wait()
	for _, c := range slices.Backward(e.components) {
		c.close()
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
// returned at least once and the exporter serves something: at least one
// collector is constructed, or every one is unsupported on this host (which
// waiting cannot change). Before, and while every collector fails to
// construct (a pod without its capabilities), it answers 503.
func (e *exporter) readyz(w http.ResponseWriter, _ *http.Request) {
	serving, unsupported := 0, 0
	for _, s := range e.sups {
		switch {
		case !s.attempted.Load():
			http.Error(w, "collector "+s.name+" not attempted yet", http.StatusServiceUnavailable)
			return
		case s.isUnsupported():
			unsupported++
		case s.current() != nil:
			serving++
		}
	}
	if serving == 0 && unsupported < len(e.sups) {
		http.Error(w, "no collector constructed yet", http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprint(w, "ok")
}

// limitConnections returns a ConnState hook that closes each new connection
// while max are open already; max <= 0 means no limit.
func limitConnections(max int) func(net.Conn, http.ConnState) {
	if max <= 0 {
		return nil
	}
	var mu sync.Mutex
	open := make(map[net.Conn]struct{})
	return func(c net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case http.StateNew:
			if len(open) >= max {
				c.Close()
				return
			}
			open[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
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
