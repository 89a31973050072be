package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
)

// syntheticSummary is the captured summary with its writer pod copied n
// times (distinct names and UIDs): a node of n pods of two containers and
// one emptyDir each.
func syntheticSummary(tb testing.TB, n int) []byte {
	tb.Helper()
	s := decodeFile(tb, "summary.json")
	writer := s.Pods[0]
	out := stats.Summary{Node: s.Node}
	for i := range n {
		p := writer
		p.PodRef = stats.PodReference{Namespace: fmt.Sprintf("ns-%d", i%20), Name: fmt.Sprintf("pod-%d", i), UID: fmt.Sprintf("uid-%d", i)}
		out.Pods = append(out.Pods, p)
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecodeAndCollect500Pods: one scrape's work on a 500-pod node:
// decode the reply as a stream, then build every metric. Reports the reply
// size, the series served and the heap live while the decoded summary is
// held (what a scrape adds to the exporter's heap at its peak).
func BenchmarkDecodeAndCollect500Pods(b *testing.B) {
	raw := syntheticSummary(b, 500)
	series := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range b.N {
		s, err := kubelet.DecodeSummary(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		series = collect(s)
	}
	b.StopTimer()
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(len(raw)), "reply-bytes")
	b.ReportMetric(float64(heldHeap(b, raw)), "summary-heap-bytes")
}

// BenchmarkCollect500Pods: building the metrics alone, from a decoded
// summary.
func BenchmarkCollect500Pods(b *testing.B) {
	s, err := kubelet.DecodeSummary(bytes.NewReader(syntheticSummary(b, 500)))
	if err != nil {
		b.Fatal(err)
	}
	series := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		series = collect(s)
	}
	b.ReportMetric(float64(series), "series")
}

func collect(s *kubelet.Summary) int {
	ch := make(chan prometheus.Metric, 256)
	done := make(chan int)
	go func() {
		n := 0
		for range ch {
			n++
		}
		done <- n
	}()
	Emit(s, nil, ch)
	close(ch)
	return <-done
}

// heldHeap returns the heap that a decoded summary of raw holds.
func heldHeap(b *testing.B, raw []byte) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := kubelet.DecodeSummary(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(raw) // counted in before: keep it out of the difference
	return after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
}
