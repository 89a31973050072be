package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/gather"
)

// timeoutHeader carries Prometheus's scrape timeout, in seconds.
const timeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// scrapeTimeout returns the time collectors get for a scrape whose timeout
// header is header: the timeout less a margin for encoding and transfer of
// a tenth of it, at most 500ms. ok is false when header holds no positive
// number of seconds.
func scrapeTimeout(header string) (d time.Duration, ok bool) {
	secs, err := strconv.ParseFloat(header, 64)
	if err != nil || !(secs > 0) || secs > math.MaxInt64/float64(time.Second) {
		return 0, false
	}
	timeout := time.Duration(secs * float64(time.Second))
	return timeout - min(500*time.Millisecond, timeout/10), true
}

// writeTimeout bounds the time a scrape's reply may take to be written: a
// client that does not read is dropped then.
const writeTimeout = time.Minute

// metricsHandler serves the telemetry path. Every request gathers the
// exporter's registries and a scrape of the collectors bounded by the
// request's deadline, holding one of --web.max-requests slots while it
// gathers, not while it writes: a client that does not read its reply (or
// reads slowly) holds no slot, and is dropped after writeTimeout. Methods
// other than GET and HEAD get 405.
func (e *exporter) metricsHandler() http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(e.logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}
	gatherers := prometheus.Gatherers{e.reg}
	if e.exporterReg != nil {
		opts.Registry = e.exporterReg
		gatherers = append(gatherers, e.exporterReg)
	}
	slots := newSlots(e.cfg.maxRequests)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !slots.take() {
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", e.cfg.maxRequests),
				http.StatusServiceUnavailable)
			return
		}
		families, err := e.gather(r, gatherers)
		slots.release()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
		gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, err })
		promhttp.HandlerFor(gathered, opts).ServeHTTP(w, r)
	})
	if e.exporterReg != nil {
		h = promhttp.InstrumentMetricHandler(e.exporterReg, h)
	}
	return h
}

// gather gathers the registries and one scrape of the collectors, bounded
// by r's scrape timeout. The collectors' per-workload series (gather.Metric)
// skip the registry's checks; every other metric has them.
func (e *exporter) gather(r *http.Request, gatherers prometheus.Gatherers) ([]*dto.MetricFamily, error) {
	ctx, cancel := e.scrapeContext(r)
	defer cancel()
	return gather.Gather(gatherers, e.newScrape(ctx).Collect)
}

// slots limits the requests gathering at once, as promhttp's
// MaxRequestsInFlight does; a nil *slots has no limit.
type slots chan struct{}

func newSlots(max int) slots {
	if max <= 0 {
		return nil
	}
	return make(slots, max)
}

func (s slots) take() bool {
	if s == nil {
		return true
	}
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) release() {
	if s != nil {
		<-s
	}
}

func (e *exporter) scrapeContext(r *http.Request) (context.Context, context.CancelFunc) {
	header := r.Header.Get(timeoutHeader)
	if header == "" {
		return context.WithCancel(r.Context())
	}
	d, ok := scrapeTimeout(header)
	if !ok {
		e.logger.Debug("Ignoring invalid scrape timeout", "header", timeoutHeader, "value", header)
		return context.WithCancel(r.Context())
	}
	return context.WithTimeout(r.Context(), d)
}

// scrape is one scrape of every enabled collector, run concurrently under
// ctx, with node_exporter's per-collector duration and success gauges.
type scrape struct {
	ctx         context.Context
	sups        []*supervisor
	logger      *slog.Logger
	duration    *prometheus.Desc
	success     *prometheus.Desc
	unsupported *prometheus.Desc
}

func (e *exporter) newScrape(ctx context.Context) *scrape {
	return &scrape{
		ctx:    ctx,
		sups:   e.sups,
		logger: e.logger,
		duration: prometheus.NewDesc(
			prometheus.BuildFQName(e.p.Namespace, "scrape", "collector_duration_seconds"),
			e.p.Name+": Duration of a collector scrape.",
			[]string{"collector"}, nil),
		success: prometheus.NewDesc(
			prometheus.BuildFQName(e.p.Namespace, "scrape", "collector_success"),
			e.p.Name+": Whether a collector succeeded.",
			[]string{"collector"}, nil),
		unsupported: prometheus.NewDesc(
			prometheus.BuildFQName(e.p.Namespace, "exporter", "collector_unsupported"),
			e.p.Name+": 1 when the host cannot support an enabled collector (a kernel feature or hook is missing): it stays off and reports no scrape success or duration; 0 otherwise.",
			[]string{"collector"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (s *scrape) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.duration
	ch <- s.success
	ch <- s.unsupported
}

// Collect implements prometheus.Collector.
func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for _, sup := range s.sups {
		wg.Go(func() { s.collect(sup, ch) })
	}
	wg.Wait()
}

// collect runs one collector. A collector not constructed yet reports
// success 0 and duration 0; one that fails, overruns the deadline or whose
// background work is failing reports success 0; ErrNoData counts as
// success. An unsupported collector reports only that it is.
func (s *scrape) collect(sup *supervisor, ch chan<- prometheus.Metric) {
	if sup.isUnsupported() {
		ch <- prometheus.MustNewConstMetric(s.unsupported, prometheus.GaugeValue, 1, sup.name)
		return
	}
	ch <- prometheus.MustNewConstMetric(s.unsupported, prometheus.GaugeValue, 0, sup.name)
	start := time.Now()
	metrics, err := sup.update(s.ctx)
	duration := time.Since(start).Seconds()
	success := 1.0
	switch {
	case err == nil:
	case errors.Is(err, errNotBuilt):
		duration, success = 0, 0
	case errors.Is(err, ErrNoData):
		s.logger.Debug("Collector returned no data", "collector", sup.name, "duration_seconds", duration, "err", err)
	default:
		s.logger.Error("Collector failed", "collector", sup.name, "duration_seconds", duration, "err", err)
		success = 0
	}
	for _, m := range metrics {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(s.duration, prometheus.GaugeValue, duration, sup.name)
	ch <- prometheus.MustNewConstMetric(s.success, prometheus.GaugeValue, success, sup.name)
}
