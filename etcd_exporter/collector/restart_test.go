package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// waitCounts waits until the pod puts and the watch restarts are exactly
// want.
func waitCounts(t *testing.T, k *Keyspace, puts float64, restarts map[string]float64) map[string]*dto.MetricFamily {
	t.Helper()
	return waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		got := byPrefix(fams, "etcd_keyspace_puts_total")[pods]
		r := exportertest.ByLabel(fams, "etcd_keyspace_watch_restarts_total", "reason")
		if got != puts || !equal(r, restarts) {
			return fmt.Errorf("pod puts %g and restarts %v, want %g and %v", got, r, puts, restarts)
		}
		return nil
	})
}

func waitKeys(t *testing.T, k *Keyspace, keys float64) {
	t.Helper()
	waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		if got := byPrefix(fams, "etcd_keyspace_keys")[pods]; got != keys {
			return fmt.Errorf("%g pod keys, want %g", got, keys)
		}
		return nil
	})
}

func restarts(compacted, errs float64) map[string]float64 {
	return map[string]float64{ReasonCompacted: compacted, ReasonError: errs, ReasonLeaderLost: 0}
}

// TestKeyspaceWatchRestarts takes the exporter off etcd three ways while
// pods are written: its connection cut (the writes go on directly), etcd
// killed and restarted, and its connection cut while the writes are
// compacted away. Each costs one restart of the watch with its reason and a
// fresh pass; puts are counted exactly once, and only the compacted ones
// (which etcd cannot replay) are missing.
func TestKeyspaceWatchRestarts(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	cli := e.Client(t)
	proxy := testenv.NewProxy(t, e.ClientAddr())
	cfg := e.Config()
	cfg.Endpoints = []string{"http://" + proxy.Addr}
	cfg.RequestTimeout = time.Second
	// Passes only at start and after each restart: the keys gauge shows
	// that a restart brought a fresh pass.
	k := startKeyspace(t, cfg, KeyspaceConfig{PageSize: 100, ScanInterval: time.Hour, CheckInterval: 300 * time.Millisecond}, 0)
	scanned(t, k, 1)
	n := 0
	putPods := func(count int) int64 {
		var rev int64
		for range count {
			rev = put(t, cli, fmt.Sprintf("%sns1/pod-%03d", pods, n), 10)
			n++
		}
		return rev
	}

	putPods(40)
	waitCounts(t, k, 40, restarts(0, 0))

	// Cut off: the writes made meanwhile are replayed from the watch's
	// revision once the connection is back.
	proxy.Cut()
	waitCounts(t, k, 40, restarts(0, 1))
	putPods(25)
	proxy.Resume()
	waitCounts(t, k, 65, restarts(0, 1))
	waitKeys(t, k, 65)

	// etcd killed mid-watch and restarted on its data.
	e.Kill(t)
	waitCounts(t, k, 65, restarts(0, 2))
	e.Restart(t)
	cli = e.Client(t)
	putPods(10)
	waitCounts(t, k, 75, restarts(0, 2))

	// Cut off while 15 puts are made and compacted: the watch resumes at
	// the compaction revision, so of the 15 only the last one (made at
	// that revision) is counted; the pass after the restart sees all keys.
	proxy.Cut()
	waitCounts(t, k, 75, restarts(0, 3))
	rev := putPods(15)
	if _, err := cli.Compact(context.Background(), rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	proxy.Resume()
	waitCounts(t, k, 76, restarts(1, 3))
	waitKeys(t, k, 90)
	putPods(5)
	waitCounts(t, k, 81, restarts(1, 3))
}

// TestKeyspaceWatchLeaderLost watches one member of a real 3-member
// cluster and kills the two others: the member loses its leader and etcd
// cancels the watch (it requires a leader), which counts exactly one
// restart with reason="leader_lost" however long the cluster stays without
// quorum. Once the two are back, puts are counted exactly once: none of
// those made before the loss again.
func TestKeyspaceWatchLeaderLost(t *testing.T) {
	members := etcdtest.StartCluster(t, 3, etcdtest.Options{})
	cfg := members[0].Config()
	cfg.RequestTimeout = time.Second
	// A progress check far beyond the test's waits: only the leader loss
	// ends the watch.
	k := startKeyspace(t, cfg, KeyspaceConfig{PageSize: 100, ScanInterval: time.Hour, CheckInterval: time.Hour}, 0)
	scanned(t, k, 1)
	cli := members[0].Client(t)
	n := 0
	putPods := func(count int) {
		for range count {
			put(t, cli, fmt.Sprintf("%sns1/pod-%03d", pods, n), 10)
			n++
		}
	}
	lost := func(leaderLost float64) map[string]float64 {
		return map[string]float64{ReasonCompacted: 0, ReasonError: 0, ReasonLeaderLost: leaderLost}
	}

	putPods(30)
	fams := waitCounts(t, k, 30, lost(0))
	before := fams["etcd_keyspace_scan_timestamp_seconds"].Metric[0].GetGauge().GetValue()

	members[1].Kill(t)
	members[2].Kill(t)
	waitCounts(t, k, 30, lost(1))
	// Without a quorum the collector keeps retrying: no further restart
	// counts while the member has no leader (election timeouts of 1s, the
	// watch is cancelled after about 3 of them).
	time.Sleep(8 * time.Second)
	waitCounts(t, k, 30, lost(1))

	etcdtest.RestartAll(t, members[1], members[2])
	// The restart brings a fresh pass.
	waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		if ts := fams["etcd_keyspace_scan_timestamp_seconds"].Metric[0].GetGauge().GetValue(); ts <= before {
			return fmt.Errorf("no pass since the leader came back")
		}
		return nil
	})
	waitKeys(t, k, 30)
	putPods(20)
	waitCounts(t, k, 50, lost(1))
	// Deletes after the restart are counted exactly too.
	for i := range 5 {
		if _, err := cli.Delete(context.Background(), fmt.Sprintf("%sns1/pod-%03d", pods, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, k, func(fams map[string]*dto.MetricFamily) error {
		if got := byPrefix(fams, "etcd_keyspace_deletes_total")[pods]; got != 5 {
			return fmt.Errorf("%g pod deletes, want 5", got)
		}
		return nil
	})
	waitCounts(t, k, 50, lost(1))
}
