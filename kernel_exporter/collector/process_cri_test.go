package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// TestProcessLabelsContainerExecsWithPod points the workload resolver at a
// real containerd: the execs in a container's cgroup (runc's init, and
// then the entrypoint; how many runc makes depends on its version) are
// counted under the container's cgroup with its pod namespace, pod name
// and container name, as the runtime reports them over CRI.
func TestProcessLabelsContainerExecsWithPod(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	h := newHarness(t, "process", collectortest.WithContainerd(ctd))
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})

	cgroup := ctd.CgroupParent + "/kubepods/besteffort/pod" + pod.UID + "/" + id
	kv := []string{"cgroup", cgroup, "namespace", "shop", "pod", "web-0", "container", "server"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := h.scrape().counter("kernel_process_execs_total", kv...)
		if got >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel_process_execs_total%v absent after 20s: the container's execs lack its pod labels", kv)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestContainerGranularitySumsRestartsIntoOneSeries runs a container,
// kills it and runs its restart (attempt 1, as the kubelet would): two
// cgroups of one container name. At --workload.granularity=container they
// are one series, without a cgroup label, whose count is exactly the sum
// of the two cgroups' series that a collector at cgroup granularity,
// watching the same execs, serves.
func TestContainerGranularitySumsRestartsIntoOneSeries(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	byCgroup := newHarness(t, "process", collectortest.WithContainerd(ctd))
	byContainer := newHarness(t, "process", collectortest.WithContainerd(ctd),
		collectortest.WithGranularity(workload.ByContainer))
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	container := []string{"namespace", "shop", "pod", "web-0", "container", "server"}

	var cgroups []string
	var perCgroup []float64
	for attempt := range uint32(2) {
		id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}, Attempt: attempt})
		cgroups = append(cgroups, ctd.CgroupParent+"/kubepods/besteffort/pod"+pod.UID+"/"+id)
		// Once sleep runs, the attempt's execs no longer change. Both
		// collectors label its cgroup while it lives: a workload's labels
		// are those its cgroup resolved to last.
		exportertest.Eventually(t, func() error {
			n := byCgroup.scrape().counter("kernel_process_execs_total", append([]string{"cgroup", cgroups[attempt]}, container...)...)
			if n < 1 { // sleep at least; runc may add its own
				return fmt.Errorf("kernel_process_execs_total of attempt %d (%s) is %v, want at least 1", attempt, cgroups[attempt], n)
			}
			if total := sum(perCgroup) + n; byContainer.scrape().counter("kernel_process_execs_total", container...) < total {
				return fmt.Errorf("container granularity lacks attempt %d's execs", attempt)
			}
			perCgroup = append(perCgroup[:attempt], n)
			return nil
		})
		if attempt == 0 {
			ctd.StopContainer(t, id, 0)
			ctd.WaitExited(t, id)
		}
	}

	s := byContainer.scrape()
	want := sum(perCgroup)
	if got := s.counter("kernel_process_execs_total", container...); got != want {
		t.Errorf("kernel_process_execs_total{namespace=shop,pod=web-0,container=server} at container granularity = %v, want %v + %v = %v",
			got, perCgroup[0], perCgroup[1], want)
	}
	for name := range s {
		if strings.Contains(name, "cgroup=") {
			t.Errorf("series %s at container granularity has a cgroup label", name)
		}
	}
}

func sum(values []float64) float64 {
	var total float64
	for _, v := range values {
		total += v
	}
	return total
}

// TestNewContainerNeverServedWithoutItsPod scrapes without pause while pods
// and containers start: a container's series appear once with its pod
// labels, never first with empty ones (a new series identity that would
// lose the pod's first events from its rates).
func TestNewContainerNeverServedWithoutItsPod(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	h := newHarness(t, "process", collectortest.WithContainerd(ctd))
	const pods = 3
	result := make(chan error, 1)
	go func() { // the only goroutine that scrapes
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			s := h.scrape()
			for series := range s {
				if strings.HasPrefix(series, "kernel_process_execs_total{") && strings.Contains(series, "/kubepods/") &&
					strings.Contains(series, `namespace=""`) {
					result <- fmt.Errorf("served without its pod labels: %s", series)
					return
				}
			}
			named := 0
			for i := range pods {
				want := fmt.Sprintf(`container="server",namespace="shop",pod="web-%d"}`, i)
				for series, m := range s {
					if strings.HasPrefix(series, "kernel_process_execs_total{") && strings.HasSuffix(series, want) &&
						m.GetCounter().GetValue() >= 1 {
						named++
						break
					}
				}
			}
			if named == pods {
				result <- nil
				return
			}
		}
		result <- fmt.Errorf("the %d containers' execs not all served with their pod labels after 30s", pods)
	}()
	for i := range pods {
		pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: fmt.Sprintf("web-%d", i)})
		ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})
	}
	if err := <-result; err != nil {
		t.Error(err)
	}
}

// TestSpoofedContainerCgroupGetsNoPod runs execs in a cgroup outside the
// kubelet's root, in the shape of a delegated user subtree, named after a
// real container of a real pod: they are counted under that cgroup with no
// pod labels, while the real container keeps its own.
func TestSpoofedContainerCgroupGetsNoPod(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	h := newHarness(t, "process", collectortest.WithContainerd(ctd))
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})
	spoof := testenv.NewCgroup(t).Child(t, "user.slice/user@1000.service/kubepods/besteffort/pod"+pod.UID+"/"+id)

	p := spoof.Start(t, "exec", "20", "/bin/true")
	before := h.scrape()
	p.Go(t)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("workload exited %d", code)
	}
	after := h.scrape()
	if got := delta(before, after, "kernel_process_execs_total", workloadLabels(spoof)...); got != 20 {
		t.Errorf("execs of the spoofing cgroup without pod labels: +%v, want +20", got)
	}
	for series := range after {
		if strings.Contains(series, `cgroup="`+spoof.Path+`"`) && strings.Contains(series, `pod="web-0"`) {
			t.Errorf("the spoofing cgroup borrowed the pod's labels: %s", series)
		}
	}
}
