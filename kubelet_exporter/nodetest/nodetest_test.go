package nodetest_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
	"github.com/bpfleet/bpfleet/kubelet_exporter/nodetest"
)

// hostState is what the kubelet could change on the host outside the
// harness's own directory.
func hostState(t *testing.T) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, p := range []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/pods", "/var/log/containers"} {
		entries, err := os.ReadDir(p)
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		s[p] = strings.Join(names, ",") + " " + errString(err)
	}
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"} {
		b, _ := os.ReadFile("/proc/sys/" + k)
		s[k] = strings.TrimSpace(string(b))
	}
	for _, table := range []string{"filter", "mangle", "nat"} {
		if out, err := exec.Command("iptables", "-t", table, "-S").Output(); err == nil {
			s["iptables "+table] = string(out)
		}
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "missing"
}

// TestNodeRunsPodsAndLeavesHostClean starts a node, runs a pod on it,
// reads the kubelet's /pods with its CA and a token, and checks that once
// the node is torn down the host is as before: no mount under the node's
// directory, no kubelet directory or pod log left, the kernel tunables and
// the firewall as they were, no cgroup of the node left.
func TestNodeRunsPodsAndLeavesHostClean(t *testing.T) {
	before := hostState(t)
	var dir, cgroup string
	t.Run("node", func(t *testing.T) {
		n := nodetest.Start(t)
		dir, cgroup = n.Dir, n.Containerd.CgroupParent
		n.Namespace(t, "smoke")
		n.RunPod(t, sleeper())
		code, body := n.Get(t, "/pods", kubetest.AdminToken)
		if code != 200 || !strings.Contains(string(body), `"name":"sleeper"`) {
			t.Fatalf("GET /pods: %d %.200s", code, body)
		}
	})
	if t.Failed() {
		return
	}
	after := hostState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed:\nbefore: %s\nafter:  %s", k, v, after[k])
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), dir) {
			t.Errorf("mount left: %s", sc.Text())
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", dir, err)
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range roots {
		if _, err := os.Stat(filepath.Join(r, cgroup)); err == nil {
			t.Errorf("cgroup %s left", filepath.Join(r, cgroup))
		}
	}
}

func sleeper() *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: "smoke"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{
				Name: "main", Image: testenv.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sleep", "3600"},
			}},
		},
	}
}
