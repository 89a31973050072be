package histogram

import (
	"bytes"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

var testDesc = prometheus.NewDesc("test_latency_seconds", "Test latency.", []string{"cpu"}, nil)

// kernelOpts exposes kernel buckets with classic bounds 0.25, 0.5 and 1 s.
var kernelOpts = Opts{Schema: KernelSchema, Scale: 1e-9, Classic: ClassicPowersOfTwo(-2, 0)}

// testSeries has empty buckets inside spans (-14, -13), gaps that open new
// spans (-11 to -5, -3 to -1, 1 to 8), rows that add to one bucket (-16),
// zeros, and 7 observations above the top classic bound (bucket 9).
func testSeries() *Series {
	var s Series
	for _, row := range []struct {
		bucket        int32
		count, rawSum uint64
	}{
		{ZeroBucket, 1, 0},
		{-17, 2, 400_000_000},
		{-16, 1, 240_000_000},
		{-16, 2, 490_000_000},
		{-15, 1, 260_000_000},
		{-12, 4, 1_600_000_000},
		{-4, 5, 3_500_000_000},
		{0, 6, 5_700_000_000},
		{9, 7, 15_000_000_000},
	} {
		s.Add(row.bucket, row.count, row.rawSum)
	}
	return &s
}

func writeMetric(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return &out
}

func span(offset int32, length uint32) *dto.BucketSpan {
	return &dto.BucketSpan{Offset: new(offset), Length: new(length)}
}

func classicBucket(le float64, count uint64) *dto.Bucket {
	return &dto.Bucket{UpperBound: new(le), CumulativeCount: new(count)}
}

func TestSeriesAdd(t *testing.T) {
	s := testSeries()
	if s.Count != 29 || s.RawSum != 27_190_000_000 {
		t.Errorf("Count, RawSum = %d, %d, want 29, 27190000000", s.Count, s.RawSum)
	}
	if got := s.Buckets[-16]; got != 3 {
		t.Errorf("bucket -16 holds %d, want 3", got)
	}
	if got := len(s.Buckets); got != 8 {
		t.Errorf("%d buckets, want 8", got)
	}
}

func TestNewConstMetricWrite(t *testing.T) {
	m, err := NewConstMetric(testDesc, testSeries(), kernelOpts, "3")
	if err != nil {
		t.Fatalf("NewConstMetric: %v", err)
	}
	got := writeMetric(t, m)
	want := &dto.Metric{
		Label: []*dto.LabelPair{{Name: new("cpu"), Value: new("3")}},
		Histogram: &dto.Histogram{
			SampleCount: new(uint64(29)),
			SampleSum:   new(27.19),
			Bucket: []*dto.Bucket{
				classicBucket(0.25, 6), // zero, -17, -16
				classicBucket(0.5, 11), // + -15, -12
				classicBucket(1, 22),   // + -4, 0; bucket 9 only in +Inf = 29
			},
			Schema:        new(int32(3)),
			ZeroThreshold: new(0.0),
			ZeroCount:     new(uint64(1)),
			PositiveSpan:  []*dto.BucketSpan{span(-17, 6), span(7, 1), span(3, 1), span(8, 1)},
			PositiveDelta: []int64{2, 1, -2, -1, 0, 4, 1, 1, 1},
		},
	}
	if !proto.Equal(got, want) {
		t.Errorf("Write:\n%v\nwant:\n%v", prototext.Format(got), prototext.Format(want))
	}
}

// TestNativeMatchesClientGolang observes values in the same buckets with
// client_golang's own native histogram and compares the native fields.
func TestNativeMatchesClientGolang(t *testing.T) {
	s := testSeries()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                        "reference",
		Help:                        "Reference.",
		NativeHistogramBucketFactor: 1.1, // schema 3
	})
	for i, c := range s.Buckets {
		v := 0.0
		if i != ZeroBucket {
			v = 0.99 * nativeBound(KernelSchema, i)
		}
		for range c {
			h.Observe(v)
		}
	}
	ref := writeMetric(t, h).Histogram
	m, err := NewConstMetric(testDesc, s, kernelOpts, "0")
	if err != nil {
		t.Fatalf("NewConstMetric: %v", err)
	}
	got := writeMetric(t, m).Histogram
	if got.GetSchema() != ref.GetSchema() || got.GetZeroCount() != ref.GetZeroCount() {
		t.Errorf("schema, zero count = %d, %d, client_golang %d, %d",
			got.GetSchema(), got.GetZeroCount(), ref.GetSchema(), ref.GetZeroCount())
	}
	gotSpans := &dto.Histogram{PositiveSpan: got.PositiveSpan, PositiveDelta: got.PositiveDelta}
	refSpans := &dto.Histogram{PositiveSpan: ref.PositiveSpan, PositiveDelta: ref.PositiveDelta}
	if !proto.Equal(gotSpans, refSpans) {
		t.Errorf("spans and deltas:\n%v\nclient_golang:\n%v", prototext.Format(gotSpans), prototext.Format(refSpans))
	}
}

