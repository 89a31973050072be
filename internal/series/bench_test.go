package series_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/bpfleet/bpfleet/internal/gather"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/series"
)

// workloads labels ids as the workload resolver does: four labels.
type workloads []string

func (workloads) LabelNames() []string { return []string{"cgroup", "namespace", "pod", "container"} }

func (w workloads) Labels(_ context.Context, key int) ([]string, bool) {
	return []string{w[key], "ns", "pod-" + w[key], "c"}, true
}

// BenchmarkScrapeHistograms is one scrape of 2,000 workloads' latency
// histograms (12 native buckets each, as a busy workload fills), from the
// rows to the text exposition, as the exporter serves them.
func BenchmarkScrapeHistograms(b *testing.B) {
	const keys, buckets = 2000, 12
	w := make(workloads, keys)
	for i := range w {
		w[i] = fmt.Sprintf("/kubepods/pod-%04d/c", i)
	}
	attr := series.New(series.Options[int]{Labeler: w})
	opts := histogram.Opts{Schema: histogram.KernelSchema, Scale: 1e-9, Classic: histogram.ClassicPowersOfTwo(-20, 3)}
	b.ReportAllocs()
	for b.Loop() {
		s := attr.Begin(context.Background())
		for k := range keys {
			for j := range int32(buckets) {
				s.Histogram(latency, k, 20+3*j, uint64(k+1), uint64(k+1)<<(20+j/2), "ipv4")
			}
		}
		families, err := gather.Gather(nil, func(ch chan<- prometheus.Metric) {
			if err := s.Emit(ch, opts); err != nil {
				b.Error(err)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range families {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
		if n := len(families[0].Metric); n != keys {
			b.Fatalf("%d series, want %d", n, keys)
		}
	}
	b.ReportMetric(float64(keys), "series")
}
