package exporter

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The second drop of the start-up pages, scheduled once the collectors are
// constructed, does not outlive the exporter: when MainContext returns, its
// timer is stopped (trimAgainAfter is a minute, so it cannot have fired).
func TestSecondTrimStoppedAtShutdown(t *testing.T) {
	const waitFor = 20 * time.Second
	scheduled := make(chan *time.Timer, 1)
	afterFunc = func(d time.Duration, f func()) *time.Timer {
		timer := time.AfterFunc(d, f)
		scheduled <- timer
		return timer
	}
	t.Cleanup(func() { afterFunc = time.AfterFunc })

	p := Program{
		Name:      "test_exporter",
		Namespace: "test",
		Collectors: []Spec{{
			Name:    "nothing",
			Default: true,
			Constructor: func(context.Context, Env) (Collector, error) {
				return noMetrics{}, nil
			},
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- MainContext(ctx, p, []string{"--web.listen-address=127.0.0.1:0"}, io.Discard, io.Discard)
	}()

	var timer *time.Timer
	select {
	case timer = <-scheduled:
	case code := <-exited:
		t.Fatalf("exporter exited with %d before scheduling the second trim", code)
	case <-time.After(waitFor):
		t.Fatalf("second trim not scheduled within %v", waitFor)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("MainContext = %d, want 0", code)
		}
	case <-time.After(waitFor):
		t.Fatalf("exporter did not stop within %v", waitFor)
	}
	if timer.Stop() {
		t.Error("the second trim was still pending after MainContext returned")
	}
}

// A second drop of the start-up pages that is running when the exporter
// stops is waited for: stop returns only once it has.
func TestStopWaitsForTheSecondTrim(t *testing.T) {
	afterFunc = func(_ time.Duration, f func()) *time.Timer {
		fired := make(chan struct{})
		timer := time.AfterFunc(0, func() { close(fired) })
		<-fired // expired: Stop cannot cancel f any more
		go f()
		return timer
	}
	t.Cleanup(func() { afterFunc = time.AfterFunc })
	g := &startupGate{}
	h := &untilStopped{gate: g, entered: make(chan struct{})}
	g.logger = slog.New(h)
	g.done()
	select {
	case <-h.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("second trim not run")
	}
	g.stop()
	if !h.finished.Load() {
		t.Error("stop returned before the second trim did")
	}
}

// untilStopped is a log handler that holds the second record it is given
// (the second trim's) until gate is stopped, then sets finished.
type untilStopped struct {
	gate     *startupGate
	records  atomic.Int32
	entered  chan struct{}
	finished atomic.Bool
}

func (*untilStopped) Enabled(context.Context, slog.Level) bool { return true }
func (h *untilStopped) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *untilStopped) WithGroup(string) slog.Handler          { return h }

func (h *untilStopped) Handle(context.Context, slog.Record) error {
	if h.records.Add(1) != 2 {
		return nil
	}
	close(h.entered)
	for {
		h.gate.mu.Lock()
		stopped := h.gate.stopped
		h.gate.mu.Unlock()
		if stopped {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.finished.Store(true)
	return nil
}

type noMetrics struct{}

func (noMetrics) Update(context.Context, chan<- prometheus.Metric) error { return nil }
