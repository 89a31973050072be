package mixins

// The workloads of TestMixinsInRealPrometheus that go through a real
// containerd: containers of a pod that end in each way cri_exporter tells
// apart, pods made and removed on a CNI network whose address pool is too
// small for them all, and packets dropped in a pod's network namespace.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/testenv"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criTimeout bounds each CRI request and each wait for a container's exit
// of the workloads.
const criTimeout = 20 * time.Second

// startContainerd starts the containerd of the CRI and CNI workloads, with
// CNI plugins of its own (cni_exporter watches the execs of that copy) and
// a host-local pool of two addresses: the pod that runs throughout takes
// one, cniWorkload's pods contend for the other.
func startContainerd(t *testing.T) *testenv.Containerd {
	t.Helper()
	subnet := fmt.Sprintf("198.19.%d", rand.IntN(256))
	return testenv.StartContainerd(t, testenv.WithPrivateCNIPlugins(), testenv.WithCNIRange(testenv.CNIRange{
		Subnet: subnet + ".0/24", RangeStart: subnet + ".10", RangeEnd: subnet + ".11",
	}))
}

// exitKinds are the ways criWorkload's containers end, in turn: completed
// (exit code 0), error (another code), signal (SIGKILL) and OOM-killed (in
// a 32 MiB memory limit).
var exitKinds = []struct {
	command []string
	memory  int64
}{
	{[]string{"sh", "-c", "exit 0"}, 0},
	{[]string{"sh", "-c", "exit 3"}, 0},
	{[]string{"sh", "-c", "kill -9 $$"}, 0},
	{[]string{"tail", "/dev/zero"}, 32 << 20},
}

// criWorkload runs containers one after another in a pod that lives
// throughout, as the kubelet restarts a container: the same name, the
// attempt number one higher each time. It keeps the latest exited ones.
type criWorkload struct {
	ctd     *testenv.Containerd
	pod     *testenv.Pod
	attempt uint32
	exited  []string // ids, oldest first
}

// keepExited is how many exited containers criWorkload keeps.
const keepExited = 8

func newCRIWorkload(t *testing.T, ctd *testenv.Containerd, pod *testenv.Pod) *criWorkload {
	t.Helper()
	ctd.RunContainer(t, pod, testenv.ContainerSpec{Name: "server", Command: []string{"sleep", "3600"}})
	return &criWorkload{ctd: ctd, pod: pod}
}

// run runs the next container until it exits. Errors are left to the
// checks: a container that does not run leaves a panel without data.
func (w *criWorkload) run() {
	kind := exitKinds[int(w.attempt)%len(exitKinds)]
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	meta := w.pod.Config.GetMetadata()
	created, err := w.ctd.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  w.pod.ID,
		SandboxConfig: w.pod.Config,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "job", Attempt: w.attempt},
			Image:    &runtimeapi.ImageSpec{Image: testenv.BusyboxImage},
			Command:  kind.command,
			Labels: map[string]string{
				"io.kubernetes.pod.namespace":  meta.GetNamespace(),
				"io.kubernetes.pod.name":       meta.GetName(),
				"io.kubernetes.pod.uid":        w.pod.UID,
				"io.kubernetes.container.name": "job",
			},
			LogPath: fmt.Sprintf("job_%d.log", w.attempt),
			Linux: &runtimeapi.LinuxContainerConfig{
				Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: kind.memory},
			},
		},
	})
	w.attempt++
	if err != nil {
		return
	}
	id := created.GetContainerId()
	w.exited = append(w.exited, id)
	if _, err := w.ctd.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err == nil {
		for ctx.Err() == nil {
			st, err := w.ctd.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
			if err != nil || st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for len(w.exited) > keepExited {
		_, _ = w.ctd.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: w.exited[0]})
		w.exited = w.exited[1:]
	}
}

// cniWorkload makes pods and removes them on the network whose pool has
// one address left: of the two pods it asks for at a time, one gets the
// address and the other's ADD fails (host-local, and bridge that runs
// it).
type cniWorkload struct {
	ctd *testenv.Containerd
	n   int
}

// cycle asks for two pods, then removes the one that runs.
func (w *cniWorkload) cycle() {
	var running []string
	for range 2 {
		if id, err := w.runPod(); err == nil {
			running = append(running, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	for _, id := range running {
		if _, err := w.ctd.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err == nil {
			_, _ = w.ctd.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		}
	}
}

// runPod asks containerd for a pod without failing the test: the ADD of
// one that finds the pool full fails, and containerd removes it.
func (w *cniWorkload) runPod() (string, error) {
	w.n++
	name := fmt.Sprintf("batch-%d", w.n)
	uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), w.n)
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	resp, err := w.ctd.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "batch", Uid: uid},
		Labels:       map[string]string{"io.kubernetes.pod.namespace": "batch", "io.kubernetes.pod.name": name, "io.kubernetes.pod.uid": uid},
		LogDirectory: filepath.Join(w.ctd.Dir, "pods", uid),
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: w.ctd.CgroupParent + "/kubepods/besteffort/pod" + uid},
	}})
	return resp.GetPodSandboxId(), err
}

// dropSocket opens a UDP socket in pod's network namespace: datagrams it
// sends to a closed port there are dropped (NO_SOCKET) in the pod.
func dropSocket(t *testing.T, ctd *testenv.Containerd, pod *testenv.Pod) *net.UDPConn {
	t.Helper()
	path := pod.Netns
	// EnterNetns takes a name under /run/netns; a path relative to it
	// reaches the bind mount containerd made wherever it is.
	rel, err := filepath.Rel("/run/netns", path)
	if err != nil {
		t.Fatal(err)
	}
	var conn *net.UDPConn
	err = inNetns(rel, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	})
	if err != nil {
		t.Fatalf("opening a UDP socket in %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// drop sends datagrams from conn to the discard port of its namespace's
// loopback, where nothing listens.
func drop(conn *net.UDPConn) {
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for range 5 {
		_, _ = conn.WriteToUDP([]byte("drop me"), to)
	}
}
