package limits

import (
	"fmt"
	"testing"

	"github.com/bpfleet/bpfleet/internal/shrink"
)

// After a churn (thousands of keys admitted, then most forgotten), the
// table is rebuilt with exactly the keys that remain: they stay admitted,
// the forgotten ones compete for the freed slots like new keys, and the cap
// still holds.
func TestForgetRebuildsTheTableAfterAChurn(t *testing.T) {
	const max, kept = 5000, 100
	l := New("kernel_process_exits_total", max, nil)
	for i := range max {
		if !l.Admit(fmt.Sprint(i)) {
			t.Fatalf("key %d refused under the cap", i)
		}
	}
	// Keep every 50th key: 100 of 5,000.
	for i := range max {
		if i%(max/kept) != 0 {
			l.Forget(fmt.Sprint(i))
		}
	}
	if l.Len() != kept {
		t.Fatalf("Len() = %d after the churn, want %d", l.Len(), kept)
	}
	if l.peak > max/4 {
		t.Errorf("peak = %d after %d of %d keys were forgotten: the table was not rebuilt", l.peak, max-kept, max)
	}
	// Fill the freed slots with new keys: exactly max-kept fit.
	fresh := 0
	for i := range max {
		if l.Admit(fmt.Sprintf("new-%d", i)) {
			fresh++
		}
	}
	if fresh != max-kept {
		t.Errorf("%d new keys admitted after the churn, want %d", fresh, max-kept)
	}
	for i := range max {
		survivor := i%(max/kept) == 0
		if got := l.Admit(fmt.Sprint(i)); got != survivor {
			t.Errorf("Admit(%d) = %v with the cap full, want %v (a survivor of the churn: %v)", i, got, survivor, survivor)
		}
	}
}

// A small table is left as it is, whatever its use.
func TestForgetLeavesSmallTables(t *testing.T) {
	l := New("kernel_process_exits_total", 0, nil)
	for i := range shrink.MinPeak - 1 {
		l.Admit(fmt.Sprint(i))
	}
	for i := range shrink.MinPeak - 2 {
		l.Forget(fmt.Sprint(i))
	}
	if l.peak != shrink.MinPeak-1 || l.Len() != 1 {
		t.Errorf("peak = %d, Len() = %d; want %d, 1", l.peak, l.Len(), shrink.MinPeak-1)
	}
}
