package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/pagetrim"
	"github.com/bpfleet/bpfleet/internal/retry"
)

// errNotBuilt is what a scrape gets from a collector that is not constructed
// yet.
var errNotBuilt = errors.New("collector not constructed yet")

// supervisor owns one enabled collector: it constructs it in the background,
// retrying with backoff, runs its Runner, runs its Updates one at a time
// and closes it.
type supervisor struct {
	name  string
	build New
	env   Env
	retry []retry.Option

	attempted   atomic.Bool   // the constructor has returned at least once
	startup     *startupGate  // the exporter's, counting constructors out
	startedUp   atomic.Bool   // counted out of startup
	unsupported atomic.Bool   // the host cannot support the collector
	busy        chan struct{} // holds a token while Update runs
	run         runState

	mu        sync.Mutex
	collector Collector
}

func newSupervisor(c enabledCollector, env Env, retryOpts []retry.Option, startup *startupGate) *supervisor {
	startup.pending.Add(1)
	return &supervisor{
		startup: startup,
		name:    c.name,
		build:   c.build,
		env:     env,
		retry:   retryOpts,
		busy:    make(chan struct{}, 1),
	}
}

// start constructs the collector, retrying until it succeeds, is
// unsupported or ctx is done, then runs its Runner until ctx is done.
func (s *supervisor) start(ctx context.Context) {
	c := construct(ctx, s.env, s.retry, "collector", func(ctx context.Context) (Collector, error) {
		c, err := s.build(ctx, s.env)
		s.attempted.Store(true)
		s.startupOver()
		if unsupported(err) {
			s.unsupported.Store(true)
		}
		if err != nil {
			return nil, err
		}
		if isNil(c) {
			return nil, errors.New("constructor returned no collector")
		}
		return c, nil
	})
	s.startupOver() // also when construction was abandoned (shutdown)
	if c == nil {
		return
	}
	s.mu.Lock()
	s.collector = c
	s.mu.Unlock()
	if r, ok := c.(Runner); ok {
		s.run.loop(ctx, r, s.env, s.retry)
		if _, unsupported := s.run.state(); unsupported {
			s.unsupported.Store(true)
		}
	}
}

// isUnsupported reports whether the collector or its background work is
// not supported on this host.
func (s *supervisor) isUnsupported() bool {
	_, runUnsupported := s.run.state()
	return s.unsupported.Load() || runUnsupported
}

func (s *supervisor) current() Collector {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.collector
}

// update runs the collector's Update with ctx and returns the metrics it
// sent, or ctx's error as soon as ctx is done. An Update that overruns ctx
// keeps running in the background; its metrics are dropped and the next
// update waits for it (until that update's ctx is done).
func (s *supervisor) update(ctx context.Context) ([]prometheus.Metric, error) {
	c := s.current()
	if c == nil {
		return nil, errNotBuilt
	}
	metrics, err := s.runUpdate(ctx, c)
	if runErr, _ := s.run.state(); err == nil && runErr != nil {
		err = fmt.Errorf("background work failing: %w", runErr)
	}
	return metrics, err
}

func (s *supervisor) runUpdate(ctx context.Context, c Collector) ([]prometheus.Metric, error) {
	select {
	case s.busy <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("previous update still running: %w", ctx.Err())
	}
	done := make(chan updateResult, 1)
	go func() {
		defer func() { <-s.busy }()
		done <- runUpdate(ctx, c)
	}()
	select {
	case r := <-done:
		return r.metrics, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type updateResult struct {
	metrics []prometheus.Metric
	err     error
}

// runUpdate calls c.Update and gathers what it sends. A panic becomes an
// error, so that one broken collector cannot stop the exporter.
func runUpdate(ctx context.Context, c Collector) (r updateResult) {
	ch := make(chan prometheus.Metric)
	gathered := make(chan struct{})
	go func() {
		defer close(gathered)
		for m := range ch {
			r.metrics = append(r.metrics, m)
		}
	}()
	defer func() {
		close(ch)
		<-gathered
		if p := recover(); p != nil {
			r.err = fmt.Errorf("update panicked: %v", p)
		}
	}()
	r.err = c.Update(ctx, ch)
	return r
}

// close waits for a running Update and closes the collector if it was
// constructed and implements io.Closer. A collector still updating when ctx
// ends is left open (the process is about to exit, which releases what it
// holds) rather than closed under its Update. start must have returned.
func (s *supervisor) close(ctx context.Context) {
	c := s.current()
	if c == nil {
		return
	}
	select {
	case s.busy <- struct{}{}:
	case <-ctx.Done():
		s.env.Logger.Error("Collector still updating at shutdown, leaving it open", "err", ctx.Err())
		return
	}
	defer func() { <-s.busy }()
	closer, ok := c.(io.Closer)
	if !ok {
		return
	}
	if err := closer.Close(); err != nil {
		s.env.Logger.Error("Cannot close collector", "err", err)
	}
}

// startupGate counts the collectors of one exporter whose constructor has
// not returned yet; when none is left, start-up is over (startupDone).
type startupGate struct {
	pending atomic.Int64
	logger  *slog.Logger
}

// startupOver counts s's collector out of its exporter's start-up, once:
// its constructor returned, or will never be called.
func (s *supervisor) startupOver() {
	if s.startedUp.CompareAndSwap(false, true) && s.startup.pending.Add(-1) == 0 {
		startupDone(s.startup.logger)
	}
}

// trimAgainAfter is when the executable's start-up pages are dropped a
// second time, after start-up work that ends later than the constructors
// (background loads, the first scrapes' one-time setup).
const trimAgainAfter = time.Minute

// startupDone lets go of the pages of the executable that only start-up
// used (pagetrim), now and once more trimAgainAfter: they would otherwise
// stay in the process's resident memory for good. Scrapes map again what
// they use.
func startupDone(logger *slog.Logger) {
	trim := func(when string) {
		res, err := pagetrim.Executable()
		if err != nil {
			logger.Debug("Cannot drop the executable's start-up pages", "err", err)
			return
		}
		logger.Debug("Dropped the executable's start-up pages", "when", when, "mappings", res.Mappings,
			"skipped", res.Skipped, "resident_bytes", res.Resident)
	}
	trim("collectors constructed")
	time.AfterFunc(trimAgainAfter, func() { trim("a minute later") })
}
