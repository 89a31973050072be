package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
	"github.com/bpfleet/bpfleet/kubelet_exporter/collector"
	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
	"github.com/bpfleet/bpfleet/kubelet_exporter/nodetest"
)

var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

const (
	MiB = 1 << 20
	// What the writer pod writes: into its container's rootfs, to its
	// stdout (the log, then a newline so that containerd writes the last
	// partial line out) and into its emptyDir.
	rootfsBytes = 8 * MiB
	logBytes    = 3 * MiB
	volumeBytes = 5 * MiB
	// The writer's ephemeral-storage limits: its two containers'.
	mainLimit = 64 * MiB
	sideLimit = 32 * MiB
)

// Margins of the kubelet's disk-usage figures over the bytes written, each
// explained: usage is counted in 4 KiB blocks, the writable layer also
// holds the mount points runc creates (/proc, /dev, /etc/hosts, ...), and
// each log line of at most 16 KiB (containerd's max_container_log_line_size)
// carries a prefix "<RFC 3339 time> stdout P " of under 64 bytes.
const (
	rootfsMargin = 64 * 1024
	logMargin    = (logBytes/16384+1)*64 + 8*1024
	volumeMargin = 8 * 1024
)

func writerPod() *corev1.Pod {
	no := false
	script := fmt.Sprintf("head -c %d /dev/zero > /data && head -c %d /dev/zero > /cache/fill && head -c %d /dev/zero && echo && exec sleep 3600",
		rootfsBytes, volumeBytes, logBytes)
	limit := func(b int64) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: *resource.NewQuantity(b, resource.BinarySI)}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer", Namespace: "storage"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Volumes:                       []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{
				Name: "main", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
				Resources:    limit(mainLimit),
			}, {
				Name: "side", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sleep", "3600"}, Resources: limit(sideLimit),
			}},
		},
	}
}

func sleeperPod(namespace, name string) *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "main", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sleep", "3600"},
			}},
		},
	}
}

// bindRBAC creates the shipped ClusterRoles and binds them to the
// ServiceAccount monitoring/kubelet-exporter, as rbac.yaml does.
func bindRBAC(t *testing.T, n *nodetest.Node) {
	t.Helper()
	raw, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "ClusterRole":
			var role rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
				t.Fatal(err)
			}
			for _, r := range role.Rules {
				for _, res := range r.Resources {
					if res == "nodes/proxy" || res == "nodes" || res == "*" {
						t.Errorf("rbac.yaml grants %s", res)
					}
				}
			}
			if _, err := n.Cluster.Admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Cluster.Admin.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("rbac.yaml: unexpected %q", kind.Kind)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startExporter(t *testing.T, n *nodetest.Node, tokenFile, caFile string, args ...string) *exportertest.Process {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{
		"--kubelet.address=" + n.Address, "--kubelet.token-file=" + tokenFile, "--kubelet.ca-file=" + caFile,
		"--kubelet.min-interval=0s",
	}, args...)...)
	t.Cleanup(func() { p.Terminate(t) })
	return p
}

// value returns the value of the series of name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			if exportertest.LabelValue(m, k) != v {
				match = false
			}
		}
		if match {
			return exportertest.Value(m), true
		}
	}
	return 0, false
}

