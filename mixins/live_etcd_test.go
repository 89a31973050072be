package mixins

// The etcd mixin under a real Prometheus: a real etcd v3.7 (built by
// scripts/test-deps.d/etcd.sh), the real etcd_exporter beside it and a
// Kubernetes-shaped workload written through etcd's JSON gateway (this
// module has no etcd client).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// etcdBinary returns the etcd server that scripts/test-deps.d/etcd.sh
// caches, skipping the test when not root.
func etcdBinary(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	cache := os.Getenv("BPFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/bpfleet"
	}
	path := filepath.Join(cache, "etcd-v3.7.3", "etcd")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("etcd not built: run scripts/test-deps.d/etcd.sh (`make test-deps`): %v", err)
	}
	return path
}

// startEtcd runs etcd on loopback and returns its client URL and pid.
func startEtcd(t *testing.T) (string, int) {
	t.Helper()
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	cmd := exec.Command(etcdBinary(t), "--name=live", "--data-dir="+t.TempDir(),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=live="+peer, "--log-level=error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	exportertest.Eventually(t, func() error { return etcdCall(client, "/v3/kv/range", map[string]any{"key": b64("x")}) })
	return client, cmd.Process.Pid
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// etcdCall posts body as JSON to etcd's gateway.
func etcdCall(endpoint, path string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(endpoint+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// TestEtcdMixinInRealPrometheus: every dashboard query and recording rule
// of the etcd mixin returns data under the three Prometheus servers of
// startServers (2.42 native and classic, 3.x native) (those of etcd's own
// metrics from etcd's /metrics, scraped as job etcd),
// and EtcdKeyspaceValueNearRequestLimit fires for a ConfigMap of 1.3 MB.
func TestEtcdMixinInRealPrometheus(t *testing.T) {
	prometheus := exportertest.RequireCommand(t, "prometheus", "make test installs it with the prometheus Debian package")
	endpoint, pid := startEtcd(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "etcd.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := exporterUnderTest{pkg: "github.com/bpfleet/bpfleet/etcd_exporter", job: "etcd-exporter", mixin: "etcd", config: `{ valueNearLimitFor: '1s' }`}
	bin := buildExporter(t, dir, e.pkg)
	p := exportertest.Start(t, bin, "--etcd.endpoints="+endpoint, "--collector.sync.pid-file="+pidFile,
		"--collector.keyspace.scan-interval=2s")
	instance := strings.TrimPrefix(p.URL, "http://")
	ruleFiles := writeRendered(t, dir, e.mixin, e.config)
	// etcd's own /metrics (on its client URL) is scraped too, as job
	// "etcd": the dashboard's etcd_job and etcd_instance variables choose
	// it, for etcd_disk_wal_fsync_duration_seconds beside the kernel's p99.
	member := strings.TrimPrefix(endpoint, "http://")
	checks := mixinChecks(t, e, instance)
	etcdQueries := 0
	for i := range checks {
		c := &checks[i]
		if strings.Contains(c.expr, "$etcd_") {
			etcdQueries++
			c.expr = strings.NewReplacer("$etcd_job", "etcd", "$etcd_instance", member).Replace(c.expr)
		}
	}
	// The WAL fsync panels' etcd queries (p99 and heatmap) and the
	// etcd_instance variable's (the etcd_job variable's, over
	// etcdServerSelector, has no variable).
	if etcdQueries != 3 {
		t.Fatalf("%d checks read etcd's own metrics on $etcd_job, want 3", etcdQueries)
	}
	checks = append(checks, liveCheck{where: "etcd alert", alert: "EtcdKeyspaceValueNearRequestLimit"})
	jobs := []scrapeJob{{e.job, instance}, {"etcd", member}}
	servers := startServers(t, prometheus, ruleFiles, jobs)

	if err := etcdCall(endpoint, "/v3/lease/grant", map[string]any{"TTL": 600}); err != nil {
		t.Fatal(err)
	}
	if err := etcdCall(endpoint, "/v3/kv/put", map[string]any{"key": b64("/registry/configmaps/ns1/big"), "value": b64(strings.Repeat("x", 1300000))}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			key := b64(fmt.Sprintf("/registry/pods/ns1/pod-%d", i%20))
			etcdCall(endpoint, "/v3/kv/put", map[string]any{"key": key, "value": b64(strings.Repeat("p", 100+i%1000))})
			if i%5 == 0 {
				etcdCall(endpoint, "/v3/kv/deleterange", map[string]any{"key": key})
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	waitForData(t, servers, checks, p)
}
