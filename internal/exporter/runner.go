package exporter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bpfleet/bpfleet/internal/retry"
)

// Runner is background work of a collector or component: a watch, a poll
// loop, a ring-buffer reader. A constructed collector or component that
// implements Runner has Run called in its own goroutine with a context that
// ends at shutdown, before Close.
//
// Run should return only when ctx is done (return nil then) or when it
// fails. A failure is retried with backoff, like a constructor; until Run
// has run again for a second without failing, the collector's scrapes report
// <ns>_scrape_collector_success 0 (what Update serves is still served). An
// error that wraps errors.ErrUnsupported stops it for good, with a warning.
// A Run that returns nil before ctx is done has finished its work and is
// not called again.
type Runner interface {
	Run(ctx context.Context) error
}

// RunFunc adapts a function to Runner.
type RunFunc func(ctx context.Context) error

// Run calls f.
func (f RunFunc) Run(ctx context.Context) error { return f(ctx) }

// RunAll returns a Runner that runs every runner concurrently: the first
// to fail stops the others and Run returns its error (so all are retried
// together); Run returns nil once all returned nil.
func RunAll(runners ...Runner) Runner {
	return RunFunc(func(ctx context.Context) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		var wg sync.WaitGroup
		errs := make([]error, len(runners))
		for i, r := range runners {
			wg.Go(func() {
				if errs[i] = r.Run(ctx); errs[i] != nil {
					cancel(errs[i])
				}
			})
		}
		wg.Wait()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		return errors.Join(errs...)
	})
}

// runHealthyAfter is how long Run must run without failing before its
// previous failure stops counting: a Run that fails at once, again and again,
// keeps the collector failing throughout.
const runHealthyAfter = time.Second

// runState tracks a Runner's latest failure.
type runState struct {
	mu          sync.Mutex
	err         error // the latest failure, until Run is called again
	unsupported bool  // Run said the host cannot support it
}

// state returns the latest failure and whether Run is unsupported.
func (s *runState) state() (err error, unsupported bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err, s.unsupported
}

func (s *runState) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// loop runs r until ctx is done, retrying its failures with backoff. A
// failure after a healthy run (runHealthyAfter) starts the backoff over, so
// that a watch that breaks once a day is reopened at once, not after the
// longest wait.
func (s *runState) loop(ctx context.Context, r Runner, env Env, opts []retry.Option) {
	onError := retry.OnError(func(err error, next time.Duration) {
		env.Logger.Error("Background work failed", "err", err, "retry_in", next)
	})
	for {
		healthyThenFailed := false
		err := retry.Do(ctx, func(ctx context.Context) error {
			started := time.Now()
			healthy := time.AfterFunc(runHealthyAfter, func() { s.set(nil) })
			err := r.Run(ctx)
			healthy.Stop()
			switch {
			case ctx.Err() != nil:
				return nil
			case err == nil:
				s.set(nil) // finished its work
				return nil
			case unsupported(err):
				env.Logger.Warn("Background work not supported on this host; it stays off", "err", err)
				s.mu.Lock()
				s.unsupported = true
				s.mu.Unlock()
				return retry.Permanent(err)
			}
			s.set(err)
			if time.Since(started) >= runHealthyAfter {
				env.Logger.Error("Background work failed; restarting it", "err", err)
				healthyThenFailed = true
				return nil
			}
			return err
		}, append(slices.Clone(opts), onError)...)
		if !healthyThenFailed || ctx.Err() != nil {
			if err != nil && ctx.Err() == nil {
				env.Logger.Debug("Background work stopped", "err", err)
			}
			return
		}
	}
}
