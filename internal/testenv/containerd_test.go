package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerdRunsPodsAndCleansUp runs containers that exit with code 3
// and that are OOM-killed under a 32 MiB limit, restarts containerd under a
// running container, and checks after the test's cleanup that nothing it
// made is left.
func TestContainerdRunsPodsAndCleansUp(t *testing.T) {
	var c *Containerd
	var pod *Pod
	t.Run("lifecycle", func(t *testing.T) {
		c = StartContainerd(t)
		if comm := readTrimmed(t, filepath.Join("/proc", strconv.Itoa(c.PID), "comm")); comm != "containerd" {
			t.Errorf("PID %d runs %q, want containerd", c.PID, comm)
		}
		pod = c.RunPod(t, PodSpec{Namespace: "ns1", Name: "pod1"})

		exit3 := c.RunContainer(t, pod, ContainerSpec{Name: "exit3", Command: []string{"sh", "-c", "exit 3"}})
		if st := c.WaitExited(t, exit3); st.GetExitCode() != 3 || st.GetReason() != "Error" {
			t.Errorf("exit 3 container: code %d reason %q, want 3 Error", st.GetExitCode(), st.GetReason())
		}

		hog := c.RunContainer(t, pod, ContainerSpec{Name: "hog", Command: []string{"tail", "/dev/zero"}, MemoryLimit: 32 << 20})
		if st := c.WaitExited(t, hog); st.GetExitCode() != 137 || st.GetReason() != "OOMKilled" {
			t.Errorf("memory hog: code %d reason %q, want 137 OOMKilled", st.GetExitCode(), st.GetReason())
		}

		sleeper := c.RunContainer(t, pod, ContainerSpec{Name: "sleeper", Command: []string{"sleep", "3600"}, MemoryLimit: 32 << 20})
		limit := filepath.Join("/sys/fs/cgroup/memory", c.CgroupParent, "kubepods/besteffort/pod"+pod.UID, sleeper, "memory.limit_in_bytes")
		if got := readTrimmed(t, limit); got != "33554432" {
			t.Errorf("%s = %s, want 33554432", limit, got)
		}
		before := c.PID
		c.Restart(t)
		if c.PID == before {
			t.Errorf("containerd PID %d unchanged by Restart", c.PID)
		}
		if st := c.ContainerStatus(t, sleeper); st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("container after containerd restart: %s, want running", st.GetState())
		}
	})
	if c == nil {
		t.Skip("containerd not started")
	}
	for _, p := range []string{c.Dir, filepath.Join("/sys/fs/cgroup/memory", c.CgroupParent),
		filepath.Join("/sys/fs/cgroup/unified", c.CgroupParent), filepath.Join("/sys/class/net", c.bridge)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after cleanup (stat: %v)", p, err)
		}
	}
	for _, p := range c.netns {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("network namespace %s left after cleanup (stat: %v)", p, err)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", c.Dir).Output(); len(out) > 0 {
		t.Errorf("processes of %s left after cleanup: %s", c.Dir, out)
	}
}

// TestContainerdStatusReportsBothConditions checks the readiness that
// StartContainerd waits for, as a CRI client sees it.
func TestContainerdStatusReportsBothConditions(t *testing.T) {
	c := StartContainerd(t)
	st, err := c.Runtime.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cond := range st.GetStatus().GetConditions() {
		got = append(got, cond.GetType()+"="+map[bool]string{true: "true", false: "false"}[cond.GetStatus()])
	}
	if want := "RuntimeReady=true NetworkReady=true"; strings.Join(got, " ") != want {
		t.Errorf("conditions %v, want %s", got, want)
	}
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
