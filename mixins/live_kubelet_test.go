package mixins

// The kubelet mixin against a real node: a kubelet v1.37 with containerd
// (kubelet_exporter/nodetest), kubelet_exporter reading its Summary API,
// and Prometheus 2.42 and 3.x scraping the exporter.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
	"github.com/bpfleet/bpfleet/kubelet_exporter/nodetest"
)

// kubeletLiveConfig makes the mixin's storage and eviction alerts fire on
// the test node: a pod over 10% of its ephemeral-storage limit, and a
// nodefs threshold of 99% of the kubelet's 256 MiB root dir.
const kubeletLiveConfig = `{
  ephemeralStorageRatioThreshold: 0.1, ephemeralStorageFor: '1s', nearEvictionFor: '1s', summaryUnreachableFor: '1s',
  evictionThresholds: { 'nodefs.available': { ratio: 0.99, fs: 'nodefs' } },
}`

// TestKubeletMixinInRealPrometheus: every dashboard query and recording
// rule of the kubelet mixin returns data, and its storage and eviction
// alerts fire, under the Prometheus servers of startServers scraping the
// real kubelet_exporter. PSI and pod process counts are left out: the
// kubelet reports neither on cgroup v1 hosts such as this one (and the
// exporter then serves none; kubelet_exporter's golden tests cover both).
func TestKubeletMixinInRealPrometheus(t *testing.T) {
	testenv.RequireRoot(t)
	prometheus := exportertest.RequireCommand(t, "prometheus", "make test installs it with the prometheus Debian package")
	n := nodetest.Start(t)
	n.Namespace(t, "shop")
	n.RunPod(t, loggerPod())

	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(kubetest.AdminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	e := exporterUnderTest{pkg: "github.com/bpfleet/bpfleet/kubelet_exporter", job: "kubelet-exporter", mixin: "kubelet", config: kubeletLiveConfig}
	bin := buildExporter(t, dir, e.pkg)
	p := exportertest.Start(t, bin, "--kubelet.address="+n.Address, "--kubelet.token-file="+token,
		"--kubelet.ca-file="+n.CAFile, "--kubelet.pods", "--kubelet.min-interval=1s")
	t.Cleanup(func() { p.Terminate(t) })
	p.WaitForMetric(t, "kubelet_summary_scrape_collector_success", "collector", map[string]float64{"summary": 1})
	instance := strings.TrimPrefix(p.URL, "http://")
	ruleFiles := writeRendered(t, dir, e.mixin, e.config)
	var checks []liveCheck
	for _, c := range mixinChecks(t, e, instance) {
		if !strings.Contains(c.expr, "kubelet_summary_pod_psi_stalled_seconds_total") && !strings.Contains(c.expr, "kubelet_summary_pod_processes") {
			checks = append(checks, c)
		}
	}
	for _, alert := range []string{"KubeletPodEphemeralStorageNearLimit", "KubeletNodeNearEviction"} {
		checks = append(checks, liveCheck{where: "kubelet alert", alert: alert})
	}
	servers := startServers(t, prometheus, ruleFiles, []scrapeJob{{e.job, instance}})
	waitForData(t, servers, checks, p)
}

// loggerPod writes 8 MiB into an emptyDir against a 32 MiB
// ephemeral-storage limit, then logs a line every 200 ms (log growth).
func loggerPod() *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "logger", Namespace: "shop"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Volumes:                       []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{
				Name: "main", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/cache/fill bs=1M count=8 2>/dev/null; " +
					"while :; do echo 'request served in 12 ms'; sleep 0.2; done"},
				VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceEphemeralStorage: resource.MustParse("32Mi")}},
			}},
		},
	}
}
