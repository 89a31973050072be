package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
	"github.com/bpfleet/bpfleet/kubelet_exporter/nodetest"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// nodeExporters are the exporters TestManifestsOnNode deploys, with the
// collectors each must report successful.
var nodeExporters = []struct {
	name       string
	collectors []string
}{
	{"kernel", []string{"block", "oom", "process", "sched", "tcp"}},
	{"dns", []string{"dns"}},
	{"cni", []string{"drops", "ipam", "netns", "plugins"}},
	{"cri", []string{"cri", "oom"}},
	{"kubelet", []string{"summary"}},
	{"kubeapi", []string{"client", "events", "pods", "writes"}},
}

// metricNamespace is the prefix of exporter e's metrics.
func metricNamespace(e string) string {
	if e == "kubelet" {
		return "kubelet_summary"
	}
	return e
}

// podNamespace is the namespace of exporter e's pods: the API readers run
// in the chart's restricted namespace, the eBPF exporters in its
// privileged one.
func podNamespace(e string) string {
	if e == "kubelet" || e == "kubeapi" || e == "etcd" {
		return "bpfleet"
	}
	return "bpfleet-node"
}

// imageRef matches the image of a generated manifest.
var imageRef = regexp.MustCompile(`(?m)^\s+image: (\S+)/([a-z]+)_exporter:(\S+)$`)

// plainClient scrapes pods from the host, through the pod network's bridge.
var plainClient = &http.Client{Timeout: 5 * time.Second}

// nodeManifest returns the generated manifest of exporter e with the host
// paths that differ on the test node replaced by the node's: the CRI socket
// (only the hostPath volume: in the container it stays where the manifest
// mounts it) and, for cni, the CNI directories (everywhere: cni_exporter
// mounts them at their host paths, which its flags name), and for kernel
// and dns the kubelet's cgroup root, which is not "/" on the test node.
func nodeManifest(t *testing.T, node *nodetest.Node, cp *nodetest.ControlPlane, e string) string {
	t.Helper()
	s := readManifest(t, e)
	socket := strings.TrimPrefix(node.Containerd.Endpoint, "unix://")
	replace := func(old, new string) {
		if !strings.Contains(s, old) {
			t.Fatalf("manifests/%s.yaml has no %q", e, old)
		}
		s = strings.ReplaceAll(s, old, new)
	}
	if e == "kubeapi" {
		// No kube-proxy and no cluster DNS run here, and the pods have no
		// default route: the pod reaches the API server through the
		// node's forwarder on the bridge (ControlPlane.APIServerPort)
		// under the name kubernetes.default.svc, which the API server's
		// certificate names. In-cluster configuration reads the
		// address from these two variables (a container's own env wins
		// over the kubelet's service env); on a real node they are the
		// kubernetes Service's, which kube-proxy routes.
		insertAfter(t, &s, e, "      enableServiceLinks: false\n", fmt.Sprintf(
			"      hostAliases:\n      - ip: %q\n        hostnames: [kubernetes.default.svc]\n", node.NodeIP))
		insertAfter(t, &s, e, "          - --total-shards=1\n", fmt.Sprintf(
			"        env:\n        - name: KUBERNETES_SERVICE_HOST\n          value: kubernetes.default.svc\n        - name: KUBERNETES_SERVICE_PORT\n          value: %q\n", fmt.Sprint(cp.APIServerPort)))
		return s
	}
	if e == "kubelet" {
		// As on a real node: the kubelet serves at status.hostIP:10250
		// with a certificate that the service account's ca.crt verifies.
		return s
	}
	replace("path: /run/containerd/containerd.sock", "path: "+socket)
	if e == "kernel" || e == "dns" {
		// The kubelet's --cgroup-root: only containers under it get pod
		// labels (on a node whose kubelet has the default, "/", the
		// exporters' default is right).
		const arg = "- --cri.endpoint=unix:///run/containerd/containerd.sock\n"
		i := strings.Index(s, arg)
		if i < 0 {
			t.Fatalf("manifests/%s.yaml has no %q", e, arg)
		}
		indent := s[strings.LastIndex(s[:i], "\n")+1 : i]
		s = s[:i+len(arg)] + indent + "- --workload.kubelet-cgroup-root=" + node.Containerd.CgroupParent + "\n" + s[i+len(arg):]
	}
	if e == "cni" {
		replace("/opt/cni/bin", node.Containerd.CNIBinDir)
		replace("/etc/cni/net.d", filepath.Join(node.Containerd.Dir, "net.d"))
		replace("/var/lib/cni/networks", node.Containerd.IPAMDataDir)
	}
	return s
}

