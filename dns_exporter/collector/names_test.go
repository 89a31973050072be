package collector

import (
	"context"
	"encoding/binary"
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
)

func wire(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func TestParseName(t *testing.T) {
	long := wire(strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 61))
	tooLong := wire(strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 62))
	for _, tc := range []struct {
		name string
		wire []byte
		want string
		ok   bool
	}{
		{"plain", wire("www", "Example", "COM"), "www.example.com.", true},
		{"root", []byte{0}, ".", true},
		{"qtype and class after the name are ignored", append(wire("a", "b"), 0, 1, 0, 1), "a.b.", true},
		{"escapes", wire("a.b", "c\\d", "e f", "\x01"), `a\046b.c\092d.e\032f.\001.`, true},
		{"255 bytes", long, strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + ".", true},
		{"256 bytes", tooLong, "", false},
		{"empty", nil, "", false},
		{"no end", wire("a", "b")[:4], "", false},
		{"label past the end", []byte{5, 'a', 'b'}, "", false},
		{"compression pointer", []byte{1, 'a', 0xc0, 12}, "", false},
		{"reserved label type", []byte{0x41, 'a'}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseName(tc.wire)
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("ParseName = %q, %v; want %q, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	f.Add(wire("www", "example", "com"))
	f.Add([]byte{0xc0, 0})
	f.Add([]byte{63})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseName(b)
		if err != nil {
			return
		}
		if !strings.HasSuffix(name, ".") {
			t.Errorf("name %q does not end with a dot", name)
		}
		if name != strings.ToLower(name) {
			t.Errorf("name %q is not lower case", name)
		}
		for _, c := range name {
			if c < '!' || c > '~' {
				t.Errorf("name %q has unescaped %q", name, c)
			}
		}
	})
}

