// Package kubetest runs a real etcd and kube-apiserver on loopback for
// kubeapi_exporter's tests: binaries built once by
// scripts/test-deps.d/kubeapi.sh into $BPFLEET_CACHE (default
// /var/cache/bpfleet), random ports, token authentication, RBAC, and a TCP
// proxy that a test can cut to break the exporter's watches. Everything it
// starts is stopped and removed by the test's cleanup.
package kubetest

import (
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Versions of the components, as the test-deps script builds them.
const (
	EtcdVersion          = "v3.7.3"
	KubeAPIServerVersion = "v1.37.2"
)

// AdminToken authenticates as a member of system:masters.
const AdminToken = "admin-token"

// ExporterUser is the user of ExporterToken, which has no permission until
// a test binds one (RBAC tests bind the shipped ClusterRole).
const (
	ExporterUser  = "kubeapi-exporter"
	ExporterToken = "exporter-token"
)

// Cache returns $BPFLEET_CACHE or its default.
func Cache() string {
	if c := os.Getenv("BPFLEET_CACHE"); c != "" {
		return c
	}
	return "/var/cache/bpfleet"
}

// Binaries returns the paths of etcd and kube-apiserver; without them the
// test fails as root (make test-deps builds them) and skips otherwise.
func Binaries(tb testing.TB) (etcd, apiserver string) {
	tb.Helper()
	etcd = filepath.Join(Cache(), "etcd-"+EtcdVersion, "etcd")
	apiserver = filepath.Join(Cache(), "kube-apiserver-"+KubeAPIServerVersion, "kube-apiserver")
	for _, p := range []string{etcd, apiserver} {
		if _, err := os.Stat(p); err != nil {
			if os.Geteuid() != 0 {
				tb.Skipf("%s missing and not root: run scripts/test-deps.d/kubeapi.sh as root", p)
			}
			tb.Fatalf("%s missing: run scripts/test-deps.d/kubeapi.sh (make test-deps): %v", p, err)
		}
	}
	return etcd, apiserver
}

// FreePort returns a loopback port that was free a moment ago and that no
// other server of this process was given (testenv.FreePort).
func FreePort(tb testing.TB) int { return testenv.FreePort(tb) }

// Cluster is an etcd and a kube-apiserver.
type Cluster struct {
	Dir        string
	EtcdURL    string
	Port       int // the API server's secure port
	Admin      kubernetes.Interface
	apiserver  string
	args       []string
	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	logFile    string
	etcdCmd    *exec.Cmd
	etcdDone   chan struct{}
	etcdBinary string
}

// Start starts etcd and kube-apiserver and waits until the API server is
// ready; the test's cleanup stops both and removes their data.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	etcd, apiserver := Binaries(tb)
	c := &Cluster{Dir: tb.TempDir(), apiserver: apiserver, etcdBinary: etcd}
	tb.Cleanup(func() { c.stopAll() })
	c.startEtcd(tb)
	c.Port = FreePort(tb)
	c.writeFiles(tb)
	c.args = []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.Port),
		"--endpoint-reconciler-type=none",
		"--token-auth-file=" + filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + filepath.Join(c.Dir, "sa.pem"),
		"--service-account-signing-key-file=" + filepath.Join(c.Dir, "sa.pem"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--cert-dir=" + filepath.Join(c.Dir, "certs"),
		"--event-ttl=24h",
	}
	c.StartAPIServer(tb)
	cfg := c.Config(AdminToken, c.URL())
	var err error
	if c.Admin, err = kubernetes.NewForConfig(cfg); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *Cluster) startEtcd(tb testing.TB) {
	tb.Helper()
	client, peer := FreePort(tb), FreePort(tb)
	c.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	cmd := exec.Command(c.etcdBinary,
		"--name=default", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+c.EtcdURL, "--advertise-client-urls="+c.EtcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--log-level=error")
	log, err := os.Create(filepath.Join(c.Dir, "etcd.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	log.Close()
	c.etcdCmd, c.etcdDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(c.etcdDone) }()
	wait(tb, 60*time.Second, "etcd health", func() error {
		resp, err := http.Get(c.EtcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}, filepath.Join(c.Dir, "etcd.log"))
}

func (c *Cluster) writeFiles(tb testing.TB) {
	tb.Helper()
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,%s,%s\n", AdminToken, ExporterToken, ExporterUser, ExporterUser)
	if err := os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		tb.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(filepath.Join(c.Dir, "sa.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// URL is the API server's address.
func (c *Cluster) URL() string { return fmt.Sprintf("https://127.0.0.1:%d", c.Port) }

// StartAPIServer starts (or restarts) kube-apiserver and waits until
// /readyz answers 200.
func (c *Cluster) StartAPIServer(tb testing.TB) {
	tb.Helper()
	c.logFile = filepath.Join(c.Dir, "kube-apiserver.log")
	log, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(c.apiserver, c.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	log.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	wait(tb, 120*time.Second, "kube-apiserver /readyz", func() error {
		select {
		case <-done:
			return fmt.Errorf("kube-apiserver exited")
		default:
		}
		req, _ := http.NewRequest("GET", c.URL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	}, c.logFile)
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL).
func (c *Cluster) StopAPIServer(tb testing.TB) {
	tb.Helper()
	c.stopAPIServer()
}

func (c *Cluster) stopAPIServer() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	stop(cmd, done)
}

func stop(cmd *exec.Cmd, done chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (c *Cluster) stopAll() {
	c.stopAPIServer()
	if c.etcdCmd != nil {
		stop(c.etcdCmd, c.etcdDone)
	}
}

// Config returns a REST configuration for token at url (the API server's
// certificate is self-signed).
func (c *Cluster) Config(token, url string) *rest.Config {
	return &rest.Config{Host: url, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
}

// Kubeconfig writes a kubeconfig for token at url and returns its path.
func (c *Cluster) Kubeconfig(tb testing.TB, token, url string) string {
	tb.Helper()
	f, err := os.CreateTemp(c.Dir, "kubeconfig-*")
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(f, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: test
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`, url, token)
	f.Close()
	return f.Name()
}

// Namespace creates namespace name with its default ServiceAccount (Pods
// need it: no controller-manager creates it here).
func (c *Cluster) Namespace(tb testing.TB, name string) {
	tb.Helper()
	ctx := context.Background()
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
	_, err = c.Admin.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
}

func wait(tb testing.TB, timeout time.Duration, what string, check func() error, logFile string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			if len(log) > 8000 {
				log = log[len(log)-8000:]
			}
			tb.Fatalf("%s: %v after %s; log:\n%s", what, err, timeout, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Compact compacts etcd's history up to its current revision (through its
// gRPC gateway), so that watches from older resource versions get 410 Gone.
func (c *Cluster) Compact(tb testing.TB) {
	tb.Helper()
	post := func(path, body string) map[string]any {
		resp, err := http.Post(c.EtcdURL+path, "application/json", strings.NewReader(body))
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			tb.Fatalf("etcd %s: status %d, %v", path, resp.StatusCode, err)
		}
		return out
	}
	header, _ := post("/v3/kv/range", `{"key":"Zm9v"}`)["header"].(map[string]any)
	rev, _ := header["revision"].(string)
	if rev == "" {
		tb.Fatalf("etcd: no revision in %v", header)
	}
	post("/v3/kv/compaction", fmt.Sprintf(`{"revision":%q,"physical":true}`, rev))
}