// readManifest returns exporter e's generated manifest.
func readManifest(t *testing.T, e string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ManifestsDir(), e+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// insertAfter inserts text after the one occurrence of after in *s, the
// manifest of exporter e.
func insertAfter(t *testing.T, s *string, e, after, text string) {
	t.Helper()
	if strings.Count(*s, after) != 1 {
		t.Fatalf("manifests/%s.yaml has %d times %q, want 1", e, strings.Count(*s, after), after)
	}
	i := strings.Index(*s, after) + len(after)
	*s = (*s)[:i] + text + (*s)[i:]
}

// nodeEnv is a node with the manifests applied.
type nodeEnv struct {
	node       *nodetest.Node
	cp         *nodetest.ControlPlane
	kubeconfig string
	manifests  map[string]string
	license    []byte
}

// importImage builds the image that exporter e's manifest m names, as
// `make images` does, and imports it into the node's containerd.
func (n *nodeEnv) importImage(t *testing.T, e, m string) {
	t.Helper()
	ref := imageRef.FindStringSubmatch(m)
	if ref == nil || ref[2] != e {
		t.Fatalf("manifests/%s.yaml: image %v", e, ref)
	}
	bin, err := BuildBinary(Root(), e, ref[3], "test")
	if err != nil {
		t.Fatal(err)
	}
	archive, err := BuildImage(ImageSpec{Exporter: e, Version: ref[3], Binary: bin, License: n.license, Registry: ref[1]})
	if err != nil {
		t.Fatal(err)
	}
	socket := strings.TrimPrefix(n.node.Containerd.Endpoint, "unix://")
	ctr := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs", "-")
	ctr.Stdin = bytes.NewReader(archive)
	if out, err := ctr.CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v: %s", err, out)
	}
}

func (n *nodeEnv) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", n.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// exporterPod waits until exporter e's DaemonSet (kubeapi, etcd: Deployment) has
// its one pod, other than not, scheduled, updated and (when ready) Ready,
// and returns it.
func (n *nodeEnv) exporterPod(t *testing.T, e string, ready bool, not string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var pod *corev1.Pod
	ns := podNamespace(e)
	n.node.Eventually(t, e+"-exporter's pod", func() error {
		n.cp.Alive(t)
		if e == "kubeapi" || e == "etcd" {
			name := e + "-exporter"
			if e == "kubeapi" {
				name += "-shard-0"
			}
			d, err := n.node.Cluster.Admin.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := d.Status
			if st.Replicas != 1 || st.UpdatedReplicas != 1 || st.ObservedGeneration != d.Generation || (ready && st.ReadyReplicas != 1) {
				return fmt.Errorf("Deployment status %+v", st)
			}
		} else {
			ds, err := n.node.Cluster.Admin.AppsV1().DaemonSets(ns).Get(ctx, e+"-exporter", metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := ds.Status
			if st.DesiredNumberScheduled != 1 || st.UpdatedNumberScheduled != 1 || st.ObservedGeneration != ds.Generation || (ready && st.NumberReady != 1) {
				return fmt.Errorf("DaemonSet status %+v", st)
			}
		}
		pods, err := n.node.Cluster.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + e + "-exporter"})
		if err != nil {
			return err
		}
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && string(p.UID) != not {
				live = append(live, p)
			}
		}
		if len(live) != 1 || len(pods.Items) != 1 {
			return fmt.Errorf("%d pods, %d of them live and new", len(pods.Items), len(live))
		}
		p := live[0]
		if p.Spec.NodeName != n.node.Name || p.Status.PodIP == "" || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
			return fmt.Errorf("pod %s on %q, IP %q, %+v", p.Name, p.Spec.NodeName, p.Status.PodIP, p.Status.ContainerStatuses)
		}
		pod = &p
		return nil
	})
	return pod
}

