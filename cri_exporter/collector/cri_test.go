package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// testPoll is the background poll interval of these tests.
const testPoll = 100 * time.Millisecond

// waitFor bounds every wait of these tests; reaching it is a failure.
const waitFor = 20 * time.Second

// collectors are the cri and oom collectors of one exporter, on one
// containerd.
type collectors struct {
	cri, oom *collectortest.Harness
}

// newCollectors starts a containerd and builds both collectors against it,
// each on its own components (CRI client, workload resolver), as two
// exporters would: they share nothing.
func newCollectors(t *testing.T) (*testenv.Containerd, collectors) {
	t.Helper()
	ctd := testenv.StartContainerd(t)
	newTestCRI := func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		return newCRI(ctx, env, testPoll)
	}
	return ctd, collectors{
		cri: collectortest.New(t, "cri", "cri", newTestCRI, collectortest.WithContainerd(ctd)),
		oom: collectortest.New(t, "cri", "oom", newOOM, collectortest.WithContainerd(ctd)),
	}
}

// gauge returns a gauge's value, -1 when the series is absent.
func gauge(s collectortest.Snapshot, name string, kv ...string) float64 {
	m, ok := s[collectortest.SeriesOf(name, kv...)]
	if !ok {
		return -1
	}
	return m.GetGauge().GetValue()
}

func containerKV(ns, pod, container string, extra ...string) []string {
	return append([]string{"namespace", ns, "pod", pod, "container", container}, extra...)
}

func TestRuntimeHealthPodsAndContainers(t *testing.T) {
	ctd, h := newCollectors(t)
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})
	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "init", Command: []string{"true"}}))

	s := h.cri.Scrape()
	info := findSeries(s, "cri_runtime_info")
	if len(info) != 1 || !strings.Contains(info[0], `runtime_name="containerd"`) || !strings.Contains(info[0], `runtime_api_version="v1"`) {
		t.Errorf("cri_runtime_info series %v, want one of runtime containerd, API v1", info)
	}
	want := map[string]float64{
		collectortest.SeriesOf("cri_runtime_condition", "condition", "RuntimeReady"):                                                               1,
		collectortest.SeriesOf("cri_runtime_condition", "condition", "NetworkReady"):                                                               1,
		collectortest.SeriesOf("cri_pod_sandboxes", "state", "ready"):                                                                              1,
		collectortest.SeriesOf("cri_pod_sandboxes", "state", "notready"):                                                                           0,
		collectortest.SeriesOf("cri_containers", "state", "running"):                                                                               1,
		collectortest.SeriesOf("cri_containers", "state", "exited"):                                                                                1,
		collectortest.SeriesOf("cri_containers", "state", "created"):                                                                               0,
		collectortest.SeriesOf("cri_containers", "state", "unknown"):                                                                               0,
		collectortest.SeriesOf("cri_container_info", containerKV("shop", "web-0", "server", "container_id", id, "image", testenv.BusyboxImage)...): 1,
		collectortest.SeriesOf("cri_container_restarts", containerKV("shop", "web-0", "server")...):                                                0,
	}
	for series, v := range want {
		if m, ok := s[series]; !ok || m.GetGauge().GetValue() != v {
			t.Errorf("%s = %v, want %v", series, m.GetGauge(), v)
		}
	}
	for _, method := range []string{"Version", "Status", "ListPodSandbox", "ListContainers", "ContainerStatus"} {
		if n := s.HistCount("cri_request_duration_seconds", "method", method); n == 0 {
			t.Errorf("cri_request_duration_seconds{method=%q} has no observation", method)
		}
	}
}

