package collector

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func dropsCollectorOf(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	return newDrops(ctx, env, hostPaths())
}

// TestDropsOverflowCountsPodsOncePerScrape: three pods, each dropping
// packets for two reasons (NO_SOCKET: datagrams to a closed port;
// SOCKET_RCVBUFF: datagrams to a socket whose receive buffer is full), and
// --collector.drops.max-series=1. Each scrape admits one pod and folds the
// other two into the overflow series, so
// cni_exporter_series_overflow_total{metric="cni_packet_drops_total"} rises
// by exactly 2 per scrape: a pod is admitted once per scrape, not once per
// drop reason (which counted 4 or more per scrape).
func TestDropsOverflowCountsPodsOncePerScrape(t *testing.T) {
	const pods, scrapes = 3, 3
	ctd := testenv.StartContainerd(t)
	h := collectortest.New(t, "cni", "drops", dropsCollectorOf,
		collectortest.WithCRIEndpoint(ctd.Endpoint), collectortest.WithMaxSeries(1))
	podOf := map[uint64]string{} // network namespace inode → pod
	for i := range pods {
		name := fmt.Sprintf("web-%d", i)
		path := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: name}).Netns
		if err := sendUDP(path, "127.0.0.1:9", 3); err != nil {
			t.Fatal(err)
		}
		if err := overflowUDP(path); err != nil {
			t.Fatal(err)
		}
		ino, ok := inode(path)
		if !ok {
			t.Fatalf("no inode for %s", path)
		}
		podOf[ino] = name
	}
	rows, err := maps.ReadCounters(h.C.(*dropsCollector).objs.DropCounts)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for k := range rows {
		if pod, ok := podOf[k.ID]; ok {
			reasons[pod]++
		}
	}
	for _, pod := range podOf {
		if reasons[pod] < 2 {
			t.Fatalf("pod %s dropped for %d reasons, the test needs 2 or more", pod, reasons[pod])
		}
	}

	var last collectortest.Snapshot
	for range scrapes {
		last = h.Scrape()
	}
	if got, want := overflowTotal(t, h.Registry, "cni_packet_drops_total"), float64((pods-1)*scrapes); got != want {
		t.Errorf("cni_exporter_series_overflow_total = %v after %d scrapes, want %v", got, scrapes, want)
	}
	own := map[string]bool{}
	overflowed := false
	for _, m := range last {
		switch ns := labelOf(m, "namespace"); ns {
		case "shop":
			own[labelOf(m, "pod")] = true
		case "__overflow__":
			overflowed = overflowed || labelOf(m, "reason") == "NO_SOCKET"
		}
	}
	if len(own) != 1 || !overflowed {
		t.Errorf("pods with series of their own %v, overflow series of NO_SOCKET %v; want one pod and the overflow series", own, overflowed)
	}
}

// overflowUDP sends datagrams, in the network namespace at path, to a
// socket of the smallest receive buffer that never reads: the kernel drops
// most of them with SOCKET_RCVBUFF.
func overflowUDP(path string) error {
	return inNetns(path, func() error {
		sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer sink.Close()
		if err := sink.SetReadBuffer(1); err != nil {
			return err
		}
		return sendFrom(sink.LocalAddr().(*net.UDPAddr), 64, make([]byte, 1400))
	})
}

// overflowTotal returns cni_exporter_series_overflow_total{metric} from
// the self-metrics registry, 0 when absent.
func overflowTotal(t *testing.T, reg *prometheus.Registry, metric string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "cni_exporter_series_overflow_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelOf(m, "metric") == metric {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