// containerLog returns the log of the pod's first container, from the CRI.
func (n *nodeEnv) containerLog(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	resp, err := n.node.Containerd.Runtime.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(pod.UID)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var log []byte
	for _, c := range resp.GetContainers() {
		st := n.node.Containerd.ContainerStatus(t, c.GetId())
		b, _ := os.ReadFile(st.GetLogPath())
		log = append(log, b...)
	}
	return string(log)
}

// scrapeCollectors scrapes the exporter in pod until each of collectors has
// a success series, and returns that scrape.
func (n *nodeEnv) scrapeCollectors(t *testing.T, pod *corev1.Pod, e string, collectors []string) map[string]*dto.MetricFamily {
	t.Helper()
	url := fmt.Sprintf("http://%s:%d/metrics", pod.Status.PodIP, pod.Spec.Containers[0].Ports[0].ContainerPort)
	var mfs map[string]*dto.MetricFamily
	n.node.Eventually(t, "scraping "+url, func() error {
		var err error
		if mfs, err = scrape(plainClient, url); err != nil {
			return err
		}
		got := collectorValues(mfs, metricNamespace(e)+"_scrape_collector_success")
		for _, c := range collectors {
			if _, ok := got[c]; !ok {
				return fmt.Errorf("no %s_scrape_collector_success{collector=%q} yet: %v", metricNamespace(e), c, got)
			}
		}
		return nil
	})
	return mfs
}

