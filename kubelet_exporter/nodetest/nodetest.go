// Package nodetest runs a real Kubernetes node on this machine for tests:
// the etcd and kube-apiserver of kubeapi_exporter/kubetest, a containerd of
// internal/testenv (its own root, socket, CNI network and locally imported
// busybox and pause images) and a kubelet v1.37.2 built by
// scripts/test-deps.d/kubelet.sh into $BPFLEET_CACHE/kubelet-v1.37.2/.
//
// The kubelet serves HTTPS on a free loopback port (with
// StartWithControlPlane: on the node's address on the CNI bridge, port
// 10250) with a certificate of a CA that the test owns (CAFile),
// authenticates bearer tokens and authorizes requests through the API
// server (webhook mode, as on a real cluster), and runs pods bound to it
// by spec.nodeName: no scheduler and no controller-manager run, so a
// namespace gets its default ServiceAccount from Namespace, and pods must
// not automount a service-account token (no kube-root-ca.crt ConfigMap is
// published) and must use imagePullPolicy Never with
// testenv.BusyboxImage. A DaemonSet's or Deployment's pods need the
// controller-manager's controllers and the scheduler:
// StartWithControlPlane (controlplane.go) runs both as well.
//
// The kubelet's root dir is a 256 MiB tmpfs (RootDir), so that nothing but
// the node writes to its nodefs. Its cgroups live under the containerd's
// cgroup parent (cgroupRoot), which containerd's cleanup removes in every
// hierarchy. The kubelet runs with a PATH without /usr/sbin and /sbin, so
// that it finds no iptables and leaves the host's firewall alone.
//
// Cleanup undoes everything the kubelet does outside its root dir: the
// mounts under RootDir, its pods' directories in /var/log/pods and links in
// /var/log/containers, /var/lib/kubelet/device-plugins (which it creates
// whatever its root dir), and the kernel tunables it sets at start
// (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
// kernel.keys.root_maxkeys, kernel.keys.root_maxbytes), restored to their
// values before the start.
package nodetest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
)

// KubeletVersion is the kubelet that scripts/test-deps.d/kubelet.sh builds.
const KubeletVersion = "v1.37.2"

// KubeletPort is the kubelet's port on a node of StartWithControlPlane: the
// default, which clients of the kubelet assume (kubelet_exporter's chart
// dials status.hostIP on it).
const KubeletPort = 10250

// Wait bounds each wait of the harness: the node's readiness, a pod's start.
const Wait = 90 * time.Second

// KubeletBinary returns the kubelet's path; without it the test fails as
// root (make test-deps builds it) and skips otherwise.
func KubeletBinary(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(kubetest.Cache(), "kubelet-"+KubeletVersion, "kubelet")
	if _, err := os.Stat(p); err != nil {
		if os.Geteuid() != 0 {
			tb.Skipf("%s missing and not root: run scripts/test-deps.d/kubelet.sh as root", p)
		}
		tb.Fatalf("%s missing: run scripts/test-deps.d/kubelet.sh (make test-deps): %v", p, err)
	}
	return p
}

// Node is a kubelet registered with a real API server, running pods on a
// real containerd.
type Node struct {
	Name       string
	Cluster    *kubetest.Cluster
	Containerd *testenv.Containerd
	// Address is the kubelet's HTTPS URL: https://127.0.0.1:<port>, or
	// https://<NodeIP>:10250 on a node of StartWithControlPlane.
	Address string
	// NodeIP is the node's InternalIP (the kubelet's --node-ip, its pods'
	// status.hostIP) on a node of StartWithControlPlane: the host's
	// address on the CNI bridge. Nil on a node of Start (the kubelet
	// then picks one of the host's).
	NodeIP net.IP
	// CAFile is the CA certificate (PEM) of the kubelet's serving
	// certificate.
	CAFile string
	// RootDir is the kubelet's --root-dir, a tmpfs of its own.
	RootDir string
	Dir     string // the harness's files: certificates, configuration, log
	LogFile string // the kubelet's log

	kubelet  string
	cmd      *exec.Cmd
	exited   chan struct{}
	sysctls  map[string]string
	preExist map[string]bool
}

