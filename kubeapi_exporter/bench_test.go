package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
)

// BenchmarkScaleAgainstKubeStateMetrics measures once (b.N is ignored), on one real API server with
// KUBEAPI_BENCH_PODS pods (default 10000) and KUBEAPI_BENCH_EVENTS Events
// (default 50000), the RSS and scrape time of kubeapi_exporter and, when
// KSM_BINARY names a kube-state-metrics binary, of kube-state-metrics
// (--resources=pods) side by side. It runs only with -bench
// (minutes) and logs the numbers for BENCHMARKS.md; it asserts no timing.
func BenchmarkScaleAgainstKubeStateMetrics(b *testing.B) {
	t := b
	nPods, nEvents := envInt("KUBEAPI_BENCH_PODS", 10000), envInt("KUBEAPI_BENCH_EVENTS", 50000)
	c := startCluster(t, "bench")
	ctx := context.Background()
	start := time.Now()
	parallel(nPods, func(i int) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "bench", "i": strconv.Itoa(i % 100)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
		_, err := c.Admin.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
	parallel(nEvents, func(i int) error {
		_, err := c.Admin.CoreV1().Events("bench").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("ev-%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: fmt.Sprintf("pod-%d", i%nPods)},
			Reason:         fmt.Sprintf("Reason%d", i%20), Type: corev1.EventTypeNormal, Message: strings.Repeat("m", 100), Count: 1,
		}, metav1.CreateOptions{})
		return err
	})
	t.Logf("created %d pods and %d events in %v", nPods, nEvents, time.Since(start).Round(time.Second))

	ours := startExporter(t, c, kubetest.AdminToken, c.URL())
	synced := time.Now()
	waitSuccess(t, ours, map[string]float64{"events": 1, "pods": 1, "writes": 1, "client": 1})
	t.Logf("kubeapi_exporter: synced in %v; %s", time.Since(synced).Round(100*time.Millisecond), measure(t, ours.Pid(), ours.URL+"/metrics"))

	if ksm := os.Getenv("KSM_BINARY"); ksm != "" {
		for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(5 * time.Second) {
			if _, err := os.Stat(ksm); err == nil || time.Now().After(deadline) {
				break // a binary still being built is waited for
			}
		}
		port, tport := kubetest.FreePort(t), kubetest.FreePort(t)
		cmd := exec.Command(ksm, "--kubeconfig="+c.Kubeconfig(t, kubetest.AdminToken, c.URL()), "--host=127.0.0.1",
			"--port="+strconv.Itoa(port), "--telemetry-host=127.0.0.1", "--telemetry-port="+strconv.Itoa(tport), "--resources=pods")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		synced = time.Now()
		exportertest.Eventually(t, func() error {
			body, err := get(url)
			if err != nil {
				return err
			}
			if n := strings.Count(body, "kube_pod_info{"); n < nPods {
				return fmt.Errorf("kube-state-metrics serves %d pods", n)
			}
			return nil
		})
		t.Logf("kube-state-metrics: synced in %v; %s", time.Since(synced).Round(100*time.Millisecond), measure(t, cmd.Process.Pid, url))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// parallel runs f(0..n-1) on 32 goroutines; the first error is fatal to
// nothing but logged by the caller's later checks.
func parallel(n int, f func(i int) error) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				for try := 0; try < 5 && f(i) != nil; try++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// measure returns the RSS of pid and the mean time and size of 5 scrapes.
func measure(t testing.TB, pid int, url string) string {
	t.Helper()
	var total time.Duration
	size := 0
	for range 5 {
		s := time.Now()
		body, err := get(url)
		if err != nil {
			t.Fatal(err)
		}
		total += time.Since(s)
		size = len(body)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	rss := ""
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			rss += strings.Join(strings.Fields(line), " ") + " "
		}
	}
	return fmt.Sprintf("%s; scrape %v mean of 5, %d bytes", rss, (total / 5).Round(time.Millisecond), size)
}
