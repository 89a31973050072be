package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// flakyUnit fails (exit 1) the first three times it runs, counting runs in
// /var/lib/flaky/runs, then stays up (systemd_exporter's own test unit).
const (
	flakyScript = `#!/bin/sh
n=$(cat /var/lib/flaky/runs 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > /var/lib/flaky/runs
[ "$n" -le 3 ] && exit 1
exec sleep infinity
`
	flakyUnit     = "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/usr/local/bin/flaky\nRestart=on-failure\nRestartSec=100ms\n"
	flakyFailures = 3
)

// systemdOnNode deploys systemd_exporter's generated manifest on the node
// against a real systemd (Debian 12's, booted by sdtest in
// systemd-nspawn): this host runs no systemd, so the two host paths the
// manifest mounts are replaced. /run/dbus becomes the directory that
// system's bus socket is bound from (the container's /run/dbus).
// /run/systemd, which the exporter reads only for system/, the empty
// directory systemd makes at boot (sd_booted(3)), becomes a directory of
// the test holding an empty system/: the container's own /run/systemd is
// a tmpfs of its mount namespace, which runc cannot bind-mount from there
// (mount(2) of /proc/<pid>/root/run/systemd fails with EINVAL, a mount of
// another mount namespace). Nothing else changes. The DaemonSet's pod turns Ready, follows systemd's signals and
// counts a Restart=on-failure service that fails 3 times and then stays
// up: exactly 3 failures with result exit-code and 3 restarts.
//
// The DaemonSet is deleted, its pod gone, before the system is powered
// off; record gets the pod, for its log directory's removal.
func (n *nodeEnv) systemdOnNode(t *testing.T, record func(*corev1.Pod)) {
	sys := sdtest.Boot(t)
	sock := strings.TrimPrefix(sys.Address, "unix:path=")
	if sock == sys.Address || filepath.Base(sock) != "system_bus_socket" {
		t.Fatalf("the system's bus %q is not a unix socket path", sys.Address)
	}
	runSystemd := t.TempDir()
	if err := os.Mkdir(filepath.Join(runSystemd, "system"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, "systemd")
	for _, r := range [][2]string{
		{"hostPath:\n          path: /run/dbus\n", "hostPath:\n          path: " + filepath.Dir(sock) + "\n"},
		{"hostPath:\n          path: /run/systemd\n", "hostPath:\n          path: " + runSystemd + "\n"},
	} {
		if strings.Count(m, r[0]) != 1 {
			t.Fatalf("manifests/systemd.yaml has %d times %q, want 1", strings.Count(m, r[0]), r[0])
		}
		m = strings.Replace(m, r[0], r[1], 1)
	}
	n.manifests["systemd"] = m
	n.importImage(t, "systemd", m)
	n.kubectl(t, m, "apply", "-f", "-")
	t.Cleanup(func() { n.deleteDaemonSet(t, "systemd") })
	pod := n.exporterPod(t, "systemd", true, "")
	record(pod)
	n.node.Eventually(t, "systemd_exporter following systemd's signals", func() error {
		if log := n.containerLog(t, pod); !strings.Contains(log, "Following systemd's unit signals") {
			return fmt.Errorf("not yet; log:\n%s", log)
		}
		return nil
	})
	collectors := []string{"oom", "process", "unit"}
	mfs := n.scrapeCollectors(t, pod, "systemd", collectors)
	success := collectorValues(mfs, "systemd_scrape_collector_success")
	for _, c := range collectors {
		if success[c] != 1 {
			t.Fatalf("collectors succeeding %v, want %v; log:\n%s", success, collectors, n.containerLog(t, pod))
		}
	}
	failures := []string{"name", "flaky.service"}
	if _, cnt := sumOf(mfs, "systemd_service_failures_total", failures...); cnt != 0 {
		t.Fatalf("failures of flaky.service before its start: %v", seriesWith(mfs, "systemd_service_failures_total", "flaky"))
	}

	sys.WriteFile(t, "/usr/local/bin/flaky", flakyScript, 0o755)
	sys.Run(t, "mkdir", "-p", "/var/lib/flaky")
	sys.AddUnit(t, "flaky.service", flakyUnit)
	sys.Systemctl(t, "start", "--no-block", "flaky.service")
	sys.WaitUnit(t, "flaky.service", "NRestarts", fmt.Sprint(flakyFailures))
	sys.WaitUnit(t, "flaky.service", "SubState", "running")
	n.node.Eventually(t, "flaky.service's failures counted", func() error {
		mfs = n.scrapeCollectors(t, pod, "systemd", nil)
		if got, _ := sumOf(mfs, "systemd_service_restart_total", failures...); got != flakyFailures {
			return fmt.Errorf("systemd_service_restart_total%v = %v, want %d", failures, got, flakyFailures)
		}
		return nil
	})
	if got := seriesWith(mfs, "systemd_service_failures_total", "flaky.service"); len(got) != 1 {
		t.Errorf("systemd_service_failures_total of flaky.service: %v, want one series", got)
	}
	if got, _ := sumOf(mfs, "systemd_service_failures_total", append(failures, "result", "exit-code")...); got != flakyFailures {
		t.Errorf("systemd_service_failures_total{result=exit-code} of flaky.service = %v, want %d", got, flakyFailures)
	}
	if got, _ := sumOf(mfs, "systemd_unit_state", append(failures, "state", "active")...); got != 1 {
		t.Errorf(`systemd_unit_state{name="flaky.service",state="active"} = %v, want 1`, got)
	}
}

// deleteDaemonSet deletes exporter e's DaemonSet and waits until its pods
// are gone.
func (n *nodeEnv) deleteDaemonSet(t *testing.T, e string) {
	ctx := context.Background()
	ns := podNamespace(e)
	fg := metav1.DeletePropagationForeground
	if err := n.node.Cluster.Admin.AppsV1().DaemonSets(ns).Delete(ctx, e+"-exporter", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Errorf("deleting %s-exporter's DaemonSet: %v", e, err)
		return
	}
	n.node.Eventually(t, e+"-exporter's pods gone", func() error {
		pods, err := n.node.Cluster.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + e + "-exporter"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("%d pods left", len(pods.Items))
		}
		return nil
	})
}