// kernelTunables are the sysctls the kubelet sets at start.
var kernelTunables = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// outsideRoot are the paths the kubelet creates whatever its root dir.
var outsideRoot = []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/pods", "/var/log/containers"}

// Start starts an API server, a containerd and a kubelet, and waits until
// the node is Ready. Everything is stopped and removed by the test's
// cleanup.
func Start(tb testing.TB) *Node {
	tb.Helper()
	return start(tb, false)
}

// start is Start; with onBridge, the kubelet runs as StartWithControlPlane
// says.
func start(tb testing.TB, onBridge bool) *Node {
	tb.Helper()
	testenv.RequireRoot(tb)
	kubelet := KubeletBinary(tb)
	cluster := kubetest.Start(tb)
	ctd := testenv.StartContainerd(tb)
	dir, err := os.MkdirTemp("", "bpfleet-node-")
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{
		Name:       "bpfleet-node-" + filepath.Base(dir)[len("bpfleet-node-"):],
		Cluster:    cluster,
		Containerd: ctd,
		Dir:        dir,
		RootDir:    filepath.Join(dir, "root"),
		LogFile:    filepath.Join(dir, "kubelet.log"),
		sysctls:    map[string]string{},
		preExist:   map[string]bool{},
	}
	n.Name = strings.ToLower(n.Name)
	for _, k := range kernelTunables {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			n.sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range outsideRoot {
		_, err := os.Lstat(p)
		n.preExist[p] = err == nil
	}
	tb.Cleanup(func() { n.teardown(tb) })
	if err := os.MkdirAll(n.RootDir, 0o750); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", n.RootDir, "tmpfs", 0, "size=256m,mode=0750"); err != nil {
		tb.Fatalf("mounting a tmpfs on %s: %v", n.RootDir, err)
	}
	n.makeCgroupRoot(tb)
	ip, port := net.IPv4(127, 0, 0, 1).To4(), kubetest.FreePort(tb)
	if onBridge {
		n.NodeIP = n.bridgeAddress(tb)
		ip, port = n.NodeIP, KubeletPort
	}
	n.Address = "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
	n.writeFiles(tb, ip, port)
	n.kubelet = kubelet
	n.start(tb)
	n.waitReady(tb)
	return n
}

// StopKubelet stops the kubelet (SIGTERM, then SIGKILL after 15s); its
// pods keep running in containerd.
func (n *Node) StopKubelet(tb testing.TB) {
	tb.Helper()
	n.stopKubelet()
}

func (n *Node) stopKubelet() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

// StartKubelet starts the kubelet again after StopKubelet and waits until
// it serves and the node is Ready.
func (n *Node) StartKubelet(tb testing.TB) {
	tb.Helper()
	if n.cmd != nil {
		tb.Fatal("the kubelet is running")
	}
	n.start(tb)
	n.waitReady(tb)
	n.Eventually(tb, "the kubelet serving", func() error {
		code, body := n.get(tb, "/healthz", kubetest.AdminToken)
		if code != 200 {
			return fmt.Errorf("/healthz: %d %s", code, body)
		}
		return nil
	})
}

// makeCgroupRoot makes the containerd's cgroup parent in every hierarchy:
// the kubelet requires its cgroupRoot to exist. A cpuset gets its parent's
// cpus and mems (a new v1 cpuset has none).
func (n *Node) makeCgroupRoot(tb testing.TB) {
	tb.Helper()
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, root := range roots {
		if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
			continue // cpu and cpuacct may be links to cpu,cpuacct
		}
		dir := root
		for _, part := range strings.Split(strings.Trim(n.Containerd.CgroupParent, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
				tb.Fatalf("making cgroup %s: %v", dir, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if cur, err := os.ReadFile(filepath.Join(dir, f)); err == nil && strings.TrimSpace(string(cur)) == "" {
					v, _ := os.ReadFile(filepath.Join(parent, f))
					_ = os.WriteFile(filepath.Join(dir, f), v, 0o644)
				}
			}
		}
	}
}

