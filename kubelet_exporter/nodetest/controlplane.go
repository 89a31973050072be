package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
)

// ControlPlaneControllers are the controllers StartWithControlPlane runs in
// kube-controller-manager: what DaemonSets need on a node that registers
// with the not-ready taint (nodelifecycle removes it once the node is
// Ready), namespaces their default ServiceAccount and the cluster CA
// ConfigMap that projected tokens mount, and the garbage collector that
// deletes a DaemonSet's pods with it; deployment and replicaset for a
// Deployment's pods.
var ControlPlaneControllers = []string{"daemonset", "deployment", "replicaset", "serviceaccount", "serviceaccount-token", "namespace", "garbagecollector", "nodelifecycle", "root-ca-cert-publisher"}

// ControlPlaneBinary returns the path of kube-controller-manager or
// kube-scheduler v1.37.2, built by scripts/test-deps.d/kubelet.sh; without
// it the test fails as root and skips otherwise.
func ControlPlaneBinary(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(kubetest.Cache(), name+"-"+KubeletVersion, name)
	if _, err := os.Stat(p); err != nil {
		if os.Geteuid() != 0 {
			tb.Skipf("%s missing and not root: run scripts/test-deps.d/kubelet.sh as root", p)
		}
		tb.Fatalf("%s missing: run scripts/test-deps.d/kubelet.sh (make test-deps): %v", p, err)
	}
	return p
}

// ControlPlane is the kube-controller-manager and kube-scheduler of a node
// started by StartWithControlPlane.
type ControlPlane struct {
	// PodGateway is the address the host has on the pod network's bridge
	// (the first of its subnet, which host-local never hands out), so
	// that the kubelet's HTTP probes and the test reach pod IPs.
	PodGateway net.IP
	// ControllerManagerLog and SchedulerLog are the two logs.
	ControllerManagerLog, SchedulerLog string
	// RootCAFile is the controller-manager's --root-ca-file, which every
	// namespace's kube-root-ca.crt ConfigMap publishes and every projected
	// service-account volume mounts as ca.crt: the API server's CA
	// followed by the kubelet's (Node.CAFile), as on a cluster whose
	// kubelets' serving certificates the cluster CA signs (kubeadm's
	// serverTLSBootstrap), so that a pod verifies both.
	RootCAFile string
	// APIServerPort is the port on PodGateway where a TCP forwarder
	// (Forward) passes pods' connections to the API server, which
	// listens on loopback only: on a real node kube-proxy routes the
	// kubernetes Service to it, and this node has no kube-proxy and its
	// pods no default route. TLS is the API server's own, end to end.
	APIServerPort int

	procs     []*controlProc
	listeners []net.Listener
}

