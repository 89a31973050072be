package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// benchKeys is the keyspace size of BenchmarkKeyspacePass:
// $ETCD_EXPORTER_BENCH_KEYS, 1000000 by default.
func benchKeys(b *testing.B) int {
	if s := os.Getenv("ETCD_EXPORTER_BENCH_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1000000
}

// afterPass is when BenchmarkKeyspacePass reads what the exporter keeps
// resident after its pass.
const afterPass = 5 * time.Second

// BenchmarkKeyspacePass loads a real etcd with benchKeys keys of 100-byte
// values under 10 Kubernetes-shaped prefixes, then runs the exporter
// binary and reports its first keyspace pass: its duration, the
// exporter's peak RSS and its RSS afterPass later, and what the pass cost
// etcd (range requests and bytes etcd sent, from etcd's own metrics). Each
// iteration is one exporter start; run with -benchtime=1x.
func BenchmarkKeyspacePass(b *testing.B) {
	n := benchKeys(b)
	e := etcdtest.Start(b, etcdtest.Options{Args: []string{"--max-txn-ops=1000", "--quota-backend-bytes=8589934592"}})
	cli := e.Client(b)
	value := strings.Repeat("v", 100)
	for i := 0; i < n; i += 1000 {
		var ops []clientv3.Op
		for j := i; j < min(n, i+1000); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/resource-%d/ns-%d/obj-%07d", j%10, j%100, j), value))
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		ranges0, sent0 := etcdLoad(b, e.Endpoint)
		p := exportertest.Start(b, binary, "--etcd.endpoints="+e.Endpoint, "--no-collector.sync", "--no-collector.lease",
			"--collector.keyspace.scan-interval=1h", "--etcd.request-timeout=60s")
		var took float64
		deadline := time.Now().Add(10 * time.Minute)
		for {
			fams, err := p.Scrape()
			if err != nil {
				b.Fatal(err)
			}
			if d := exportertest.ByLabel(fams, "etcd_keyspace_scan_duration_seconds", ""); len(d) == 1 {
				took = d[""]
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no pass within 10 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
		ranges1, sent1 := etcdLoad(b, e.Endpoint)
		b.ReportMetric(took, "pass-s")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmHWM"))/(1<<20), "exporter-peak-RSS-MiB")
		// What the exporter keeps between passes: a few seconds after it.
		time.Sleep(afterPass)
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmRSS"))/(1<<20), "exporter-RSS-after-MiB")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "RssAnon"))/(1<<20), "exporter-anon-after-MiB")
		b.ReportMetric(ranges1-ranges0, "etcd-range-requests")
		b.ReportMetric((sent1-sent0)/(1<<20), "etcd-sent-MiB")
		p.Terminate(b)
	}
}

// etcdLoad returns etcd's handled Range and RangeStream requests and the
// bytes it sent to clients, from its /metrics.
func etcdLoad(b *testing.B, endpoint string) (ranges, sent float64) {
	b.Helper()
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(line, "grpc_server_handled_total{") &&
			(strings.Contains(line, `grpc_method="Range"`) || strings.Contains(line, `grpc_method="RangeStream"`)):
			ranges += v
		case strings.HasPrefix(line, "etcd_network_client_grpc_sent_bytes_total"):
			sent += v
		}
	}
	return ranges, sent
}
