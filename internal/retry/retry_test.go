package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/retry"
)

var errFlaky = errors.New("flaky")

// fast keeps tests quick; the values are not asserted.
var fast = []retry.Option{retry.Initial(time.Millisecond), retry.Max(2 * time.Millisecond)}

func TestDoRetriesUntilSuccess(t *testing.T) {
	attempts, notified := 0, 0
	op := func(context.Context) error {
		attempts++
		if attempts < 4 {
			return errFlaky
		}
		return nil
	}
	onError := retry.OnError(func(err error, next time.Duration) {
		notified++
		if !errors.Is(err, errFlaky) {
			t.Errorf("OnError got %v, want %v", err, errFlaky)
		}
		if next <= 0 {
			t.Errorf("OnError got next wait %v, want > 0", next)
		}
	})
	if err := retry.Do(t.Context(), op, append(fast, onError)...); err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if attempts != 4 || notified != 3 {
		t.Errorf("attempts = %d, OnError calls = %d; want 4 and 3", attempts, notified)
	}
}

func TestDoStopsAfterTries(t *testing.T) {
	attempts := 0
	op := func(context.Context) error { attempts++; return errFlaky }
	err := retry.Do(t.Context(), op, append(fast, retry.Tries(3))...)
	if !errors.Is(err, errFlaky) {
		t.Errorf("Do = %v, want %v", err, errFlaky)
	}
	if attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
}

func TestDoStopsOnPermanent(t *testing.T) {
	attempts := 0
	op := func(context.Context) error { attempts++; return retry.Permanent(errFlaky) }
	err := retry.Do(t.Context(), op, fast...)
	if !errors.Is(err, errFlaky) {
		t.Errorf("Do = %v, want %v", err, errFlaky)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
}

func TestDoStopsWhenContextIsCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	attempts := 0
	op := func(opCtx context.Context) error {
		if opCtx != ctx {
			t.Error("op did not receive Do's context")
		}
		attempts++
		if attempts == 2 {
			cancel()
		}
		return errFlaky
	}
	err := retry.Do(ctx, op, fast...)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want %v", err, context.Canceled)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
}

func TestDoDoesNotFinishTheWaitOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	attempts := 0
	op := func(context.Context) error { attempts++; return errFlaky }
	// A wait of about an hour: Do can only return promptly by noticing ctx.
	onError := retry.OnError(func(error, time.Duration) { cancel() })
	done := make(chan error, 1)
	go func() { done <- retry.Do(ctx, op, retry.Initial(time.Hour), onError) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want %v", err, context.Canceled)
		}
	case <-time.After(time.Minute):
		t.Fatal("Do did not return after its context was canceled")
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
}

func TestDoWaitsWithinTheCap(t *testing.T) {
	var waits []time.Duration
	op := func(context.Context) error { return errFlaky }
	onError := retry.OnError(func(_ error, next time.Duration) { waits = append(waits, next) })
	_ = retry.Do(t.Context(), op, retry.Initial(time.Microsecond), retry.Max(8*time.Microsecond), retry.Tries(12), onError)
	if len(waits) != 11 {
		t.Fatalf("got %d waits, want 11", len(waits))
	}
	for i, w := range waits {
		if w < time.Microsecond/2 || w > 12*time.Microsecond {
			t.Errorf("wait %d = %v, want within [0.5µs, 12µs] (1µs initial, 8µs cap, ±50%% jitter)", i, w)
		}
	}
}