// matching returns the series of metric name whose labels include every
// pair of kv.
func matching(mfs map[string]*dto.MetricFamily, name string, kv ...string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range mfs[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			match = match && labels[kv[i]] == kv[i+1]
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// sumOf returns the sum of the samples of metric name whose labels include
// every pair of kv, and how many series there are.
func sumOf(mfs map[string]*dto.MetricFamily, name string, kv ...string) (float64, int) {
	var sum float64
	ms := matching(mfs, name, kv...)
	for _, m := range ms {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum, len(ms)
}

// TestManifestsOnNode deploys the generated manifests of kernel, dns, cni,
// cri, kubelet and kubeapi exporters on a real node (kube-apiserver,
// kube-controller-manager, kube-scheduler and kubelet v1.37.2 on a real
// containerd), with the images `make images` builds imported as they are.
// The only changes to the manifests are the node's: its CRI socket, its
// CNI directories (cni), its kubelet's cgroup root (kernel, dns: it is not
// "/" here) and, for kubeapi, the API server's address (no kube-proxy or
// cluster DNS runs here; see nodeManifest). kubelet_exporter's is applied
// unchanged: the node's kubelet serves at status.hostIP:10250 with a
// certificate the service account's ca.crt verifies, as on a real node
// (nodetest.StartWithControlPlane). The DaemonSet and Deployment
// controllers create each pod, the scheduler binds it, the kubelet runs it
// with the manifest's security context and service account and its
// readiness probe makes it Ready; then, through the pod IPs:
//   - every collector of every exporter succeeds, and none restarted;
//   - a workload pod that runs /bin/true 7 times raises kernel_exporter's
//     kernel_process_execs_total of its namespace and pod by exactly 7;
//   - a workload pod that asks 1, then 5 more A questions raises
//     dns_queries_total and dns_responses_total{rcode="NXDOMAIN"} of its
//     namespace and pod to exactly 1, then 6;
//   - two pods that exit 3 and 4 raise cni_plugin_invocations_total of
//     the bridge's successful ADDs by exactly 2, and cri_exporter counts one
//     exit of each with reason error and its exit code;
//   - kubelet_exporter passed its permission check, and serves exactly
//     the two pods of a namespace, one's emptyDir usage after it wrote
//     5 MiB and its capacity (the node's 256 MiB tmpfs); without the
//     chart's ClusterRoleBinding the kubelet answers 403 and the
//     collector fails, applied again it succeeds (kubeletSummary);
//   - kubeapi_exporter counts exactly the 3 Warning Events, 2 container
//     terminations with reason Error and 2 pods scheduled of a namespace
//     (kubeAPICounts);
//   - kernel's manifest applied again without PERFMON replaces the pod,
//     which keeps running, reports its tracing collectors failed and names
//     the capability in its log;
//   - systemd_exporter's manifest, its two host paths pointed at a real
//     systemd booted in systemd-nspawn (this host runs none), counts a
//     service's 3 failures and restarts exactly (systemdOnNode);
//   - etcd_exporter, rendered by the chart for an http:// etcd, counts the
//     cluster's ConfigMaps in etcd, then 3 puts and 1 delete, exactly
//     (etcdKeyspace).
func TestManifestsOnNode(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	// The kubelet may leave the log directory of a pod deleted during the
	// test (kernel's, replaced) to its next garbage collection: the node's
	// teardown only knows the pods that still exist. This cleanup runs
	// after the node's.
	var replaced []*corev1.Pod
	hadLogs := map[string]bool{}
	for _, d := range []string{"/var/log/pods", "/var/log/containers"} {
		_, err := os.Lstat(d)
		hadLogs[d] = err == nil
	}
	t.Cleanup(func() { removePodLogs(t, replaced, hadLogs) })
	node, cp := nodetest.StartWithControlPlane(t)
	env := &nodeEnv{node: node, cp: cp, kubeconfig: node.Cluster.Kubeconfig(t, kubetest.AdminToken, node.Cluster.URL()), manifests: map[string]string{}}
	env.license = license(t)
	var all bytes.Buffer
	for _, x := range nodeExporters {
		m := nodeManifest(t, node, cp, x.name)
		env.manifests[x.name] = m
		env.importImage(t, x.name, m)
		all.WriteString(m)
	}
	env.kubectl(t, all.String(), "apply", "-f", "-")

	pods := map[string]*corev1.Pod{}
	for _, x := range nodeExporters {
		pods[x.name] = env.exporterPod(t, x.name, true, "")
	}
	for _, x := range nodeExporters {
		t.Run(x.name, func(t *testing.T) {
			pod := pods[x.name]
			mfs := env.scrapeCollectors(t, pod, x.name, x.collectors)
			success := collectorValues(mfs, metricNamespace(x.name)+"_scrape_collector_success")
			var ok []string
			for c, v := range success {
				if v == 1 {
					ok = append(ok, c)
				}
			}
			sort.Strings(ok)
			if strings.Join(ok, ",") != strings.Join(x.collectors, ",") {
				t.Errorf("collectors succeeding %v, want %v (all: %v); log:\n%s", ok, x.collectors, success, env.containerLog(t, pod))
			}
			if r := pod.Status.ContainerStatuses[0].RestartCount; r != 0 {
				t.Errorf("restarted %d times", r)
			}
		})
	}

	t.Run("kernel execs of a workload pod", func(t *testing.T) {
		const execs = 7
		created, next := env.workload(t, "web", strings.Repeat(" /bin/true;", execs))
		kernel := pods["kernel"]
		labels := []string{"namespace", "shop", "pod", "web"}
		var before float64
		node.Eventually(t, "the workload's execs served with its pod labels and steady", func() error {
			mfs := env.scrapeCollectors(t, kernel, "kernel", nil)
			a, n := sumOf(mfs, "kernel_process_execs_total", labels...)
			if n == 0 {
				return fmt.Errorf("no kernel_process_execs_total%v; series of the pod's cgroup: %v; kernel_exporter's log:\n%s", labels, seriesWith(mfs, "kernel_process_execs_total", string(created.UID)), env.containerLog(t, kernel))
			}
			time.Sleep(time.Second)
			b, _ := sumOf(env.scrapeCollectors(t, kernel, "kernel", nil), "kernel_process_execs_total", labels...)
			if a != b {
				return fmt.Errorf("still changing: %v then %v", a, b)
			}
			before = b
			return nil
		})
		next()
		var after float64
		node.Eventually(t, "the workload's execs counted", func() error {
			after, _ = sumOf(env.scrapeCollectors(t, kernel, "kernel", nil), "kernel_process_execs_total", labels...)
			if after < before+execs {
				return fmt.Errorf("kernel_process_execs_total%v = %v, want %v + %d", labels, after, before, execs)
			}
			return nil
		})
		time.Sleep(2 * time.Second)
		after, _ = sumOf(env.scrapeCollectors(t, kernel, "kernel", nil), "kernel_process_execs_total", labels...)
		if after != before+execs {
			t.Errorf("kernel_process_execs_total%v rose from %v to %v, want exactly +%d", labels, before, after, execs)
		}
	})

	t.Run("dns queries of a workload pod", func(t *testing.T) {
		const queries = 5
		served := startDNSResponder(t, cp.PodGateway)
		ask := func(i int) string {
			return fmt.Sprintf("nslookup -type=a q%d.bpfleet.test. %s >/dev/null 2>&1", i, cp.PodGateway)
		}
		var many []string
		for i := range queries {
			many = append(many, ask(i+1))
		}
		_, next := env.workload(t, "resolver", ask(0), strings.Join(many, "; "))
		dns := pods["dns"]
		queried := []string{"namespace", "shop", "pod", "resolver", "qtype", "A", "protocol", "udp"}
		answered := append([]string{"rcode", "NXDOMAIN"}, queried...)
		wait := func(want float64) {
			t.Helper()
			node.Eventually(t, fmt.Sprintf("%v queries counted", want), func() error {
				mfs := env.scrapeCollectors(t, dns, "dns", nil)
				q, _ := sumOf(mfs, "dns_queries_total", queried...)
				r, _ := sumOf(mfs, "dns_responses_total", answered...)
				if q > want || r > want {
					t.Fatalf("dns_queries_total%v = %v, dns_responses_total%v = %v: more than %v", queried, q, answered, r, want)
				}
				if q != want || r != want {
					return fmt.Errorf("dns_queries_total%v = %v, dns_responses_total%v = %v, want %v; the pod's series: %v", queried, q, answered, r, want, seriesWith(mfs, "dns_queries_total", "resolver"))
				}
				return nil
			})
		}
		next()
		wait(1)
		next()
		wait(1 + queries)
		time.Sleep(2 * time.Second)
		wait(1 + queries)
		if got := served.Load(); got != 1+queries {
			t.Errorf("the responder answered %d queries, want %d", got, 1+queries)
		}
	})

	t.Run("cni ADDs and a container exit", func(t *testing.T) {
		cni, cri := pods["cni"], pods["cri"]
		adds := []string{"plugin", "bridge", "command", "ADD", "result", "success"}
		before, _ := sumOf(env.scrapeCollectors(t, cni, "cni", nil), "cni_plugin_invocations_total", adds...)
		const created = 2
		for i := range created {
			env.pod(t, fmt.Sprintf("quit-%d", i), []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", 3+i)}, corev1.PodFailed)
		}
		node.Eventually(t, "the pods' CNI ADDs counted", func() error {
			got, _ := sumOf(env.scrapeCollectors(t, cni, "cni", nil), "cni_plugin_invocations_total", adds...)
			if got != before+created {
				return fmt.Errorf("cni_plugin_invocations_total%v = %v, want %v + %d", adds, got, before, created)
			}
			return nil
		})
		for i := range created {
			pod := fmt.Sprintf("quit-%d", i)
			labels := []string{"namespace", "shop", "pod", pod, "container", "app"}
			node.Eventually(t, pod+"'s exit counted", func() error {
				mfs := env.scrapeCollectors(t, cri, "cri", nil)
				exits, _ := sumOf(mfs, "cri_container_exits_total", labels...)
				failed, _ := sumOf(mfs, "cri_container_exits_total", append(labels, "reason", "error")...)
				code, n := sumOf(mfs, "cri_container_last_exit_code", labels...)
				if exits != 1 || failed != 1 || n != 1 || code != float64(3+i) {
					return fmt.Errorf("cri_container_exits_total%v = %v (reason error: %v), cri_container_last_exit_code = %v (%d series); want 1, 1 and %d", labels, exits, failed, code, n, 3+i)
				}
				return nil
			})
		}
	})

	t.Run("kubelet summary of workload pods", func(t *testing.T) { env.kubeletSummary(t, pods["kubelet"]) })
	t.Run("kubeapi events and terminations", func(t *testing.T) { env.kubeAPICounts(t, pods["kubeapi"]) })

	t.Run("kernel without PERFMON", func(t *testing.T) {
		old := pods["kernel"]
		const caps = `add: ["BPF","PERFMON","DAC_READ_SEARCH"]`
		m := env.manifests["kernel"]
		if strings.Count(m, caps) != 1 {
			t.Fatalf("manifests/kernel.yaml does not add %s once", caps)
		}
		env.kubectl(t, strings.Replace(m, caps, `add: ["BPF","DAC_READ_SEARCH"]`, 1), "apply", "-f", "-")
		replaced = append(replaced, old)
		pod := env.exporterPod(t, "kernel", false, string(old.UID))
		if add := pod.Spec.Containers[0].SecurityContext.Capabilities.Add; fmt.Sprint(add) != "[BPF DAC_READ_SEARCH]" {
			t.Fatalf("new pod adds %v", add)
		}
		mfs := env.scrapeCollectors(t, pod, "kernel", nodeExporters[0].collectors)
		success := collectorValues(mfs, "kernel_scrape_collector_success")
		for _, c := range nodeExporters[0].collectors {
			if v := success[c]; v != 0 {
				t.Errorf("collector %s success %v, want 0", c, v)
			}
		}
		// The collectors' failure is served before containerd has
		// necessarily written its log line.
		node.Eventually(t, "the log naming CAP_PERFMON", func() error {
			if log := env.containerLog(t, pod); !strings.Contains(log, "the exporter lacks CAP_PERFMON") {
				return fmt.Errorf("the log does not name CAP_PERFMON:\n%s", log)
			}
			return nil
		})
		p, err := node.Cluster.Admin.CoreV1().Pods("bpfleet-node").Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Status.ContainerStatuses[0]; st.State.Running == nil || st.RestartCount != 0 {
			t.Errorf("the exporter without PERFMON: state %+v, %d restarts; want running, never restarted", st.State, st.RestartCount)
		}
	})

	t.Run("systemd on a booted systemd", func(t *testing.T) {
		env.systemdOnNode(t, func(pod *corev1.Pod) { replaced = append(replaced, pod) })
	})

	t.Run("etcd keyspace of the cluster's etcd", env.etcdKeyspace)
}

// seriesWith returns the label sets of metric name with a value containing
// sub.
func seriesWith(mfs map[string]*dto.MetricFamily, name, sub string) []string {
	var out []string
	for _, m := range mfs[name].GetMetric() {
		var ls []string
		hit := false
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
			hit = hit || strings.Contains(l.GetValue(), sub)
		}
		if hit {
			out = append(out, strings.Join(ls, ","))
		}
	}
	return out
}

// workload runs a busybox pod name in namespace shop, bound by the
// scheduler, whose script runs steps one at a time: before each step and
// after the last it waits on a FIFO of its own in an emptyDir, and each
// call of next lets the next step run (written from the host, so that
// nothing runs in the pod but its steps). One FIFO per wait: a read that
// reopened the FIFO just written, before the host closed it, would not
// wait.
func (n *nodeEnv) workload(t *testing.T, name string, steps ...string) (*corev1.Pod, func()) {
	t.Helper()
	n.node.Namespace(t, "shop")
	fifos := "mkfifo"
	for i := range len(steps) + 1 {
		fifos += fmt.Sprintf(" /w/go%d", i)
	}
	script := fifos + "; read x < /w/go0;"
	for i, s := range steps {
		script += " " + strings.TrimSuffix(strings.TrimSpace(s), ";") + fmt.Sprintf("; read x < /w/go%d;", i+1)
	}
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{
				Name: "app", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "w", MountPath: "/w"}},
			}},
			Volumes: []corev1.Volume{{Name: "w", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	created, err := n.node.Cluster.Admin.CoreV1().Pods("shop").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(n.node.RootDir, "pods", string(created.UID), "volumes", "kubernetes.io~empty-dir", "w")
	last := filepath.Join(dir, fmt.Sprintf("go%d", len(steps)))
	n.node.Eventually(t, "the workload's FIFOs in "+dir, func() error {
		fi, err := os.Stat(last)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("%s is not a FIFO", last)
		}
		return nil
	})
	step := 0
	next := func() {
		t.Helper()
		fifo := filepath.Join(dir, fmt.Sprintf("go%d", step))
		step++
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("go\n"); err != nil {
			t.Fatal(err)
		}
	}
	return created, next
}

// startDNSResponder answers every UDP query at ip:53 with NXDOMAIN (the
// query itself, with QR, RA and the rcode set) and counts them.
func startDNSResponder(t *testing.T, ip net.IP) *atomic.Int64 {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var served atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			reply := append([]byte(nil), buf[:n]...)
			reply[2] |= 0x80                    // QR
			reply[3] = reply[3]&0x70 | 0x80 | 3 // RA, NXDOMAIN
			if _, err := conn.WriteToUDP(reply, from); err == nil {
				served.Add(1)
			}
		}
	}()
	return &served
}

