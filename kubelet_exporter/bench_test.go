package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// summaryOfPods is the summary captured from the real kubelet with its
// writer pod (two containers, one emptyDir) copied n times.
func summaryOfPods(b *testing.B, n int) []byte {
	b.Helper()
	raw, err := os.ReadFile("collector/testdata/summary.json")
	if err != nil {
		b.Fatal(err)
	}
	var s stats.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		b.Fatal(err)
	}
	writer := s.Pods[0]
	s.Pods = nil
	for i := range n {
		p := writer
		p.PodRef = stats.PodReference{Namespace: fmt.Sprintf("ns-%d", i%20), Name: fmt.Sprintf("pod-%d", i), UID: fmt.Sprintf("uid-%d", i)}
		s.Pods = append(s.Pods, p)
	}
	out, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkScrape500Pods: the exporter binary scraped while its kubelet
// serves a 500-pod summary (a TLS server replaying the reply built from
// the real kubelet's: the real kubelet here cannot run 500 pods). Reports
// each scrape's time, the exporter's RSS before the first scrape and its
// peak RSS (VmHWM) after b.N scrapes.
func BenchmarkScrape500Pods(b *testing.B) {
	body := summaryOfPods(b, 500)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	dir := b.TempDir()
	ca := dir + "/ca.crt"
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(dir+"/token", []byte("t"), 0o600)
	p := exportertest.Start(b, binary, "--kubelet.address="+srv.URL, "--kubelet.ca-file="+ca,
		"--kubelet.token-file="+dir+"/token", "--kubelet.min-interval=0s")
	defer p.Terminate(b)
	idle := float64(exportertest.ProcStatus(b, p.Pid(), "VmRSS"))
	p.WaitForMetric(b, "kubelet_summary_scrape_collector_success", "collector", map[string]float64{"summary": 1})
	b.ResetTimer()
	for range b.N {
		if r := p.Get(b, "/metrics"); r.Code != 200 {
			b.Fatalf("scrape: %d", r.Code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(body)), "reply-bytes")
	b.ReportMetric(idle, "idle-rss-bytes")
	b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmHWM")), "peak-rss-bytes")
}