// requests returns the count of kubelet_summary_request_duration_seconds
// for endpoint and code.
func requests(fams map[string]*dto.MetricFamily, endpoint, code string) uint64 {
	for _, m := range fams["kubelet_summary_request_duration_seconds"].GetMetric() {
		if exportertest.LabelValue(m, "endpoint") == endpoint && exportertest.LabelValue(m, "code") == code {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// summaryFamilies returns the node, pod and container metrics in fams.
func summaryFamilies(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for name := range fams {
		for _, prefix := range []string{"kubelet_summary_node_", "kubelet_summary_pod_", "kubelet_summary_container_"} {
			if strings.HasPrefix(name, prefix) {
				out = append(out, name)
			}
		}
	}
	return out
}

func labelled(fams map[string]*dto.MetricFamily, label, v string) []string {
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			if exportertest.LabelValue(m, label) == v {
				out = append(out, name)
			}
		}
	}
	return out
}

// TestRealKubelet runs the exporter against a real kubelet v1.37.2 with
// containerd (one node for all subtests).
func TestRealKubelet(t *testing.T) {
	n := nodetest.Start(t)
	n.Namespace(t, "storage")
	n.Namespace(t, "monitoring")
	bindRBAC(t, n)
	token := writeFile(t, "token", n.ServiceAccountToken(t, "monitoring", "kubelet-exporter"))
	n.RunPod(t, writerPod())
	n.RunPod(t, sleeperPod("storage", "victim"))
	p := startExporter(t, n, token, n.CAFile, "--kubelet.pods")

	writer := map[string]string{"namespace": "storage", "pod": "writer"}
	with := func(extra ...string) map[string]string {
		m := map[string]string{"namespace": "storage", "pod": "writer"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	var fams map[string]*dto.MetricFamily
	t.Run("storage", func(t *testing.T) {
		// The runtime refreshes writable-layer usage every 10s and the
		// kubelet volume usage every volumeStatsAggPeriod: poll until all
		// of what was written shows.
		n.Eventually(t, "the writer's usage", func() error {
			var err error
			if fams, err = p.Scrape(); err != nil {
				return err
			}
			for _, c := range []struct {
				name   string
				labels map[string]string
				min    float64
			}{
				{"kubelet_summary_container_rootfs_used_bytes", with("container", "main"), rootfsBytes},
				{"kubelet_summary_container_logs_used_bytes", with("container", "main"), logBytes},
				{"kubelet_summary_pod_volume_used_bytes", with("volume", "cache"), volumeBytes},
			} {
				if v, ok := value(fams, c.name, c.labels); !ok || v < c.min {
					return fmt.Errorf("%s%v = %v (served: %v), want at least %v", c.name, c.labels, v, ok, c.min)
				}
			}
			return nil
		})
		check := func(name string, labels map[string]string, written, margin float64) float64 {
			t.Helper()
			v, _ := value(fams, name, labels)
			if v < written || v > written+margin {
				t.Errorf("%s%v = %v, want %v to %v", name, labels, v, written, written+margin)
			}
			return v
		}
		rootfs := check("kubelet_summary_container_rootfs_used_bytes", with("container", "main"), rootfsBytes, rootfsMargin)
		logs := check("kubelet_summary_container_logs_used_bytes", with("container", "main"), logBytes, logMargin)
		volume := check("kubelet_summary_pod_volume_used_bytes", with("volume", "cache", "type", "emptyDir"), volumeBytes, volumeMargin)
		// The side container wrote nothing: its layer holds runc's mount
		// points only, its log is empty.
		check("kubelet_summary_container_rootfs_used_bytes", with("container", "side"), 0, rootfsMargin)
		check("kubelet_summary_container_logs_used_bytes", with("container", "side"), 0, 0)
		// Ephemeral storage is the sum of the layers, logs and local
		// volumes (and the kubelet's etc-hosts file).
		check("kubelet_summary_pod_ephemeral_storage_used_bytes", writer, rootfs+logs+volume, 2*rootfsMargin)
		if v, ok := value(fams, "kubelet_summary_pod_ephemeral_storage_limit_bytes", writer); !ok || v != mainLimit+sideLimit {
			t.Errorf("ephemeral-storage limit = %v (served: %v), want %d", v, ok, mainLimit+sideLimit)
		}
		if _, ok := value(fams, "kubelet_summary_pod_ephemeral_storage_limit_bytes", map[string]string{"pod": "victim"}); ok {
			t.Error("a limit is served for victim, which has none")
		}
		// The emptyDir lives on the kubelet's root dir, a 256 MiB tmpfs.
		var st syscall.Statfs_t
		if err := syscall.Statfs(n.RootDir, &st); err != nil {
			t.Fatal(err)
		}
		if v, ok := value(fams, "kubelet_summary_pod_volume_capacity_bytes", with("volume", "cache", "type", "emptyDir")); !ok || v != float64(st.Blocks)*float64(st.Bsize) || v != 256*MiB {
			t.Errorf("volume capacity = %v (served: %v), want the root dir's %v", v, ok, float64(st.Blocks)*float64(st.Bsize))
		}
		if v, ok := value(fams, "kubelet_summary_container_memory_working_set_bytes", with("container", "side")); !ok || v <= 0 {
			t.Errorf("working set of side = %v (served: %v), want > 0", v, ok)
		}
		if v, ok := value(fams, "kubelet_summary_container_cpu_usage_seconds_total", with("container", "main")); !ok || v <= 0 {
			t.Errorf("CPU usage of main = %v (served: %v), want > 0: it wrote 16 MiB", v, ok)
		}
		// PSI: this kernel's cgroups are v1, where the kubelet reports none.
		if _, ok := fams["kubelet_summary_pod_psi_stalled_seconds_total"]; ok {
			t.Error("PSI served on a host whose kubelet reports none")
		}
		capture(t, n)
	})

	t.Run("processes_as_the_kubelet_reports", func(t *testing.T) {
		// On this host (cgroup v1) the kubelet reports no process count
		// for pods: the exporter must serve none, not 0. Where it reports
		// one, the exporter serves it.
		code, body := n.Get(t, "/stats/summary", kubetest.AdminToken)
		if code != 200 {
			t.Fatalf("GET /stats/summary: %d", code)
		}
		s, err := kubelet.DecodeSummary(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		fams, err := p.Scrape()
		if err != nil {
			t.Fatal(err)
		}
		for _, pod := range s.Pods {
			got, served := value(fams, "kubelet_summary_pod_processes", map[string]string{"namespace": pod.PodRef.Namespace, "pod": pod.PodRef.Name})
			switch ps := pod.ProcessStats; {
			case ps == nil || ps.ProcessCount == nil:
				if served {
					t.Errorf("%s: the kubelet reports no process count, the exporter serves %v", pod.PodRef.Name, got)
				}
			case !served || got < 1:
				t.Errorf("%s: the kubelet reports %d processes, the exporter serves %v (served: %v)", pod.PodRef.Name, *ps.ProcessCount, got, served)
			}
		}
	})

	t.Run("node_fs_equals_statfs", func(t *testing.T) {
		// The kubelet's root dir is a tmpfs only the node writes to: poll
		// until a scrape falls between two equal statfs.
		n.Eventually(t, "nodefs equal to statfs", func() error {
			var before, after syscall.Statfs_t
			if err := syscall.Statfs(n.RootDir, &before); err != nil {
				return err
			}
			fams, err := p.Scrape()
			if err != nil {
				return err
			}
			if err := syscall.Statfs(n.RootDir, &after); err != nil {
				return err
			}
			if before != after {
				return errors.New("the filesystem changed during the scrape")
			}
			fs := map[string]string{"fs": "nodefs"}
			for name, want := range map[string]float64{
				"kubelet_summary_node_fs_capacity_bytes":  float64(before.Blocks) * float64(before.Bsize),
				"kubelet_summary_node_fs_available_bytes": float64(before.Bavail) * float64(before.Bsize),
				"kubelet_summary_node_fs_inodes_free":     float64(before.Ffree),
			} {
				if v, ok := value(fams, name, fs); !ok || v != want {
					return fmt.Errorf("%s = %v (served: %v), statfs says %v", name, v, ok, want)
				}
			}
			if v, _ := value(fams, "kubelet_summary_node_eviction_signal_available", map[string]string{"signal": "nodefs.available"}); v != float64(before.Bavail)*float64(before.Bsize) {
				return fmt.Errorf("nodefs.available = %v, statfs says %v", v, float64(before.Bavail)*float64(before.Bsize))
			}
			return nil
		})
	})

	t.Run("pod_removed", func(t *testing.T) {
		fams, err := p.Scrape()
		if err != nil {
			t.Fatal(err)
		}
		if len(labelled(fams, "pod", "victim")) == 0 {
			t.Fatal("victim not served before its removal")
		}
		n.DeletePod(t, "storage", "victim")
		n.Eventually(t, "victim's series gone", func() error {
			fams, err := p.Scrape()
			if err != nil {
				return err
			}
			if names := labelled(fams, "pod", "victim"); len(names) > 0 {
				return fmt.Errorf("still served: %v", names)
			}
			return nil
		})
	})

	t.Run("requests_timed", func(t *testing.T) {
		fams, err := p.Scrape()
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range []string{"/stats/summary", "/pods"} {
			if requests(fams, ep, "200") == 0 {
				t.Errorf("no request to %s timed with code 200", ep)
			}
		}
		if len(exportertest.LogLines(p.Log(), "the kubelet accepts the token", "nodes/stats")) != 1 ||
			len(exportertest.LogLines(p.Log(), "the kubelet accepts the token", "nodes/pods")) != 1 {
			t.Errorf("the permission check did not log both permissions:\n%s", p.Log())
		}
	})

	t.Run("kubelet_down_and_back", func(t *testing.T) {
		// While the kubelet is down: success 0 and no summary metric
		// (nothing stale); once it is back, after the backoff, the same
		// exporter serves again.
		n.StopKubelet(t)
		exportertest.Eventually(t, func() error {
			fams, err := p.Scrape()
			if err != nil {
				return err
			}
			if v, _ := value(fams, "kubelet_summary_scrape_collector_success", map[string]string{"collector": "summary"}); v != 0 {
				return fmt.Errorf("success %v with the kubelet down", v)
			}
			if served := summaryFamilies(fams); len(served) > 0 {
				return fmt.Errorf("served with the kubelet down: %v", served)
			}
			// The log line may follow the failed update by a moment.
			if len(exportertest.LogLines(p.Log(), "Collector failed", "connection refused")) == 0 {
				return fmt.Errorf("no log line says the kubelet refused:\n%s", p.Log())
			}
			return nil
		})
		n.StartKubelet(t)
		n.Eventually(t, "the exporter serving again", func() error {
			fams, err := p.Scrape()
			if err != nil {
				return err
			}
			if v, _ := value(fams, "kubelet_summary_scrape_collector_success", map[string]string{"collector": "summary"}); v != 1 {
				return fmt.Errorf("success %v", v)
			}
			if _, ok := value(fams, "kubelet_summary_container_rootfs_used_bytes", with("container", "main")); !ok {
				return errors.New("the writer's rootfs not served")
			}
			return nil
		})
	})

	t.Run("promtool_and_readme", func(t *testing.T) {
		body := p.Get(t, "/metrics").Body
		promtoolCheck(t, body)
		fams, err := exportertest.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
			OnlyOnEvents:         []string{"kubelet_summary_pod_psi_stalled_seconds_total"},
			UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
		})
	})

	t.Run("forbidden_without_nodes_stats", func(t *testing.T) {
		// A token of a ServiceAccount bound to nothing: the kubelet's
		// authorizer (through the API server) answers 403.
		bare := writeFile(t, "token", n.ServiceAccountToken(t, "monitoring", "unbound"))
		code, body := n.Get(t, "/stats/summary", strings.TrimSpace(readFile(t, bare)))
		if code != 403 {
			t.Fatalf("the kubelet answered %d to a token without nodes/stats: %s", code, body)
		}
		q := startExporter(t, n, bare, n.CAFile)
		q.WaitForMetric(t, "kubelet_summary_scrape_collector_success", "collector", map[string]float64{"summary": 0})
		exportertest.Eventually(t, func() error {
			// A scrape logs the collector's error: scrape until one has
			// reached the kubelet (the first may come before it is built).
			if _, err := q.Scrape(); err != nil {
				return err
			}
			if len(exportertest.LogLines(q.Log(), "permission check failed", `get\" on \"nodes/stats\"`)) == 0 {
				return fmt.Errorf("no log line names the permission:\n%s", q.Log())
			}
			if len(exportertest.LogLines(q.Log(), "Collector failed", "403 Forbidden: RBAC")) == 0 {
				return fmt.Errorf("no scrape error names RBAC:\n%s", q.Log())
			}
			return nil
		})
		fams, err := q.Scrape()
		if err != nil {
			t.Fatal(err)
		}
		if served := summaryFamilies(fams); len(served) > 0 {
			t.Errorf("served without permission: %v", served)
		}
		if requests(fams, "/stats/summary", "403") == 0 {
			t.Error("no request timed with code 403")
		}
	})

	t.Run("wrong_ca", func(t *testing.T) {
		otherCA, _, _, err := nodetest.ServingCert(nil, []string{"localhost"})
		if err != nil {
			t.Fatal(err)
		}
		q := startExporter(t, n, token, writeFile(t, "ca.crt", string(otherCA)))
		q.WaitForMetric(t, "kubelet_summary_scrape_collector_success", "collector", map[string]float64{"summary": 0})
		exportertest.Eventually(t, func() error {
			if _, err := q.Scrape(); err != nil {
				return err
			}
			if len(exportertest.LogLines(q.Log(), "certificate signed by unknown authority")) == 0 {
				return fmt.Errorf("no log line says the certificate is not trusted:\n%s", q.Log())
			}
			return nil
		})
	})

	t.Run("insecure_skip_verify_warns", func(t *testing.T) {
		q := startExporter(t, n, token, "", "--kubelet.insecure-skip-tls-verify")
		q.WaitForMetric(t, "kubelet_summary_scrape_collector_success", "collector", map[string]float64{"summary": 1})
		if len(exportertest.LogLines(q.Log(), "level=WARN", "is not verified", "--kubelet.insecure-skip-tls-verify")) != 1 {
			t.Errorf("no warning about the unverified certificate:\n%s", q.Log())
		}
	})
}

// promtoolCheck is exportertest.PromtoolCheck less one lint: promtool
// objects to any name containing "summary" that is not of a summary type,
// and the fleet's namespace for this exporter is kubelet_summary (the
// kubelet owns kubelet_). Every other complaint fails the test.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	promtool := exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	var other []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "kubelet_summary_") && strings.Join(f[1:], " ") == "metric name should not include type 'summary'" {
			continue
		}
		if strings.TrimSpace(line) != "" {
			other = append(other, line)
		}
	}
	var exit *exec.ExitError
	if len(other) > 0 || (err != nil && !errors.As(err, &exit)) {
		t.Errorf("promtool check metrics: %v, output:\n%s", err, strings.Join(other, ""))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// capture writes the kubelet's /stats/summary and /pods replies into the
// directory $KUBELET_EXPORTER_CAPTURE, when set: how collector/testdata was
// made.
func capture(t *testing.T, n *nodetest.Node) {
	dir := os.Getenv("KUBELET_EXPORTER_CAPTURE")
	if dir == "" {
		return
	}
	for file, path := range map[string]string{"summary.json": "/stats/summary", "pods.json": "/pods"} {
		code, body := n.Get(t, path, kubetest.AdminToken)
		if code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		if err := os.WriteFile(filepath.Join(dir, file), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestREADMEFlags needs no kubelet: the README documents --help exactly.
func TestREADMEFlags(t *testing.T) {
	exportertest.CheckREADMEFlags(t, "README.md", binary)
}

// TestREADMECatalog needs no kubelet: the README documents the metric
// table exactly.
func TestREADMECatalog(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}

// TestBadFlags: values the flags accept but the exporter cannot use are
// usage errors (exit 2) with the flag named.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--kubelet.address=https://${BPFLEET_TEST_UNSET_VARIABLE}:10250"},
		{"--kubelet.address=ftp://127.0.0.1:10250"},
		{"--kubelet.address=https://"},
		{"--kubelet.min-interval=-1s", "--kubelet.address=https://127.0.0.1:10250"},
		{"--kubelet.timeout=0s", "--kubelet.address=https://127.0.0.1:10250"},
	} {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "HOST_IP=")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2; output:\n%s", args, err, out)
		}
		if flag := strings.SplitN(strings.TrimPrefix(args[0], "--"), "=", 2)[0]; !strings.Contains(string(out), flag) {
			t.Errorf("%v: the error does not name %s:\n%s", args, flag, out)
		}
	}
}
