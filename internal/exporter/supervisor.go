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
		if err == nil && isNil(c) {
			err = errors.New("constructor returned no collector")
		}
		// What the attempt gave is recorded before it counts as attempted,
		// so that /readyz never answers from an attempt half recorded.
		if unsupported(err) {
			s.unsupported.Store(true)
		}
		if err == nil {
			s.mu.Lock()
			s.collector = c
			s.mu.Unlock()
		}
		s.attempted.Store(true)
		s.startupOver()
		if err != nil {
			return nil, err
		}
		return c, nil
	})
	s.startupOver() // also when construction was abandoned (shutdown)
	if c == nil {
		return
	}
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
// not returned yet; when none is left, start-up is over (done).
type startupGate struct {
	pending atomic.Int64
	logger  *slog.Logger

	mu       sync.Mutex
	stopped  bool          // the exporter shuts down: no second trim
	again    *time.Timer   // the second trim, once scheduled
	trimming chan struct{} // closed when the second trim has returned
}

// startupOver counts s's collector out of its exporter's start-up, once:
// its constructor returned, or will never be called.
func (s *supervisor) startupOver() {
	if s.startedUp.CompareAndSwap(false, true) && s.startup.pending.Add(-1) == 0 {
		s.startup.done()
	}
}

// trimAgainAfter is when the executable's start-up pages are dropped a
// second time, after start-up work that ends later than the constructors
// (background loads, the first scrapes' one-time setup).
const trimAgainAfter = time.Minute

// afterFunc schedules the second trim; tests replace it to see the timer.
var afterFunc = time.AfterFunc

// done lets go of the pages of the executable that only start-up used
// (pagetrim), now and once more trimAgainAfter, unless the exporter stops
// first: they would otherwise stay in the process's resident memory for
// good. Scrapes map again what they use.
func (g *startupGate) done() {
	g.trim("collectors constructed")
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	trimming := make(chan struct{})
	g.again, g.trimming = afterFunc(trimAgainAfter, func() {
		defer close(trimming)
		g.trim("a minute later")
	}), trimming
}

// stop cancels the second trim, or waits for it if it is running already,
// so that nothing of the exporter runs on after it returns.
func (g *startupGate) stop() {
	g.mu.Lock()
	g.stopped = true
	again, trimming := g.again, g.trimming
	g.mu.Unlock()
	if again != nil && !again.Stop() {
		<-trimming
	}
}

// trim drops the executable's start-up pages and logs what it dropped.
func (g *startupGate) trim(when string) {
	res, err := pagetrim.Executable()
	if err != nil {
		g.logger.Debug("Cannot drop the executable's start-up pages", "err", err)
		return
	}
	g.logger.Debug("Dropped the executable's start-up pages", "when", when, "mappings", res.Mappings,
		"skipped", res.Skipped, "resident_bytes", res.Resident)
}