func TestNewConstMetricEmpty(t *testing.T) {
	m, err := NewConstMetric(testDesc, &Series{}, kernelOpts, "0")
	if err != nil {
		t.Fatalf("NewConstMetric: %v", err)
	}
	got := writeMetric(t, m).Histogram
	want := &dto.Histogram{
		SampleCount:   new(uint64(0)),
		SampleSum:     new(0.0),
		Bucket:        []*dto.Bucket{classicBucket(0.25, 0), classicBucket(0.5, 0), classicBucket(1, 0)},
		Schema:        new(int32(3)),
		ZeroThreshold: new(0.0),
		ZeroCount:     new(uint64(0)),
		PositiveSpan:  []*dto.BucketSpan{span(0, 0)},
	}
	if !proto.Equal(got, want) {
		t.Errorf("Write:\n%v\nwant:\n%v", prototext.Format(got), prototext.Format(want))
	}
}

func TestNewConstMetricErrors(t *testing.T) {
	valid := testSeries()
	for _, tc := range []struct {
		name   string
		series *Series
		opts   Opts
		labels []string
		want   string
	}{
		{"schema", valid, Opts{Schema: 9, Scale: 1e-9}, []string{"0"}, "schema 9 out of range [-4, 8]"},
		{"scale", valid, Opts{Schema: 3}, []string{"0"}, "scale 0 is not a positive number"},
		{"scale NaN", valid, Opts{Schema: 3, Scale: math.NaN()}, []string{"0"}, "scale NaN is not a positive number"},
		{"bound zero", valid, Opts{Schema: 3, Scale: 1, Classic: []float64{0, 1}}, []string{"0"}, "classic bound 0 is not a positive number"},
		{"bound +Inf", valid, Opts{Schema: 3, Scale: 1, Classic: []float64{1, math.Inf(1)}}, []string{"0"}, "classic bound +Inf is not a positive number"},
		{"bounds order", valid, Opts{Schema: 3, Scale: 1, Classic: []float64{1, 1}}, []string{"0"}, "classic bound 1 does not exceed 1"},
		{"bound off boundary", valid, Opts{Schema: 3, Scale: 1, Classic: []float64{0.3}}, []string{"0"}, "classic bound 0.3 is not a native bucket boundary of schema 3"},
		{"bucket out of range", &Series{Count: 1, Buckets: map[int32]uint64{8200: 1}}, kernelOpts, []string{"0"}, "bucket 8200 outside the float64 range of schema 3"},
		{"count", &Series{Count: 2, Buckets: map[int32]uint64{0: 1}}, kernelOpts, []string{"0"}, "buckets hold 1 observations, count is 2"},
		{"labels", valid, kernelOpts, nil, "inconsistent label cardinality"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConstMetric(testDesc, tc.series, tc.opts, tc.labels...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestClassicBoundsOfSchema(t *testing.T) {
	// 2^(1/8) and 2^(3/8) are boundaries of schema 3, not of schema 2.
	bounds := []float64{math.Pow(2, 0.125), math.Pow(2, 0.375)}
	if _, err := classicIndices(3, bounds); err != nil {
		t.Errorf("schema 3: %v", err)
	}
	if _, err := classicIndices(2, bounds); err == nil {
		t.Error("schema 2 accepted 2^(1/8)")
	}
	got, err := classicIndices(-1, []float64{0.25, 1, 4})
	if err != nil || len(got) != 3 || got[0] != -1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("schema -1: indices %v, %v, want [-1 0 1]", got, err)
	}
}

func TestClassicPowersOfTwo(t *testing.T) {
	got := ClassicPowersOfTwo(-3, 1)
	want := []float64{0.125, 0.25, 0.5, 1, 2}
	if len(got) != len(want) {
		t.Fatalf("ClassicPowersOfTwo(-3, 1) = %v, want %v", got, want)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("ClassicPowersOfTwo(-3, 1) = %v, want %v", got, want)
		}
	}
	if got := ClassicPowersOfTwo(2, 1); got != nil {
		t.Errorf("ClassicPowersOfTwo(2, 1) = %v, want nil", got)
	}
}

// seriesCollector exposes one series per cpu label value.
type seriesCollector map[string]*Series

func (c seriesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- testDesc }

func (c seriesCollector) Collect(ch chan<- prometheus.Metric) {
	for cpu, s := range c {
		m, err := NewConstMetric(testDesc, s, kernelOpts, cpu)
		if err != nil {
			m = prometheus.NewInvalidMetric(testDesc, err)
		}
		ch <- m
	}
}

func testRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(seriesCollector{"0": testSeries(), "1": {}}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return reg
}

const testExposition = `# HELP test_latency_seconds Test latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{cpu="0",le="0.25"} 6
test_latency_seconds_bucket{cpu="0",le="0.5"} 11
test_latency_seconds_bucket{cpu="0",le="1"} 22
test_latency_seconds_bucket{cpu="0",le="+Inf"} 29
test_latency_seconds_sum{cpu="0"} 27.19
test_latency_seconds_count{cpu="0"} 29
test_latency_seconds_bucket{cpu="1",le="0.25"} 0
test_latency_seconds_bucket{cpu="1",le="0.5"} 0
test_latency_seconds_bucket{cpu="1",le="1"} 0
test_latency_seconds_bucket{cpu="1",le="+Inf"} 0
test_latency_seconds_sum{cpu="1"} 0
test_latency_seconds_count{cpu="1"} 0
`

func TestGatherText(t *testing.T) {
	if err := testutil.GatherAndCompare(testRegistry(t), strings.NewReader(testExposition)); err != nil {
		t.Error(err)
	}
}

// TestGatherProtobuf checks that the native fields survive the protobuf
// exposition format that Prometheus scrapes native histograms with.
func TestGatherProtobuf(t *testing.T) {
	families, err := testRegistry(t).Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	}
	var got dto.MetricFamily
	if err := expfmt.NewDecoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim)).Decode(&got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(families) != 1 || !proto.Equal(&got, families[0]) {
		t.Errorf("decoded:\n%v\nwant:\n%v", prototext.Format(&got), families)
	}
	if h := got.GetMetric()[0].GetHistogram(); len(h.GetPositiveSpan()) != 4 || h.GetSchema() != 3 {
		t.Errorf("cpu 0: %d spans of schema %d, want 4 of schema 3", len(h.GetPositiveSpan()), h.GetSchema())
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH")
	}
	families, err := testRegistry(t).Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &text
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// Histograms made by one Batch share its blocks: each must still write what
// it would alone once many more were made after it (more than one block of
// buckets, spans and deltas), and none may change when its Series does.
func TestBatchHistogramsStayApart(t *testing.T) {
	b, err := NewBatch(kernelOpts)
	if err != nil {
		t.Fatal(err)
	}
	var series []*Series
	var made []prometheus.Metric
	for i := range 1500 { // 4,500 classic buckets: more than a block
		s := testSeries()
		// Vary the rows: a gap and a count that differ per histogram.
		s.Add(int32(10+i%50), uint64(i+1), uint64(i))
		if i%3 == 0 {
			s = &Series{}
		}
		m, err := b.Metric(testDesc, prometheus.MakeLabelPairs(testDesc, []string{strconv.Itoa(i)}), s)
		if err != nil {
			t.Fatal(err)
		}
		series, made = append(series, s), append(made, m)
	}
	for i, m := range made {
		alone, err := NewConstMetric(testDesc, series[i], kernelOpts, strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		series[i].Add(0, 1, 1) // after it was made: must not show
		if got, want := writeMetric(t, m), writeMetric(t, alone); !proto.Equal(got, want) {
			t.Fatalf("histogram %d:\n%v\nwant:\n%v", i, prototext.Format(got), prototext.Format(want))
		}
	}
}
