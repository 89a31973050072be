package mixins

// The kubeapi mixin under a real Prometheus: a real etcd v3.7.3 and
// kube-apiserver v1.37.2 (built by scripts/test-deps.d/kubeapi.sh), the
// real kubeapi_exporter, and a workload written over the API server's REST
// API (this module has no client-go): Events, Pods whose status the test
// writes as a kubelet would (conditions, CrashLoopBackOff, OOMKilled),
// ConfigMaps rewritten by one field manager, and one watch expiry (etcd
// compacted, the API server restarted) so the relist panels have data.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

const kubeapiLiveToken = "live-admin-token"

// kubeapiLiveBinary returns a component that kubeapi.sh caches.
func kubeapiLiveBinary(t *testing.T, dir, name string) string {
	t.Helper()
	cache := os.Getenv("BPFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/bpfleet"
	}
	path := filepath.Join(cache, dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not built: run scripts/test-deps.d/kubeapi.sh (`make test-deps`): %v", name, err)
	}
	return path
}

// kubeapiLive is an etcd and a kube-apiserver on loopback.
type kubeapiLive struct {
	dir, etcdURL, url string
	args              []string
	apiserver         string
	mu                sync.Mutex
	cmd               *exec.Cmd
	client            *http.Client
}

func startKubeapiLive(t *testing.T) *kubeapiLive {
	t.Helper()
	k := &kubeapiLive{dir: t.TempDir(), apiserver: kubeapiLiveBinary(t, "kube-apiserver-v1.37.2", "kube-apiserver"),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	k.etcdURL = client
	etcd := exec.Command(kubeapiLiveBinary(t, "etcd-v3.7.3", "etcd"), "--name=kubeapi-live", "--data-dir="+filepath.Join(k.dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubeapi-live="+peer, "--log-level=error")
	if err := etcd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Process.Kill(); etcd.Wait() })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sa := filepath.Join(k.dir, "sa.pem")
	tokens := filepath.Join(k.dir, "tokens.csv")
	if err := os.WriteFile(sa, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte(kubeapiLiveToken+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	k.url = "https://" + addr
	k.args = []string{"--etcd-servers=" + client, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strings.Split(addr, ":")[1], "--endpoint-reconciler-type=none",
		"--token-auth-file=" + tokens, "--authorization-mode=RBAC",
		"--service-account-key-file=" + sa, "--service-account-signing-key-file=" + sa,
		"--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/24",
		"--cert-dir=" + filepath.Join(k.dir, "certs"),
		// Watches end every 5-10s, so the watch restart panels have data.
		"--min-request-timeout=5"}
	t.Cleanup(k.stop)
	k.start(t)
	return k
}

func (k *kubeapiLive) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(k.dir, "kube-apiserver.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(k.apiserver, k.args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	k.cmd = cmd
	k.mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body, err := k.call("GET", "/readyz", "", nil)
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(k.dir, "kube-apiserver.log"))
			t.Fatalf("kube-apiserver not ready: %d %s %v\n%s", code, body, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *kubeapiLive) stop() {
	k.mu.Lock()
	cmd := k.cmd
	k.cmd = nil
	k.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// call sends a JSON request with the admin token.
func (k *kubeapiLive) call(method, path, contentType string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+kubeapiLiveToken)
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// must is call that fails the test on an error status.
func (k *kubeapiLive) must(t *testing.T, method, path, contentType string, body any) {
	t.Helper()
	code, out, err := k.call(method, path, contentType, body)
	if err != nil || code >= 300 {
		t.Fatalf("%s %s: %d %s %v", method, path, code, out, err)
	}
}

// compact compacts etcd to its current revision.
func (k *kubeapiLive) compact(t *testing.T) {
	t.Helper()
	resp, err := http.Post(k.etcdURL+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"Zm9v"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.Header.Revision == "" {
		t.Fatalf("etcd revision: %v %+v", err, out)
	}
	if err := etcdCallKubeapi(k.etcdURL, fmt.Sprintf(`{"revision":%q,"physical":true}`, out.Header.Revision)); err != nil {
		t.Fatal(err)
	}
}

func etcdCallKubeapi(endpoint, body string) error {
	resp, err := http.Post(endpoint+"/v3/kv/compaction", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("compaction: %s", resp.Status)
	}
	return nil
}

func kubeapiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// kubeapiWorkload writes one round: an Event, a Pod with its conditions and
// a crash-looping, OOM-killed container, and a ConfigMap update by one
// field manager. Errors are left to the checks.
func (k *kubeapiLive) kubeapiWorkload(i int) {
	now := time.Now()
	k.call("POST", "/api/v1/namespaces/shop/events", "", map[string]any{
		"metadata": map[string]any{"name": fmt.Sprintf("ev-%d", i)}, "reason": []string{"BackOff", "Pulled", "Killing"}[i%3],
		"type": []string{"Warning", "Normal"}[i%2], "message": "live", "count": 1 + i%3,
		"involvedObject": map[string]any{"kind": "Pod", "namespace": "shop", "name": "web"},
		"source":         map[string]any{"component": "live"}, "firstTimestamp": kubeapiTime(now), "lastTimestamp": kubeapiTime(now)})
	name := fmt.Sprintf("pod-%d", i)
	code, body, err := k.call("POST", "/api/v1/namespaces/shop/pods", "", map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "busybox"}}}})
	if err != nil || code != 201 {
		return
	}
	var pod struct {
		Metadata struct {
			CreationTimestamp time.Time `json:"creationTimestamp"`
		} `json:"metadata"`
	}
	json.Unmarshal(body, &pod)
	created := pod.Metadata.CreationTimestamp
	var conds []any
	for j, typ := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
		conds = append(conds, map[string]any{"type": typ, "status": "True", "lastTransitionTime": kubeapiTime(created.Add(time.Duration(1+j*(1+i%5)) * time.Second))})
	}
	k.call("PATCH", "/api/v1/namespaces/shop/pods/"+name+"/status", "application/merge-patch+json", map[string]any{"status": map[string]any{
		"phase": "Running", "conditions": conds,
		"containerStatuses": []any{map[string]any{"name": "app", "image": "busybox", "imageID": "busybox@sha256:0", "ready": false, "restartCount": 1,
			"state": map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff"}},
			"lastState": map[string]any{"terminated": map[string]any{"reason": "OOMKilled", "exitCode": 137,
				"containerID": fmt.Sprintf("containerd://live-%d", i), "startedAt": kubeapiTime(now), "finishedAt": kubeapiTime(now)}}}}}})
	if i%4 == 3 {
		k.call("DELETE", "/api/v1/namespaces/shop/pods/"+fmt.Sprintf("pod-%d", i-3), "", nil)
	}
	k.call("PUT", "/api/v1/namespaces/shop/configmaps/loop?fieldManager=fighter", "", map[string]any{
		"metadata": map[string]any{"name": "loop", "namespace": "shop"}, "data": map[string]any{"n": fmt.Sprint(i)}})
}

