package collector

// Tests against a real containerd whose pods join a bridge + host-local
// network, with the CNI plugins in a directory of that containerd's own,
// so that the plugin execs of other runtimes on the host are not seen.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestPodsInvokePlugins: N pods through CRI run containerd's loopback and
// the network's bridge, which runs host-local, each once with ADD; removing
// them runs each with DEL twice (StopPodSandbox and RemovePodSandbox both
// tear the network down; the second finds nothing to release and still
// succeeds). Every invocation has one duration sample.
func TestPodsInvokePlugins(t *testing.T) {
	const n = 3
	ctd := testenv.StartContainerd(t, testenv.WithPrivateCNIPlugins())
	h := collectortest.New(t, "cni", "plugins", pluginsCollectorOf(ctd.CNIBinDir))
	var pods []*testenv.Pod
	for i := range n {
		pods = append(pods, ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: fmt.Sprintf("web-%d", i)}))
	}
	added := map[string]float64{}
	for _, p := range cniPlugins {
		added[invocationSeries(p, "ADD", "success")] = n
	}
	waitSeries(t, h, invocations, added)

	for _, p := range pods {
		ctd.RemovePod(t, p)
	}
	all := map[string]float64{}
	for _, p := range cniPlugins {
		all[invocationSeries(p, "ADD", "success")] = n
		all[invocationSeries(p, "DEL", "success")] = 2 * n
	}
	s := waitSeries(t, h, invocations, all)
	for k, want := range all {
		m := s[k]
		hist := s.Histogram(durations, "plugin", labelOf(m, "plugin"), "command", labelOf(m, "command"))
		if got := hist.GetSampleCount(); float64(got) != want {
			t.Errorf("%s: %d duration samples, want %v", k, got, want)
		}
	}
}

// cniPlugins are what each pod of testenv's network runs.
var cniPlugins = []string{"loopback", "bridge", "host-local"}

// TestIPAMPoolExhausted: a host-local range of two addresses and three
// pods. The third ADD fails in host-local and so in bridge, which ran it;
// both addresses are allocated and the capacity is two.
func TestIPAMPoolExhausted(t *testing.T) {
	subnet := fmt.Sprintf("198.18.%d", time.Now().UnixNano()%256)
	ctd := testenv.StartContainerd(t, testenv.WithPrivateCNIPlugins(), testenv.WithCNIRange(testenv.CNIRange{
		Subnet: subnet + ".0/24", RangeStart: subnet + ".10", RangeEnd: subnet + ".11",
	}))
	plugins := collectortest.New(t, "cni", "plugins", pluginsCollectorOf(ctd.CNIBinDir))
	ipam := collectortest.New(t, "cni", "ipam", func(context.Context, exporter.Env) (exporter.Collector, error) {
		return newIPAM(ipamConfig{DataDir: "/nonexistent", ConfDir: filepath.Join(ctd.Dir, "net.d")}), nil
	})
	ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-1"})
	if err := runPodSandbox(ctd, "web-2"); err == nil {
		t.Fatal("third pod got an address from a range of two")
	}

	rng := subnet + ".10-" + subnet + ".11"
	s := ipam.Scrape()
	for _, name := range []string{"cni_ipam_addresses_allocated", "cni_ipam_addresses_capacity"} {
		if got := s[collectortest.SeriesOf(name, "network", ctd.Network, "range", rng)].GetGauge().GetValue(); got != 2 {
			t.Errorf("%s{network=%q,range=%q} = %v, want 2", name, ctd.Network, rng, got)
		}
	}
	exportertest.Eventually(t, func() error {
		s := plugins.Scrape()
		for _, p := range []string{"bridge", "host-local"} {
			ok, failed := s.Counter(invocations, "plugin", p, "command", "ADD", "result", "success"),
				s.Counter(invocations, "plugin", p, "command", "ADD", "result", "failure")
			if ok != 2 || failed != 1 {
				return fmt.Errorf("%s ADD: %v successes, %v failures; want 2 and 1", p, ok, failed)
			}
		}
		return nil
	})
}

