package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/retry"
)

// errNotBuilt is what a scrape gets from a collector that is not constructed
// yet.
var errNotBuilt = errors.New("collector not constructed yet")

// supervisor owns one enabled collector: it constructs it in the background,
// retrying with backoff, runs its Updates one at a time and closes it.
type supervisor struct {
	name  string
	build New
	env   Env
	retry []retry.Option

	attempted atomic.Bool   // the constructor has returned at least once
	busy      chan struct{} // holds a token while Update runs

	mu        sync.Mutex
	collector Collector
}

func newSupervisor(c enabledCollector, env Env, retryOpts []retry.Option) *supervisor {
	return &supervisor{
		name:  c.name,
		build: c.build,
		env:   env,
		retry: retryOpts,
		busy:  make(chan struct{}, 1),
	}
}

// run constructs the collector, retrying until it succeeds or ctx is done.
func (s *supervisor) run(ctx context.Context) {
	onError := retry.OnError(func(err error, next time.Duration) {
		s.env.Logger.Error("Cannot construct collector", "err", err, "retry_in", next)
	})
	if err := retry.Do(ctx, s.construct, append(slices.Clone(s.retry), onError)...); err != nil {
		s.env.Logger.Debug("Collector construction stopped", "err", err)
	}
}

func (s *supervisor) construct(ctx context.Context) error {
	c, err := s.build(ctx, s.env)
	s.attempted.Store(true)
	if unsupported(err) {
		// Retrying cannot help: this kernel lacks a hook or feature.
		s.env.Logger.Warn("Collector not supported on this host; it stays off", "err", err)
		return retry.Permanent(err)
	}
	if err != nil {
		return err
	}
	if c == nil {
		return errors.New("constructor returned no collector")
	}
	s.mu.Lock()
	s.collector = c
	s.mu.Unlock()
	s.env.Logger.Info("Collector ready")
	return nil
}

// unsupported reports whether err says that this host lacks a kernel
// feature or hook, which retrying cannot change.
func unsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ebpf.ErrNotSupported)
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
// holds) rather than closed under its Update. run must have returned.
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