// pod runs a busybox pod name in namespace shop that never restarts,
// bound by the scheduler, and waits until it reaches phase.
func (n *nodeEnv) pod(t *testing.T, name string, command []string, phase corev1.PodPhase) {
	t.Helper()
	n.podIn(t, "shop", name, command, phase, nil)
}

// podIn is pod in namespace ns, with volume (when not nil) mounted at
// /<its name>.
func (n *nodeEnv) podIn(t *testing.T, ns, name string, command []string, phase corev1.PodPhase, volume *corev1.Volume) {
	t.Helper()
	n.node.Namespace(t, ns)
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			RestartPolicy:                corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: command,
			}},
		},
	}
	if volume != nil {
		pod.Spec.Volumes = []corev1.Volume{*volume}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: volume.Name, MountPath: "/" + volume.Name}}
	}
	ctx := context.Background()
	if _, err := n.node.Cluster.Admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.node.Eventually(t, "pod "+ns+"/"+name+" "+string(phase), func() error {
		p, err := n.node.Cluster.Admin.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != phase {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
}

// removePodLogs removes the log directories of pods in /var/log/pods and
// the links to them in /var/log/containers, then those two directories
// when they did not exist before (had) and are empty.
func removePodLogs(t *testing.T, pods []*corev1.Pod, had map[string]bool) {
	for _, p := range pods {
		dir := filepath.Join("/var/log/pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID))
		links, _ := filepath.Glob("/var/log/containers/*.log")
		for _, l := range links {
			if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
				if err := os.Remove(l); err != nil {
					t.Error(err)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	}
	for _, d := range []string{"/var/log/containers", "/var/log/pods"} {
		if had[d] {
			continue
		}
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTEMPTY) {
			t.Error(err)
		}
	}
}