// runPodSandbox asks containerd for a pod without failing the test.
func runPodSandbox(ctd *testenv.Containerd, name string) error {
	uid := fmt.Sprintf("%08x-0000-4000-8000-000000000000", time.Now().UnixNano()&0xffffffff)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ctd.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "shop", Uid: uid},
		LogDirectory: filepath.Join(ctd.Dir, "pods", uid),
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: ctd.CgroupParent + "/kubepods/besteffort/pod" + uid},
	}})
	return err
}

// TestNetworkNamespaces: two pods, a named namespace (ip netns add) and a
// process cloned into a namespace of its own. Each pod and the named
// namespace are alive until removed; each of the four was created once.
func TestNetworkNamespaces(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	h := collectortest.New(t, "cni", "netns", func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		return newNetns(ctx, env, hostPaths())
	})
	const alive, created = "cni_network_namespaces{}", "cni_network_namespaces_created_total{}"
	before := h.Scrape()
	pods := []*testenv.Pod{
		ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"}),
		ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-1"}),
	}
	named := testenv.NewNetns(t)
	cloned := exec.Command("/bin/true")
	cloned.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cloned.Run(); err != nil {
		t.Fatal(err)
	}
	during := h.Scrape()
	if got := during[alive].GetGauge().GetValue() - before[alive].GetGauge().GetValue(); got != 3 {
		t.Errorf("alive namespaces rose by %v, want 3 (two pods, %s)", got, named.Name)
	}
	if got := during[created].GetCounter().GetValue() - before[created].GetCounter().GetValue(); got != 4 {
		t.Errorf("created namespaces rose by %v, want 4", got)
	}
	for _, p := range pods {
		ctd.RemovePod(t, p)
	}
	after := h.Scrape()
	if got := after[alive].GetGauge().GetValue() - before[alive].GetGauge().GetValue(); got != 1 {
		t.Errorf("after removing the pods, alive namespaces rose by %v, want 1 (%s)", got, named.Name)
	}
}

// TestDropsAttributedToPod sends UDP datagrams to a closed port on the
// loopback of a pod's network namespace: each is dropped with NO_SOCKET
// and counted on that pod.
func TestDropsAttributedToPod(t *testing.T) {
	const sent = 5
	ctd := testenv.StartContainerd(t)
	h := collectortest.New(t, "cni", "drops", dropsCollectorOf, collectortest.WithCRIEndpoint(ctd.Endpoint))
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	series := []string{"namespace", "shop", "pod", "web-0", "reason", "NO_SOCKET"}
	before := h.Scrape()
	if err := sendUDP(pod.Netns, "127.0.0.1:9", sent); err != nil {
		t.Fatal(err)
	}
	after := h.Scrape()
	if got := collectortest.Delta(before, after, "cni_packet_drops_total", series...); got != sent {
		t.Errorf("cni_packet_drops_total%v rose by %v, want %d", series, got, sent)
	}
}

// sendUDP sends n datagrams to addr from a socket in the network namespace
// at path.
func sendUDP(path, addr string, n int) error {
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	return inNetns(path, func() error { return sendFrom(to, n, []byte("drop me")) })
}

// sendFrom sends n datagrams of payload to addr from an unconnected socket
// of 127.0.0.1, so that ICMP port unreachable errors are ignored.
func sendFrom(to *net.UDPAddr, n int, payload []byte) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	for range n {
		if _, err := conn.WriteToUDP(payload, to); err != nil {
			return err
		}
	}
	return nil
}

// inNetns runs f in the network namespace at path, on a thread of its own
// that is discarded afterwards.
func inNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with the goroutine
		errc <- enterNetns(path, f)
	}()
	return <-errc
}

func enterNetns(path string, f func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering %s: %w", path, err)
	}
	return f()
}