// TestExitsByReasonAndRestarts runs one container name three times, as the
// kubelet restarts it: exit code 0, exit code 3, then killed by SIGKILL.
func TestExitsByReasonAndRestarts(t *testing.T) {
	ctd, h := newCollectors(t)
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "batch", Name: "job-1"})
	h.cri.Scrape() // the first listing: exits from here on are counted
	app := containerKV("batch", "job-1", "app")

	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "app", Command: []string{"sh", "-c", "exit 0"}}))
	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "app", Attempt: 1, Command: []string{"sh", "-c", "exit 3"}}))
	s := h.cri.Scrape()
	if got := gauge(s, "cri_container_last_exit_code", app...); got != 3 {
		t.Errorf("last exit code after exits 0 and 3: %v, want 3", got)
	}
	if got := gauge(s, "cri_container_restarts", app...); got != 1 {
		t.Errorf("restarts of the re-created container: %v, want 1", got)
	}

	third := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "app", Attempt: 2, Command: []string{"sleep", "3600"}})
	ctd.StopContainer(t, third, 0) // SIGKILL at once
	ctd.WaitExited(t, third)
	s = h.cri.Scrape()
	for reason, want := range map[string]float64{reasonCompleted: 1, reasonError: 1, reasonSignal: 1, reasonOOMKilled: 0} {
		if got := s.Counter("cri_container_exits_total", append(app, "reason", reason)...); got != want {
			t.Errorf("cri_container_exits_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := gauge(s, "cri_container_last_exit_code", app...); got != 137 {
		t.Errorf("last exit code after SIGKILL: %v, want 137", got)
	}
	if got := gauge(s, "cri_container_restarts", app...); got != 2 {
		t.Errorf("restarts: %v, want 2", got)
	}
}

// TestExitBetweenScrapesCounted removes an exited container before the
// next scrape: the background poll has counted it.
func TestExitBetweenScrapesCounted(t *testing.T) {
	ctd, h := newCollectors(t)
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "batch", Name: "cron"})
	h.cri.Scrape()
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "tick", Command: []string{"sh", "-c", "exit 4"}})
	ctd.WaitExited(t, id)
	time.Sleep(5 * testPoll)
	ctd.RemoveContainer(t, id)

	s := h.cri.Scrape()
	kv := containerKV("batch", "cron", "tick")
	if got := s.Counter("cri_container_exits_total", append(kv, "reason", reasonError)...); got != 1 {
		t.Errorf("exits of a container removed before the scrape: %v, want 1", got)
	}
	if got := gauge(s, "cri_container_last_exit_code", kv...); got != 4 {
		t.Errorf("last exit code: %v, want 4", got)
	}
	if got := gauge(s, "cri_containers", "state", "exited"); got != 0 {
		t.Errorf("exited containers after removal: %v, want 0", got)
	}
}

// TestOOMKills: a child that exceeds the container's 32 MiB while the main
// process lives on, then a main process that does.
func TestOOMKills(t *testing.T) {
	ctd, h := newCollectors(t)
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "ml", Name: "trainer"})
	h.cri.Scrape()

	child := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "survivor", MemoryLimit: 32 << 20,
		Command: []string{"sh", "-c", "tail /dev/zero; sleep 3600"}})
	survivor := containerKV("ml", "trainer", "survivor")
	waitCounter(t, h, "cri_container_oom_kills_total", survivor, 1)
	if st := ctd.ContainerStatus(t, child); st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container whose child was OOM-killed: %s, want running", st.GetState())
	}

	ctd.WaitExited(t, ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "hog", MemoryLimit: 32 << 20,
		Command: []string{"tail", "/dev/zero"}}))
	hog := containerKV("ml", "trainer", "hog")
	s := h.cri.Scrape()
	if got := s.Counter("cri_container_exits_total", append(hog, "reason", reasonOOMKilled)...); got != 1 {
		t.Errorf("exits of the OOM-killed container: %v, want 1", got)
	}
	waitCounter(t, h, "cri_container_oom_kills_total", hog, 1)
	time.Sleep(5 * testPoll) // a second kill would show by now
	s = h.oom.Scrape()
	for _, kv := range [][]string{survivor, hog} {
		if got := s.Counter("cri_container_oom_kills_total", kv...); got != 1 {
			t.Errorf("cri_container_oom_kills_total%v = %v, want 1", kv, got)
		}
	}
}

// waitCounter scrapes oom until its counter reaches want; oom names
// containers on its own, without the cri collector.
func waitCounter(t *testing.T, h collectors, name string, kv []string, want float64) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := h.oom.Scrape().Counter(name, kv...)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after %v, want %v", name, kv, got, waitFor, want)
		}
		time.Sleep(testPoll)
	}
}

// TestRuntimeDownAndBack stops containerd under the collectors: cri fails
// its scrapes while oom keeps serving, and cri recovers once containerd is
// back, without being rebuilt.
func TestRuntimeDownAndBack(t *testing.T) {
	ctd, h := newCollectors(t)
	h.cri.Scrape()
	ctd.Stop(t)
	if err := h.cri.C.Update(context.Background(), make(chan prometheus.Metric, 1024)); err == nil {
		t.Error("cri Update with containerd stopped: nil error, want one")
	}
	h.oom.Scrape() // fails the test on error
	ctd.Start(t)
	deadline := time.Now().Add(waitFor)
	for {
		err := h.cri.C.Update(context.Background(), make(chan prometheus.Metric, 1024))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cri Update %v after containerd restarted: %v", waitFor, err)
		}
		time.Sleep(testPoll)
	}
}

func findSeries(s collectortest.Snapshot, name string) []string {
	var out []string
	for series := range s {
		if strings.HasPrefix(series, name+"{") {
			out = append(out, series)
		}
	}
	return out
}

// TestCRIUnsupportedWithoutEndpoint: with --cri.endpoint empty the cri
// collector is unsupported (not retried), for a clear reason.
func TestCRIUnsupportedWithoutEndpoint(t *testing.T) {
	client, err := cri.New("", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := exporter.Env{Name: "cri"}.WithComponents(map[string]any{cri.ComponentName: client})
	c, err := newCRI(context.Background(), env, testPoll)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "--cri.endpoint is empty") {
		t.Errorf("newCRI without endpoint: %v, %v; want an unsupported error naming --cri.endpoint", c, err)
	}
}
