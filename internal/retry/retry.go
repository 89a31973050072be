// Package retry runs an operation until it succeeds, waiting between attempts
// with capped exponential backoff and jitter. It is a thin layer over
// github.com/cenkalti/backoff/v5 with the defaults bpfleet uses everywhere:
// first wait 1s, doubling, ±50% jitter, at most 60s between attempts, and no
// limit on the number of attempts or the total time.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Defaults of Do.
const (
	DefaultInitial = time.Second
	DefaultMax     = 60 * time.Second
)

const (
	multiplier = 2
	jitter     = 0.5
)

// Option configures Do.
type Option func(*config)

type config struct {
	initial, max time.Duration
	tries        uint
	onError      func(err error, next time.Duration)
}

// Initial sets the wait after the first failure (DefaultInitial if unset or
// not positive). Later waits double, up to the cap set by Max.
func Initial(d time.Duration) Option {
	return func(c *config) { c.initial = d }
}

// Max caps the base wait between two attempts (DefaultMax if unset or not
// positive). Each wait is drawn within ±50% of its base, so no wait exceeds
// 1.5 × Max.
func Max(d time.Duration) Option {
	return func(c *config) { c.max = d }
}

// Tries limits the number of attempts, the first included; 0 (the default)
// retries until success or until the context is done.
func Tries(n uint) Option {
	return func(c *config) { c.tries = n }
}

// OnError registers f, called after each failed attempt that will be retried
// with the attempt's error and the wait before the next attempt; typically it
// logs. It is not called for the last failure that Do returns.
func OnError(f func(err error, next time.Duration)) Option {
	return func(c *config) { c.onError = f }
}

// Permanent wraps err so that Do stops retrying and returns err.
func Permanent(err error) error {
	return backoff.Permanent(err)
}

// Do calls op until it returns nil, waiting between attempts as configured.
// op is always called at least once and receives ctx. Do returns nil on
// success; op's error when it was wrapped by Permanent or when the Tries
// limit is reached; and context.Cause(ctx) as soon as ctx is done, without
// waiting for the next attempt.
func Do(ctx context.Context, op func(context.Context) error, opts ...Option) error {
	c := config{initial: DefaultInitial, max: DefaultMax}
	for _, o := range opts {
		o(&c)
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		return struct{}{}, op(ctx)
	}, c.retryOptions()...)
	return err
}

func (c config) retryOptions() []backoff.RetryOption {
	opts := []backoff.RetryOption{
		backoff.WithBackOff(c.backOff()),
		backoff.WithMaxElapsedTime(0),
		backoff.WithMaxTries(c.tries),
	}
	if c.onError != nil {
		opts = append(opts, backoff.WithNotify(c.onError))
	}
	return opts
}

func (c config) backOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.initial
	if b.InitialInterval <= 0 {
		b.InitialInterval = DefaultInitial
	}
	b.MaxInterval = c.max
	if b.MaxInterval <= 0 {
		b.MaxInterval = DefaultMax
	}
	b.Multiplier = multiplier
	b.RandomizationFactor = jitter
	return b
}
