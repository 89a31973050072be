package collector

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixed serves one decoded reply, as the summary collector does.
type fixed struct {
	s     *kubelet.Summary
	specs kubelet.PodSpecs
}

func (f fixed) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs() {
		ch <- d
	}
}

func (f fixed) Collect(ch chan<- prometheus.Metric) { Emit(f.s, f.specs, ch) }

// summaryMetrics are the metrics Emit serves (all but the request timing).
func summaryMetrics() []string {
	var names []string
	for _, m := range metrics.Metrics() {
		if m != requestDuration {
			names = append(names, m.Name)
		}
	}
	return names
}

func decodeFile(t testing.TB, name string) *kubelet.Summary {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := kubelet.DecodeSummary(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodePods(t *testing.T, name string) kubelet.PodSpecs {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := kubelet.DecodePods(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares what Emit serves for s and specs with testdata/<name>
// (rewritten with -update).
func golden(t *testing.T, name string, s *kubelet.Summary, specs kubelet.PodSpecs) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(fixed{s, specs})
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for _, f := range fams {
			if err := writeFamily(&buf, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(fixed{s, specs}, bytes.NewReader(want), summaryMetrics()...); err != nil {
		t.Error(err)
	}
}

// TestGoldenRealKubelet: the summary and pods captured from the real
// kubelet v1.37.2 of TestRealKubelet (cgroup v1 host, containerd 1.6):
// a writer pod (8 MiB rootfs, 3 MiB log, 5 MiB emptyDir, limits 64 Mi +
// 32 Mi) and a sleeper without limits.
func TestGoldenRealKubelet(t *testing.T) {
	s := decodeFile(t, "summary.json")
	golden(t, "summary.prom", s, decodePods(t, "pods.json"))
}

// TestGoldenWithoutPods: without --kubelet.pods, no limit and volume
// types are empty.
func TestGoldenWithoutPods(t *testing.T) {
	golden(t, "summary-nopods.prom", decodeFile(t, "summary.json"), nil)
}

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }

// psiSummary is a summary of a cgroup v2 node written from the API types:
// PSI on the node and pods, and fields the kubelet leaves out.
func psiSummary() stats.Summary {
	t := metav1.Unix(1764770000, 0)
	psi := func(some, full uint64) *stats.PSIStats {
		return &stats.PSIStats{Some: stats.PSIData{Total: some, Avg10: 1.5}, Full: stats.PSIData{Total: full}}
	}
	return stats.Summary{
		Node: stats.NodeStats{
			NodeName: "node-a",
			CPU:      &stats.CPUStats{Time: t, UsageCoreNanoSeconds: u64(5e12), PSI: psi(9_000_000, 0)},
			Memory:   &stats.MemoryStats{Time: t, AvailableBytes: u64(8 << 30), WorkingSetBytes: u64(1 << 30)},
			// nodefs without inodes (the kubelet leaves them out on some
			// filesystems), no imagefs, a separate containerfs.
			Fs: &stats.FsStats{Time: t, AvailableBytes: u64(50 << 30), CapacityBytes: u64(100 << 30)},
			Runtime: &stats.RuntimeStats{
				ContainerFs: &stats.FsStats{Time: t, AvailableBytes: u64(20 << 30), CapacityBytes: u64(40 << 30), InodesFree: u64(1000)},
			},
			Rlimit: &stats.RlimitStats{Time: t, MaxPID: i64(4194304), NumOfRunningProcesses: i64(512)},
		},
		Pods: []stats.PodStats{{
			PodRef:    stats.PodReference{Namespace: "shop", Name: "web", UID: "uid-web"},
			StartTime: t,
			Containers: []stats.ContainerStats{{
				Name: "app", StartTime: t,
				CPU:    &stats.CPUStats{Time: t, UsageCoreNanoSeconds: u64(2_500_000_000)},
				Memory: &stats.MemoryStats{Time: t, WorkingSetBytes: u64(64 << 20)},
				Rootfs: &stats.FsStats{Time: t, UsedBytes: u64(4096), InodesUsed: u64(3)},
				Logs:   &stats.FsStats{Time: t, UsedBytes: u64(1 << 20)},
			}, {
				// a container with nothing measured yet: no series at all
				Name: "starting", StartTime: t,
			}},
			CPU:    &stats.CPUStats{Time: t, PSI: psi(1_500_000, 250_000)},
			Memory: &stats.MemoryStats{Time: t, PSI: psi(30, 0)},
			IO:     &stats.IOStats{Time: t, PSI: psi(2_000_000, 1_000_000)},
			VolumeStats: []stats.VolumeStats{
				{Name: "scratch", FsStats: stats.FsStats{Time: t, UsedBytes: u64(8192), CapacityBytes: u64(1 << 30)}},
				// a PVC: the kubelet's own kubelet_volume_stats_* serve it
				{Name: "data", PVCRef: &stats.PVCReference{Name: "data-web", Namespace: "shop"}, FsStats: stats.FsStats{UsedBytes: u64(1 << 30)}},
			},
			EphemeralStorage: &stats.FsStats{Time: t, UsedBytes: u64(1<<20 + 4096 + 8192)},
			ProcessStats:     &stats.ProcessStats{ProcessCount: u64(7)},
		}, {
			// a pod whose PSI is all zero so far, with no ephemeral-storage
			// figure and no process count
			PodRef:    stats.PodReference{Namespace: "shop", Name: "idle", UID: "uid-idle"},
			StartTime: t,
			CPU:       &stats.CPUStats{Time: t, PSI: psi(0, 0)},
		}},
	}
}

// TestGoldenPSIAndMissingFields: PSI is served in seconds for the pod that
// stalled, not for the all-zero one; every field the summary leaves out is
// left out of the metrics.
func TestGoldenPSIAndMissingFields(t *testing.T) {
	raw, err := json.Marshal(psiSummary())
	if err != nil {
		t.Fatal(err)
	}
	s, err := kubelet.DecodeSummary(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	specs := kubelet.PodSpecs{"uid-web": {EphemeralStorageLimit: 2 << 30, HasLimit: true, VolumeTypes: map[string]string{"scratch": "emptyDir", "data": "persistentVolumeClaim"}}}
	golden(t, "psi.prom", s, specs)
}

// TestNoPSIOnCgroupV1Node: the real kubelet on a cgroup v1 node reports
// PSI totals of 0 everywhere; none is served.
func TestNoPSIOnCgroupV1Node(t *testing.T) {
	s := decodeFile(t, "summary.json")
	if s.Node.CPU == nil || s.Node.CPU.PSI == nil || s.Pods[0].CPU.PSI == nil {
		t.Fatal("the captured summary has no PSI fields: the test no longer tests anything")
	}
	if n := testutil.CollectAndCount(fixed{s, nil}, podPSI.Name); n != 0 {
		t.Errorf("%d PSI series, want none", n)
	}
}

// TestDuplicatePodNames: a pod replaced by one of the same name (both in
// the summary for a while) is served once, the newer one.
func TestDuplicatePodNames(t *testing.T) {
	old, cur := metav1.Unix(100, 0), metav1.Unix(200, 0)
	pod := func(uid string, start metav1.Time, used uint64) stats.PodStats {
		return stats.PodStats{PodRef: stats.PodReference{Namespace: "ns", Name: "db-0", UID: uid}, StartTime: start,
			EphemeralStorage: &stats.FsStats{UsedBytes: u64(used)},
			Containers: []stats.ContainerStats{
				{Name: "c", StartTime: old, Logs: &stats.FsStats{UsedBytes: u64(1)}},
				{Name: "c", StartTime: cur, Logs: &stats.FsStats{UsedBytes: u64(2)}},
			}}
	}
	s := &kubelet.Summary{Pods: []stats.PodStats{pod("new", cur, 20), pod("old", old, 10)}}
	want := `
# HELP kubelet_summary_pod_ephemeral_storage_used_bytes ` + podEphemeralUsed.Help + `
# TYPE kubelet_summary_pod_ephemeral_storage_used_bytes gauge
kubelet_summary_pod_ephemeral_storage_used_bytes{namespace="ns",pod="db-0"} 20
# HELP kubelet_summary_container_logs_used_bytes ` + containerLogsUsed.Help + `
# TYPE kubelet_summary_container_logs_used_bytes gauge
kubelet_summary_container_logs_used_bytes{container="c",namespace="ns",pod="db-0"} 2
`
	if err := testutil.CollectAndCompare(fixed{s, nil}, strings.NewReader(want), podEphemeralUsed.Name, containerLogsUsed.Name); err != nil {
		t.Error(err)
	}
}

func writeFamily(w io.Writer, f *dto.MetricFamily) error {
	_, err := expfmt.MetricFamilyToText(w, f)
	return err
}

// FuzzEmit: whatever decodes is served without a panic and without an
// inconsistent or duplicate series (a registry's Gather would fail).
func FuzzEmit(f *testing.F) {
	for _, name := range []string{"summary.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	raw, err := json.Marshal(psiSummary())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := kubelet.DecodeSummary(bytes.NewReader(b))
		if err != nil {
			return
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(fixed{s, nil})
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	})
}
