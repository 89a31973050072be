package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sizes of TestManifestsOnNode's kubelet_exporter workload.
const (
	volumeWritten = 5 << 20 // bytes the writer pod writes into its emptyDir
	// volumeMargin is what the kubelet's du of a tmpfs emptyDir may add
	// to the bytes written (the directory's own blocks), as in
	// kubelet_exporter's TestRealKubelet.
	volumeMargin = 8 << 10
	// kubeletRootSize is the node's tmpfs root dir (nodetest), behind
	// every emptyDir.
	kubeletRootSize = 256 << 20
)

// labelValues returns the sorted distinct values of label on the series of
// metric name whose labels include every pair of kv.
func labelValues(mfs map[string]*dto.MetricFamily, name, label string, kv ...string) []string {
	var out []string
	for _, m := range matching(mfs, name, kv...) {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// histogramCount returns the sample count of histogram name's series whose
// labels include every pair of kv, summed.
func histogramCount(mfs map[string]*dto.MetricFamily, name string, kv ...string) uint64 {
	var n uint64
	for _, m := range matching(mfs, name, kv...) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// kubeletSummary checks kubelet_exporter, deployed by its generated
// manifest unchanged, against the node's kubelet: the exporter dials
// status.hostIP:10250, verifies the kubelet's certificate with its service
// account's ca.crt and authenticates with its token; the kubelet asks the
// API server, where only the chart's ClusterRole (get on nodes/stats)
// allows it. Then a namespace of two pods, one that wrote 5 MiB into an
// emptyDir: the exporter serves exactly those two pods, the volume's
// usage (within the kubelet's du margin) and its capacity, the node's
// 256 MiB tmpfs, exactly. Without the ClusterRoleBinding the kubelet
// answers 403 and the collector fails; applied again, it succeeds.
func (n *nodeEnv) kubeletSummary(t *testing.T, pod *corev1.Pod) {
	ctx := context.Background()
	log := n.containerLog(t, pod)
	if !strings.Contains(log, "the kubelet accepts the token") || !strings.Contains(log, "endpoint=/stats/summary") || strings.Contains(log, "permission check failed") {
		t.Errorf("the exporter's log has no passed permission check for /stats/summary:\n%s", log)
	}
	if strings.Contains(log, "certificate is not verified") {
		t.Errorf("the exporter does not verify the kubelet's certificate:\n%s", log)
	}
	if got, want := pod.Status.HostIP, n.node.NodeIP.String(); got != want {
		t.Errorf("the exporter's status.hostIP %s, want the node's %s", got, want)
	}

	const ns = "storage"
	cache := &corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	n.podIn(t, ns, "writer", []string{"/bin/sh", "-c", fmt.Sprintf("head -c %d /dev/zero > /cache/fill && exec sleep 3600", volumeWritten)}, corev1.PodRunning, cache)
	n.podIn(t, ns, "sleeper", []string{"/bin/sleep", "3600"}, corev1.PodRunning, nil)
	volume := []string{"namespace", ns, "pod", "writer", "volume", "cache"}
	var mfs map[string]*dto.MetricFamily
	n.node.Eventually(t, "the writer's emptyDir usage served", func() error {
		mfs = n.scrapeCollectors(t, pod, "kubelet", nil)
		if v, _ := sumOf(mfs, "kubelet_summary_pod_volume_used_bytes", volume...); v < volumeWritten {
			return fmt.Errorf("kubelet_summary_pod_volume_used_bytes%v = %v, want at least %d", volume, v, volumeWritten)
		}
		return nil
	})
	if got := labelValues(mfs, "kubelet_summary_pod_ephemeral_storage_used_bytes", "pod", "namespace", ns); strings.Join(got, ",") != "sleeper,writer" {
		t.Errorf("pods of namespace %s served: %v, want [sleeper writer]", ns, got)
	}
	if v, cnt := sumOf(mfs, "kubelet_summary_pod_volume_used_bytes", volume...); cnt != 1 || v > volumeWritten+volumeMargin {
		t.Errorf("kubelet_summary_pod_volume_used_bytes%v = %v (%d series), want %d to %d", volume, v, cnt, volumeWritten, volumeWritten+volumeMargin)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.node.RootDir, &st); err != nil {
		t.Fatal(err)
	}
	if v, cnt := sumOf(mfs, "kubelet_summary_pod_volume_capacity_bytes", volume...); cnt != 1 || v != float64(st.Blocks)*float64(st.Bsize) || v != kubeletRootSize {
		t.Errorf("kubelet_summary_pod_volume_capacity_bytes%v = %v (%d series), want the root dir's %d", volume, v, cnt, kubeletRootSize)
	}
	if ok := histogramCount(mfs, "kubelet_summary_request_duration_seconds", "endpoint", "/stats/summary", "code", "200"); ok == 0 {
		t.Errorf("no request of /stats/summary answered 200: %v", labelValues(mfs, "kubelet_summary_request_duration_seconds", "code"))
	}
	if codes := labelValues(mfs, "kubelet_summary_request_duration_seconds", "code"); strings.Join(codes, ",") != "200" {
		t.Errorf("kubelet replies with codes %v, want only 200", codes)
	}

	// The chart's binding is what lets the token through: without it the
	// kubelet's SubjectAccessReview is denied.
	const binding = "bpfleet-kubelet-exporter"
	if err := n.node.Cluster.Admin.RbacV1().ClusterRoleBindings().Delete(ctx, binding, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.node.Eventually(t, "a 403 without the ClusterRoleBinding", func() error {
		mfs := n.scrapeCollectors(t, pod, "kubelet", nil)
		denied := histogramCount(mfs, "kubelet_summary_request_duration_seconds", "endpoint", "/stats/summary", "code", "403")
		success := collectorValues(mfs, "kubelet_summary_scrape_collector_success")["summary"]
		if denied == 0 || success != 0 {
			return fmt.Errorf("%d replies 403, collector success %v", denied, success)
		}
		return nil
	})
	n.kubectl(t, n.manifests["kubelet"], "apply", "-f", "-")
	n.node.Eventually(t, "the collector succeeding with the binding applied again", func() error {
		mfs := n.scrapeCollectors(t, pod, "kubelet", nil)
		if success := collectorValues(mfs, "kubelet_summary_scrape_collector_success")["summary"]; success != 1 {
			return fmt.Errorf("collector success %v", success)
		}
		return nil
	})
	p, err := n.node.Cluster.Admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Status.ContainerStatuses[0].RestartCount; r != 0 {
		t.Errorf("kubelet_exporter restarted %d times", r)
	}
}

// kubeAPICounts checks kubeapi_exporter, its Deployment's pod reading the
// API server in-cluster with its service account: in a namespace of its
// own the test records 3 Warning Events and runs 2 pods whose container
// exits 1: the exporter counts exactly 3 events of that reason, 2
// terminations with reason Error and 2 pods scheduled.
func (n *nodeEnv) kubeAPICounts(t *testing.T, pod *corev1.Pod) {
	ctx := context.Background()
	const (
		ns     = "audit"
		events = 3
		failed = 2
	)
	n.node.Namespace(t, ns)
	now := metav1.NewTime(time.Now())
	for i := range events {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("probe-%d", i)},
			InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: "probe"},
			Reason:         "BpfleetProbe", Message: fmt.Sprintf("probe %d", i), Type: corev1.EventTypeWarning,
			Count: 1, FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "bpfleet-test"},
		}
		if _, err := n.node.Cluster.Admin.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range failed {
		n.podIn(t, ns, fmt.Sprintf("fail-%d", i), []string{"/bin/sh", "-c", "exit 1"}, corev1.PodFailed, nil)
	}
	probes := []string{"namespace", ns, "involved_kind", "ConfigMap", "reason", "BpfleetProbe", "type", "Warning"}
	exits := []string{"namespace", ns, "reason", "Error"}
	scheduled := []string{"namespace", ns, "phase", "scheduled"}
	check := func() error {
		mfs := n.scrapeCollectors(t, pod, "kubeapi", nil)
		e, _ := sumOf(mfs, "kubeapi_events_total", probes...)
		term, _ := sumOf(mfs, "kubeapi_pod_container_terminations_total", exits...)
		sched := histogramCount(mfs, "kubeapi_pod_startup_duration_seconds", scheduled...)
		if e > events || term > failed || sched > failed {
			t.Fatalf("kubeapi_events_total%v = %v, kubeapi_pod_container_terminations_total%v = %v, kubeapi_pod_startup_duration_seconds_count%v = %d: more than %d, %d, %d",
				probes, e, exits, term, scheduled, sched, events, failed, failed)
		}
		if e != events || term != failed || sched != failed {
			return fmt.Errorf("kubeapi_events_total%v = %v, kubeapi_pod_container_terminations_total%v = %v, kubeapi_pod_startup_duration_seconds_count%v = %d; want %d, %d, %d",
				probes, e, exits, term, scheduled, sched, events, failed, failed)
		}
		return nil
	}
	n.node.Eventually(t, "the namespace's events and terminations counted", check)
	time.Sleep(2 * time.Second)
	if err := check(); err != nil {
		t.Error(err)
	}
	p, err := n.node.Cluster.Admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Status.ContainerStatuses[0].RestartCount; r != 0 {
		t.Errorf("kubeapi_exporter restarted %d times", r)
	}
}