// TestKubeapiMixinInRealPrometheus: every dashboard query and recording
// rule of the kubeapi mixin returns data under the three Prometheus
// servers of startServers (2.42 native and classic, 3.x native) scraping
// the real kubeapi_exporter.
func TestKubeapiMixinInRealPrometheus(t *testing.T) {
	testenv.RequireRoot(t)
	prometheus := exportertest.RequireCommand(t, "prometheus", "make test installs it with the prometheus Debian package")
	k := startKubeapiLive(t)
	k.must(t, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": "shop"}})
	k.must(t, "POST", "/api/v1/namespaces/shop/serviceaccounts", "", map[string]any{"metadata": map[string]any{"name": "default"}})
	k.must(t, "POST", "/api/v1/namespaces/shop/configmaps?fieldManager=creator", "", map[string]any{"metadata": map[string]any{"name": "loop"}})

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q, insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: %s}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n", k.url, kubeapiLiveToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := exporterUnderTest{pkg: "github.com/bpfleet/bpfleet/kubeapi_exporter", job: "kubeapi-exporter", mixin: "kubeapi", config: `{}`}
	bin := buildExporter(t, dir, e.pkg)
	p := exportertest.Start(t, bin, "--kubeconfig="+kubeconfig, "--collector.writes.resources=v1/configmaps,v1/pods")
	t.Cleanup(func() { p.Terminate(t) })
	p.WaitForMetric(t, "kubeapi_scrape_collector_success", "collector", map[string]float64{"events": 1, "pods": 1, "writes": 1, "client": 1})
	instance := strings.TrimPrefix(p.URL, "http://")
	ruleFiles := writeRendered(t, dir, e.mixin, e.config)
	checks := mixinChecks(t, e, instance)
	jobs := []scrapeJob{{e.job, instance}}
	servers := startServers(t, prometheus, ruleFiles, jobs)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			k.kubeapiWorkload(i)
			time.Sleep(300 * time.Millisecond)
		}
	})
	// One expiry: the API server restarts after etcd is compacted, so the
	// exporter's watches resume from a compacted resource version and relist.
	time.Sleep(3 * time.Second)
	k.compact(t)
	k.stop()
	k.start(t)

	waitForData(t, servers, checks, p)
}