func (n *Node) writeFiles(tb testing.TB, ip net.IP, port int) {
	tb.Helper()
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	if !ip.IsLoopback() {
		ips = append(ips, ip)
	}
	caPEM, certPEM, keyPEM, err := ServingCert(ips, []string{"localhost"})
	if err != nil {
		tb.Fatal(err)
	}
	n.CAFile = filepath.Join(n.Dir, "ca.crt")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: kubelet
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: kubelet}
current-context: test
`, n.Cluster.URL(), kubetest.AdminToken)
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
tlsCertFile: %q
tlsPrivateKeyFile: %q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 1s}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 1s, cacheUnauthorizedTTL: 1s}
containerRuntimeEndpoint: %q
cgroupDriver: cgroupfs
cgroupRoot: %q
failCgroupV1: false
failSwapOn: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
volumeStatsAggPeriod: 2s
resolvConf: ""
staticPodPath: ""
serializeImagePulls: false
`, ip, port, kubetest.FreePort(tb), filepath.Join(n.Dir, "kubelet.crt"), filepath.Join(n.Dir, "kubelet.key"),
		n.Containerd.Endpoint, n.Containerd.CgroupParent)
	files := map[string][]byte{
		n.CAFile:                            caPEM,
		filepath.Join(n.Dir, "kubelet.crt"): certPEM,
		filepath.Join(n.Dir, "kubelet.key"): keyPEM,
		filepath.Join(n.Dir, "kubeconfig"):  []byte(kubeconfig),
		filepath.Join(n.Dir, "config.yaml"): []byte(config),
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

func (n *Node) start(tb testing.TB) {
	tb.Helper()
	log, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	args := []string{
		"--config=" + filepath.Join(n.Dir, "config.yaml"),
		"--kubeconfig=" + filepath.Join(n.Dir, "kubeconfig"),
		"--root-dir=" + n.RootDir,
		"--hostname-override=" + n.Name,
		"--v=2",
	}
	if n.NodeIP != nil {
		args = append(args, "--node-ip="+n.NodeIP.String())
	}
	cmd := exec.Command(n.kubelet, args...)
	// No iptables on the PATH: the kubelet then leaves the firewall alone.
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the kubelet: %v", err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(n.exited) }()
}

// waitReady waits until the Node exists and its Ready condition is True.
func (n *Node) waitReady(tb testing.TB) {
	tb.Helper()
	n.Eventually(tb, "node Ready", func() error {
		node, err := n.Cluster.Admin.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %v", node.Status.Conditions)
	})
}

// Eventually calls check until it returns nil, failing the test with the
// kubelet log's tail after Wait or when the kubelet exits.
func (n *Node) Eventually(tb testing.TB, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(Wait)
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-n.exited:
			tb.Fatalf("%s: the kubelet exited: %v; log:\n%s", what, err, n.LogTail(8000))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %v after %s; kubelet log:\n%s", what, err, Wait, n.LogTail(8000))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// LogTail returns the last max bytes of the kubelet's log.
func (n *Node) LogTail(max int) string {
	b, _ := os.ReadFile(n.LogFile)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Namespace creates a namespace with its default ServiceAccount.
func (n *Node) Namespace(tb testing.TB, name string) { n.Cluster.Namespace(tb, name) }

// RunPod binds pod to the node, creates it and waits until it is Running
// (or Succeeded).
func (n *Node) RunPod(tb testing.TB, pod *corev1.Pod) *corev1.Pod {
	tb.Helper()
	pod = pod.DeepCopy()
	pod.Spec.NodeName = n.Name
	ctx := context.Background()
	created, err := n.Cluster.Admin.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	n.Eventually(tb, "pod "+pod.Namespace+"/"+pod.Name+" running", func() error {
		p, err := n.Cluster.Admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		created = p
		switch p.Status.Phase {
		case corev1.PodRunning, corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			tb.Fatalf("pod %s/%s failed: %+v", pod.Namespace, pod.Name, p.Status)
		}
		return fmt.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return created
}

// DeletePod deletes a pod at once (grace period 0) and waits until the
// kubelet has no container of it left.
func (n *Node) DeletePod(tb testing.TB, namespace, name string) {
	tb.Helper()
	ctx := context.Background()
	zero := int64(0)
	err := n.Cluster.Admin.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		tb.Fatalf("deleting pod %s/%s: %v", namespace, name, err)
	}
	n.Eventually(tb, "pod "+namespace+"/"+name+" gone", func() error {
		_, err := n.Cluster.Admin.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// ServiceAccountToken creates the ServiceAccount namespace/name (if it does
// not exist) and returns a token of it from the TokenRequest API.
func (n *Node) ServiceAccountToken(tb testing.TB, namespace, name string) string {
	tb.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := n.Cluster.Admin.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
	hour := int64(3600)
	tr, err := n.Cluster.Admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("token of %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// Get requests path of the kubelet with token, verifying its certificate,
// and returns the status code and body.
func (n *Node) Get(tb testing.TB, path, token string) (int, []byte) {
	tb.Helper()
	code, body := n.get(tb, path, token)
	if code == 0 {
		tb.Fatalf("GET %s: %s", path, body)
	}
	return code, body
}

// get is Get that returns code 0 and the error as the body when no reply
// comes.
func (n *Node) get(tb testing.TB, path, token string) (int, []byte) {
	tb.Helper()
	pem, err := os.ReadFile(n.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, n.Address+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, body
}

// ServingCert returns a new CA certificate and a serving certificate and
// key that it signs for ips and names, all PEM.
func ServingCert(ips []net.IP, names []string) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bpfleet-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kubelet"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: ips, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// teardown stops the kubelet and undoes what it did outside containerd
// (whose own cleanup, which runs next, removes the pods and cgroups).
func (n *Node) teardown(tb testing.TB) {
	logDirs := n.podLogDirs()
	n.stopKubelet()
	errs := []error{n.unmountAll()}
	errs = append(errs, n.removeLogs(logDirs)...)
	for _, p := range slices.Backward(outsideRoot) {
		if n.preExist[p] {
			continue
		}
		if p == "/var/lib/kubelet/device-plugins" || p == "/var/lib/kubelet" {
			errs = append(errs, os.RemoveAll(p))
		} else if err := os.Remove(p); err != nil && !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTEMPTY) {
			errs = append(errs, err)
		}
	}
	for k, v := range n.sysctls {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s: %w", k, err))
		}
	}
	errs = append(errs, os.RemoveAll(n.Dir))
	if err := errors.Join(errs...); err != nil {
		tb.Errorf("cleaning up the node: %v", err)
	}
}

// podLogDirs returns /var/log/pods/<namespace>_<name>_<uid> of every pod the
// API server has on the node.
func (n *Node) podLogDirs() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, err := n.Cluster.Admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n.Name).String()})
	var dirs []string
	if err == nil {
		for _, p := range pods.Items {
			dirs = append(dirs, filepath.Join("/var/log/pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID)))
		}
	}
	// Pods deleted during the test left theirs too, if the kubelet had no
	// time to remove them: the kubelet's names end in the pod UIDs it
	// recorded under its root dir.
	entries, _ := os.ReadDir(filepath.Join(n.RootDir, "pods"))
	for _, e := range entries {
		matches, _ := filepath.Glob(filepath.Join("/var/log/pods", "*_"+e.Name()))
		dirs = append(dirs, matches...)
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// removeLogs removes the pods' log directories and the links to them.
func (n *Node) removeLogs(dirs []string) []error {
	var errs []error
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if strings.HasPrefix(target, d+"/") {
				if err := os.Remove(l); err != nil && !os.IsNotExist(err) {
					errs = append(errs, err)
				}
				break
			}
		}
	}
	for _, d := range dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errs
}

// unmountAll detaches every mount at or under Dir, deepest first, until
// none is left (the kubelet stacks bind mounts on its root dir).
func (n *Node) unmountAll() error {
	for range 10 {
		mounts, err := mountsUnder(n.Dir)
		if err != nil || len(mounts) == 0 {
			return err
		}
		slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmounting %s: %w", m, err)
			}
		}
	}
	mounts, _ := mountsUnder(n.Dir)
	if len(mounts) > 0 {
		return fmt.Errorf("mounts left under %s: %v", n.Dir, mounts)
	}
	return nil
}

func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out, sc.Err()
}

// Port returns the kubelet's port.
func (n *Node) Port() int {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(n.Address, "https://"))
	v, _ := strconv.Atoi(p)
	return v
}
