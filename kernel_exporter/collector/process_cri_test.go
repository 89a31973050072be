package collector

import (
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestProcessLabelsContainerExecsWithPod points the workload resolver at a
// real containerd: the execs in a container's cgroup (runc's init, and
// then the entrypoint; how many runc makes depends on its version) are
// counted under the container's cgroup with its pod namespace, pod name
// and container name, as the runtime reports them over CRI.
func TestProcessLabelsContainerExecsWithPod(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	h := collectortest.New(t, namespace, newProcess, collectortest.WithCRIEndpoint(ctd.Endpoint))
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})
	id := ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})

	cgroup := ctd.CgroupParent + "/kubepods/besteffort/pod" + pod.UID + "/" + id
	kv := []string{"cgroup", cgroup, "namespace", "shop", "pod", "web-0", "container", "server"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := h.Scrape().Counter("kernel_process_execs_total", kv...)
		if got >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel_process_execs_total%v absent after 20s: the container's execs lack its pod labels", kv)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
