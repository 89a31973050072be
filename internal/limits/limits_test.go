package limits_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

const metric = "kernel_process_exits_total"

func newSelf(t *testing.T) (*selfmetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New("kernel_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = self.Shutdown(t.Context()) })
	return self, reg
}

// step is one call on a Limiter: Admit(key), expecting want, or Forget(key).
type step struct {
	forget bool
	key    string
	want   bool
}

func admit(key string, want bool) step { return step{key: key, want: want} }
func forget(key string) step           { return step{forget: true, key: key} }

func TestLimiter(t *testing.T) {
	tests := []struct {
		name         string
		max          int
		steps        []step
		wantLen      int
		wantOverflow int // <ns>_exporter_series_overflow_total{metric}; 0: no series
	}{
		{
			name:    "under the cap admits every key",
			max:     3,
			steps:   []step{admit("a", true), admit("b", true), admit("c", true)},
			wantLen: 3,
		},
		{
			name:         "over the cap refuses new keys",
			max:          2,
			steps:        []step{admit("a", true), admit("b", true), admit("c", false), admit("d", false)},
			wantLen:      2,
			wantOverflow: 2,
		},
		{
			name: "admitted keys stay admitted at later scrapes",
			max:  2,
			steps: []step{
				admit("a", true), admit("b", true), admit("c", false), // scrape 1
				admit("c", false), admit("b", true), admit("a", true), // scrape 2
			},
			wantLen:      2,
			wantOverflow: 2,
		},
		{
			name: "forget frees a slot for the next new key",
			max:  2,
			steps: []step{
				admit("a", true), admit("b", true), admit("c", false),
				forget("a"),
				admit("c", true), admit("a", false),
			},
			wantLen:      2,
			wantOverflow: 2,
		},
		{
			name:         "forgetting an unknown key does nothing",
			max:          1,
			steps:        []step{admit("a", true), forget("z"), admit("b", false)},
			wantLen:      1,
			wantOverflow: 1,
		},
		{
			name:    "a cap of 0 admits everything",
			max:     0,
			steps:   []step{admit("a", true), admit("b", true), admit("c", true)},
			wantLen: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self, reg := newSelf(t)
			l := limits.New(metric, tt.max, self)
			for i, s := range tt.steps {
				if s.forget {
					l.Forget(s.key)
					continue
				}
				if got := l.Admit(s.key); got != s.want {
					t.Errorf("step %d: Admit(%q) = %v, want %v", i, s.key, got, s.want)
				}
			}
			if got := l.Len(); got != tt.wantLen {
				t.Errorf("Len() = %d, want %d", got, tt.wantLen)
			}
			want := ""
			if tt.wantOverflow > 0 {
				want = fmt.Sprintf(`
# HELP kernel_exporter_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE kernel_exporter_series_overflow_total counter
kernel_exporter_series_overflow_total{metric=%q} %d
`, metric, tt.wantOverflow)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kernel_exporter_series_overflow_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLimiterWithoutSelfMetrics(t *testing.T) {
	l := limits.New(metric, 1, nil)
	if !l.Admit("a") || l.Admit("b") {
		t.Error("want a admitted and b refused")
	}
}

func TestOverflowValues(t *testing.T) {
	if got := limits.OverflowValues(4); !slices.Equal(got, []string{"__overflow__", "", "", ""}) {
		t.Errorf("OverflowValues(4) = %q, want __overflow__ and three empty values", got)
	}
	if got := limits.OverflowValues(0); len(got) != 0 {
		t.Errorf("OverflowValues(0) = %q, want none", got)
	}
}

// TestLimiterConcurrentAdmitsHonourTheCap races many goroutines admitting
// distinct keys: exactly max are admitted, the others refused and counted.
func TestLimiterConcurrentAdmitsHonourTheCap(t *testing.T) {
	const max, workers, perWorker = 10, 8, 50
	self, reg := newSelf(t)
	l := limits.New(metric, max, self)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if l.Admit(fmt.Sprintf("%d/%d", w, i)) {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != max || l.Len() != max {
		t.Errorf("admitted %d, Len() = %d; want %d", admitted, l.Len(), max)
	}
	want := fmt.Sprintf(`
# HELP kernel_exporter_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE kernel_exporter_series_overflow_total counter
kernel_exporter_series_overflow_total{metric=%q} %d
`, metric, workers*perWorker-max)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