type controlProc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartWithControlPlane is Start plus a kube-controller-manager (with
// ControlPlaneControllers) and a kube-scheduler v1.37.2 on the same API
// server, so that DaemonSets and Deployments get pods scheduled to the
// node as on a real cluster. It also gives the host an address on the
// containerd's CNI bridge (PodGateway), so that pods are reachable from the
// host as on a real node: a connected route only, no forwarding and no
// masquerading; the bridge goes with the containerd's cleanup. That
// address is the node's InternalIP (Node.NodeIP, the kubelet's --node-ip),
// where the kubelet serves on its default port 10250 with a certificate
// for it, so that a pod reaches its node's kubelet at status.hostIP:10250
// as on a real node; RootCAFile and APIServerPort say how pods verify the
// kubelet and reach the API server. It waits until the node has lost its
// not-ready taint. The test's cleanup stops both before the node's own
// teardown.
func StartWithControlPlane(tb testing.TB) (*Node, *ControlPlane) {
	tb.Helper()
	testenv.RequireRoot(tb)
	kcm := ControlPlaneBinary(tb, "kube-controller-manager")
	sched := ControlPlaneBinary(tb, "kube-scheduler")
	n := start(tb, true)
	cp := &ControlPlane{
		PodGateway:           n.NodeIP,
		ControllerManagerLog: filepath.Join(n.Dir, "kube-controller-manager.log"),
		SchedulerLog:         filepath.Join(n.Dir, "kube-scheduler.log"),
		RootCAFile:           filepath.Join(n.Dir, "root-ca.crt"),
	}
	tb.Cleanup(cp.stop)
	var bundle []byte
	for _, f := range []string{filepath.Join(n.Cluster.Dir, "certs", "apiserver.crt"), n.CAFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	if err := os.WriteFile(cp.RootCAFile, bundle, 0o644); err != nil {
		tb.Fatal(err)
	}
	cp.APIServerPort = cp.Forward(tb, fmt.Sprintf("127.0.0.1:%d", n.Cluster.Port))
	kubeconfig := n.Cluster.Kubeconfig(tb, kubetest.AdminToken, n.Cluster.URL())
	cp.start(tb, "kube-controller-manager", kcm, cp.ControllerManagerLog,
		"--kubeconfig="+kubeconfig,
		"--controllers="+strings.Join(ControlPlaneControllers, ","),
		"--service-account-private-key-file="+filepath.Join(n.Cluster.Dir, "sa.pem"),
		"--root-ca-file="+cp.RootCAFile,
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-daemonset-syncs=2",
		"--v=1")
	cp.start(tb, "kube-scheduler", sched, cp.SchedulerLog,
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1")
	n.Eventually(tb, "node without the not-ready taint", func() error {
		if err := cp.alive(); err != nil {
			tb.Fatal(err)
		}
		node, err := n.Cluster.Admin.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, t := range node.Spec.Taints {
			if t.Key == "node.kubernetes.io/not-ready" || t.Key == "node.kubernetes.io/unreachable" {
				return fmt.Errorf("taint %v", t)
			}
		}
		return nil
	})
	return n, cp
}

func (cp *ControlPlane) start(tb testing.TB, name, bin, logFile string, args ...string) {
	tb.Helper()
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	p := &controlProc{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	cp.procs = append(cp.procs, p)
}

// alive returns an error with the log's tail when one of the two exited.
func (cp *ControlPlane) alive() error {
	for _, p := range cp.procs {
		select {
		case <-p.exited:
			logFile := cp.ControllerManagerLog
			if p.name == "kube-scheduler" {
				logFile = cp.SchedulerLog
			}
			b, _ := os.ReadFile(logFile)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			return fmt.Errorf("%s exited: %v; log:\n%s", p.name, p.cmd.ProcessState, b)
		default:
		}
	}
	return nil
}

// Alive fails the test when kube-controller-manager or kube-scheduler has
// exited.
func (cp *ControlPlane) Alive(tb testing.TB) {
	tb.Helper()
	if err := cp.alive(); err != nil {
		tb.Fatal(err)
	}
}

// Forward listens on a free port of PodGateway, where pods reach the host,
// and copies each connection to and from addr (a service of the host that
// listens on loopback only, such as the cluster's etcd); it returns the
// port. The listener closes with the control plane.
func (cp *ControlPlane) Forward(tb testing.TB, addr string) int {
	tb.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(cp.PodGateway.String(), "0"))
	if err != nil {
		tb.Fatal(err)
	}
	cp.listeners = append(cp.listeners, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func (cp *ControlPlane) stop() {
	for _, ln := range cp.listeners {
		ln.Close()
	}
	cp.listeners = nil
	for _, p := range cp.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	cp.procs = nil
}

// bridgeAddress creates the containerd's CNI bridge before any pod (the
// bridge plugin takes an existing bridge as it is) with the first address
// of the network's subnet, and returns that address. The containerd's
// cleanup removes the bridge, and the address with it.
func (n *Node) bridgeAddress(tb testing.TB) net.IP {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(n.Containerd.Dir, "net.d", "10-bpfleet.conflist"))
	if err != nil {
		tb.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			Bridge string
			IPAM   struct {
				Ranges [][]struct{ Subnet string }
			}
		}
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		tb.Fatalf("the containerd's CNI configuration: %v", err)
	}
	if len(conf.Plugins) == 0 || conf.Plugins[0].Bridge == "" || len(conf.Plugins[0].IPAM.Ranges) == 0 || len(conf.Plugins[0].IPAM.Ranges[0]) == 0 {
		tb.Fatalf("the containerd's CNI configuration has no bridge and subnet: %s", b)
	}
	_, subnet, err := net.ParseCIDR(conf.Plugins[0].IPAM.Ranges[0][0].Subnet)
	if err != nil {
		tb.Fatal(err)
	}
	gw := subnet.IP.To4()
	if gw == nil {
		tb.Fatalf("subnet %s is not IPv4", subnet)
	}
	gw = net.IPv4(gw[0], gw[1], gw[2], gw[3]+1).To4()
	ones, _ := subnet.Mask.Size()
	bridge := conf.Plugins[0].Bridge
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", gw, ones), "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return gw
}
