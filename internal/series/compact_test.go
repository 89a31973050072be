package series

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/shrink"
)

// After a churn (5,000 workloads served, then 4,900 of them gone and
// reaped), the Attributor's tables are rebuilt and keep exactly the
// surviving series: their values, their label pairs (built once, before
// the churn) and their cap slots; the reaped keys are forgotten.
func TestTablesRebuiltAfterAChurnKeepTheSurvivors(t *testing.T) {
	const total, kept = 5000, 100
	n := names{}
	now := time.Unix(1000, 0)
	a := New(Options[string]{Labeler: n, MaxSeries: total, Grace: time.Minute, Now: func() time.Time { return now }})
	rows := map[string]uint64{}
	for i := range total {
		key := fmt.Sprintf("w%04d", i)
		n[key], rows[key] = true, uint64(i)
	}
	survivor := func(key string) bool {
		var i int
		fmt.Sscanf(key, "w%d", &i)
		return i%(total/kept) == 0
	}
	pairs := map[string]*dto.LabelPair{} // the survivors' label pairs, as first built
	for _, m := range scrape(t, a, rows) {
		var d dto.Metric
		m.Write(&d)
		if key := d.GetLabel()[0].GetValue(); survivor(key) {
			pairs[key] = d.GetLabel()[0]
		}
	}
	a.Expired()
	// The churn: all but the survivors go; their rows are served until the
	// grace ends, then reaped (deleted from rows, as a collector deletes
	// its map rows).
	for key := range rows {
		if !survivor(key) {
			n[key] = false
		}
	}
	scrape(t, a, rows)
	a.Expired()
	now = now.Add(time.Minute)
	scrape(t, a, rows)
	gone := a.Expired()
	if len(gone) != total-kept {
		t.Fatalf("%d keys expired, want %d", len(gone), total-kept)
	}
	for _, key := range gone {
		delete(rows, key)
	}
	// Two scrapes without them: the known series forget them, and the
	// next Expired rebuilds every table.
	for range 3 {
		got := scrape(t, a, rows)
		a.Expired()
		if len(got) != kept {
			t.Fatalf("%d series served after the churn, want %d", len(got), kept)
		}
	}

	c := a.compaction
	if c.gone != 0 || c.capKeys != kept || c.known[restartsTotal] != kept {
		t.Errorf("peaks after the churn: gone %d, cap keys %d, known %d; want 0, %d, %d (tables rebuilt)",
			c.gone, c.capKeys, c.known[restartsTotal], kept, kept)
	}
	if keys := slices.Sorted(maps.Keys(a.capKeys)); len(keys) != kept || !slices.Equal(keys, slices.Sorted(maps.Keys(rows))) {
		t.Errorf("cap keys after the rebuild = %d keys, want exactly the %d survivors", len(keys), kept)
	}
	for _, m := range scrape(t, a, rows) {
		var d dto.Metric
		m.Write(&d)
		key := d.GetLabel()[0].GetValue()
		if d.GetLabel()[0] != pairs[key] {
			t.Errorf("series %s: label pairs built again after the rebuild", key)
		}
		if v := d.GetCounter().GetValue(); v != float64(rows[key]) {
			t.Errorf("series %s = %v, want %d", key, v, rows[key])
		}
	}
	// The cap slots of the reaped keys are free, the survivors' are kept:
	// exactly total-kept new workloads get series of their own.
	fresh := map[string]uint64{}
	for i := range total {
		key := fmt.Sprintf("new%04d", i)
		n[key], fresh[key] = true, 1
	}
	own := 0
	for _, m := range scrape(t, a, fresh) {
		var d dto.Metric
		m.Write(&d)
		if d.GetLabel()[0].GetValue() != "__overflow__" {
			own++
		}
	}
	if own != total-kept {
		t.Errorf("%d new workloads under the cap after the churn, want %d", own, total-kept)
	}
}

// shrunk rebuilds a table that held shrink.MinPeak rows or more once a
// quarter or less remain, with exactly those rows; a smaller table never.
func TestShrunk(t *testing.T) {
	small := map[int]int{}
	peak, rebuilt := 0, false
	for i := range shrink.MinPeak - 1 {
		small[i] = i
	}
	shrunk(small, &peak, &rebuilt)
	clear(small)
	if shrunk(small, &peak, &rebuilt); rebuilt || peak != shrink.MinPeak-1 {
		t.Errorf("a table of %d rows emptied: rebuilt %v, peak %d; want not rebuilt", shrink.MinPeak-1, rebuilt, peak)
	}

	m := map[int]int{}
	peak = 0
	for i := range shrink.MinPeak + 1 {
		m[i] = -i
	}
	if shrunk(m, &peak, &rebuilt); rebuilt || peak != shrink.MinPeak+1 {
		t.Fatalf("full table: peak %d, rebuilt %v", peak, rebuilt)
	}
	for i := range shrink.MinPeak - 1 {
		delete(m, i)
	}
	got := shrunk(m, &peak, &rebuilt)
	want := map[int]int{shrink.MinPeak - 1: 1 - shrink.MinPeak, shrink.MinPeak: -shrink.MinPeak}
	if !rebuilt || peak != 2 || !maps.Equal(got, want) {
		t.Errorf("2 of %d rows left: rebuilt %v, peak %d, rows %v; want rebuilt, 2, %v", shrink.MinPeak+1, rebuilt, peak, got, want)
	}
}