// nameEvent is the raw ring-buffer record of struct name_event for name
// (in wire format) received by cgroup.
func nameEvent(t *testing.T, cgroup uint64, name []byte) []byte {
	t.Helper()
	ev := dnsNameEvent{Cgroup: cgroup, Len: uint32(len(name))}
	copy(ev.Name[:], name)
	raw, err := binary.Append(nil, binary.NativeEndian, &ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDecodeNameEvent(t *testing.T) {
	raw := nameEvent(t, 42, wire("Nx", "Example", "com"))
	if len(raw) != nameEventSize {
		t.Fatalf("record of %d bytes, want sizeof(struct name_event) %d", len(raw), nameEventSize)
	}
	name, cgroup, err := decodeNameEvent(raw)
	if name != "nx.example.com." || cgroup != 42 || err != nil {
		t.Errorf("decodeNameEvent = %q, %d, %v; want nx.example.com., 42", name, cgroup, err)
	}
	if _, _, err := decodeNameEvent(raw[:nameEventSize-1]); err == nil {
		t.Error("a short record decoded")
	}
	long := nameEvent(t, 42, nil)
	binary.NativeEndian.PutUint32(long[8:], 256) // len past name[255]
	if _, _, err := decodeNameEvent(long); err == nil {
		t.Error("a record with len 256 decoded")
	}
}

// podLabeler labels cgroup ids as pods at pod granularity: two containers
// of one pod are one label set.
type podLabeler map[uint64][]string

func (p podLabeler) LabelNames() []string { return []string{"namespace", "pod"} }

func (p podLabeler) Labels(_ context.Context, id uint64) ([]string, bool) { return p[id], true }

// scrapeFunc is an unchecked prometheus.Collector of one scrape's series.
type scrapeFunc func(ch chan<- prometheus.Metric)

func (f scrapeFunc) Describe(chan<- *prometheus.Desc)    {}
func (f scrapeFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// TestNXDOMAINByNameOverflowCountedOncePerSeries: --collector.dns.names.max
// bounds the name label's values as responses arrive, and the metric's
// series cap (--collector.dns.max-series) is its only limiter, which puts
// each workload label set to it once per scrape. Before, a second limiter
// for names counted every (cgroup, name) row refused under the same metric
// name, every scrape: 1, 4, 7 below instead of 0, 1, 2.
func TestNXDOMAINByNameOverflowCountedOncePerSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New(namespace+"_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	pods := podLabeler{1: {"shop", "web-0"}, 2: {"shop", "db-0"}, 3: {"shop", "db-0"}}
	attr := series.New(series.Options[uint64]{Labeler: pods, Self: self, MaxSeries: 1})
	names := newNameCounter(nil, 1, self, "dns")
	scrape := func(want string) {
		t.Helper()
		s := attr.Begin(t.Context())
		names.add(s)
		emit := scrapeFunc(func(ch chan<- prometheus.Metric) {
			if err := s.Emit(ch, latencyOpts); err != nil {
				t.Error(err)
			}
		})
		if err := testutil.CollectAndCompare(emit, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
	}
	const head = `# HELP dns_nxdomain_responses_by_name_total ` + `NXDOMAIN responses received by the workload, by queried name (--collector.dns.names; names beyond the first --collector.dns.names.max are counted under name="__overflow__").
# TYPE dns_nxdomain_responses_by_name_total counter
`
	names.handle(nameEvent(t, 1, wire("a", "test")))
	names.handle(nameEvent(t, 1, wire("b", "test"))) // a second name: over names.max
	scrape(head + `dns_nxdomain_responses_by_name_total{name="a.test.",namespace="shop",pod="web-0"} 1
dns_nxdomain_responses_by_name_total{name="__overflow__",namespace="shop",pod="web-0"} 1
`)
	checkSeriesOverflow(t, reg, 0)

	// db-0 (two containers, one label set) is a second workload: over
	// max-series. It is refused once per scrape, however many rows and
	// names it has.
	names.handle(nameEvent(t, 2, wire("a", "test")))
	names.handle(nameEvent(t, 3, wire("a", "test")))
	names.handle(nameEvent(t, 3, wire("c", "test")))
	for scrapes := 1; scrapes <= 2; scrapes++ {
		scrape(head + `dns_nxdomain_responses_by_name_total{name="a.test.",namespace="shop",pod="web-0"} 1
dns_nxdomain_responses_by_name_total{name="__overflow__",namespace="shop",pod="web-0"} 1
dns_nxdomain_responses_by_name_total{name="a.test.",namespace="__overflow__",pod=""} 2
dns_nxdomain_responses_by_name_total{name="__overflow__",namespace="__overflow__",pod=""} 1
`)
		checkSeriesOverflow(t, reg, scrapes)
	}
}

// checkSeriesOverflow checks dns_exporter_series_overflow_total of
// dns_nxdomain_responses_by_name_total.
func checkSeriesOverflow(t *testing.T, reg *prometheus.Registry, want int) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	for _, f := range fams {
		if f.GetName() != "dns_exporter_series_overflow_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "metric" && l.GetValue() == nxdomainByName.Name {
					got = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got != float64(want) {
		t.Errorf("dns_exporter_series_overflow_total{metric=%q} = %v, want %d", nxdomainByName.Name, got, want)
	}
}

// A name's slot is released once the last workload that has it is
// forgotten; names folded meanwhile stay in the overflow name.
func TestNameSlotsReleasedWithTheirWorkloads(t *testing.T) {
	n := newNameCounter(nil, 1, nil, "dns")
	n.count(1, "a.test.")
	n.count(2, "a.test.")
	n.count(2, "b.test.")
	n.forget(map[uint64]bool{1: true})
	n.count(3, "c.test.") // a.test. still has cgroup 2
	n.forget(map[uint64]bool{2: true})
	n.count(3, "d.test.") // a.test.'s slot is free
	n.count(3, "e.test.")
	want := map[nameKey]uint64{
		{3, limits.OverflowLabel}: 2, // c and e
		{3, "d.test."}:            1,
	}
	if !maps.Equal(n.counts, want) {
		t.Errorf("counts %v, want %v", n.counts, want)
	}
	if !maps.Equal(n.names, map[string]int{"d.test.": 1}) {
		t.Errorf("names %v, want only d.test.", n.names)
	}
}
