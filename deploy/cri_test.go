package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/testenv"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The kubelet's default masked and read-only paths of a container that is
// not privileged (k8s.io/kubernetes/pkg/securitycontext).
var (
	defaultMaskedPaths   = []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// criRun runs the chart's pod template for one exporter through a real
// containerd's CRI, as the kubelet would translate it: its image (built by
// BuildImage around the real binary), args, security context (capabilities
// added to a container that drops ALL, uid 0, no privilege escalation,
// read-only root file system, seccomp RuntimeDefault), hostPID, and its
// host paths mounted read-only. It returns the pod's IP, the container id
// and the exporter's port.
func criRun(t *testing.T, ctd *testenv.Containerd, tpl *corev1.PodTemplateSpec, e string, mutate func(*runtimeapi.ContainerConfig)) (client *http.Client, url, id string) {
	t.Helper()
	spec := tpl.Spec
	c := spec.Containers[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), rand.Uint64()&0xffffffffffff)
	pidNS := runtimeapi.NamespaceMode_CONTAINER
	if spec.HostPID {
		pidNS = runtimeapi.NamespaceMode_NODE
	}
	ns := &runtimeapi.NamespaceOption{Pid: pidNS}
	seccomp := &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	if spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Fatalf("%s: seccomp %v", e, spec.SecurityContext.SeccompProfile)
	}
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: e + "-exporter", Namespace: "bpfleet-node", Uid: uid},
		Hostname:     e + "-exporter",
		Labels:       map[string]string{"io.kubernetes.pod.namespace": "bpfleet-node", "io.kubernetes.pod.name": e + "-exporter", "io.kubernetes.pod.uid": uid},
		LogDirectory: filepath.Join(ctd.Dir, "pods", uid),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: ctd.CgroupParent + "/kubepods/burstable/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: ns, Seccomp: seccomp,
				RunAsUser: &runtimeapi.Int64Value{Value: *spec.SecurityContext.RunAsUser},
			},
		},
	}
	if err := os.MkdirAll(podCfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	pod, err := ctd.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatalf("%s: RunPodSandbox: %v\n%s", e, err, ctd.Log())
	}
	st, err := ctd.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.GetPodSandboxId()})
	if err != nil {
		t.Fatal(err)
	}
	ip := st.GetStatus().GetNetwork().GetIp()
	client = netnsClient(podNetns(t, ctd, pod.GetPodSandboxId()))

	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			t.Fatalf("%s: volume %s is not a host path", e, v.Name)
		}
		hostPaths[v.Name] = v.HostPath.Path
	}
	var mounts []*runtimeapi.Mount
	for _, m := range c.VolumeMounts {
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationHostToContainer {
			prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: m.MountPath, HostPath: hostPaths[m.Name], Readonly: m.ReadOnly, Propagation: prop})
	}
	sc := c.SecurityContext
	var add, drop []string
	for _, a := range sc.Capabilities.Add {
		add = append(add, string(a))
	}
	for _, d := range sc.Capabilities.Drop {
		drop = append(drop, string(d))
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: c.Name},
		Image:    &runtimeapi.ImageSpec{Image: c.Image},
		Args:     c.Args,
		Mounts:   mounts,
		LogPath:  c.Name + "_0.log",
		Labels:   map[string]string{"io.kubernetes.pod.namespace": "bpfleet-node", "io.kubernetes.pod.name": e + "-exporter", "io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": c.Name},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: c.Resources.Limits.Memory().Value()},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				Capabilities:     &runtimeapi.Capability{AddCapabilities: add, DropCapabilities: drop},
				NamespaceOptions: ns,
				RunAsUser:        &runtimeapi.Int64Value{Value: *spec.SecurityContext.RunAsUser},
				ReadonlyRootfs:   *sc.ReadOnlyRootFilesystem,
				NoNewPrivs:       !*sc.AllowPrivilegeEscalation,
				Seccomp:          seccomp,
				MaskedPaths:      defaultMaskedPaths,
				ReadonlyPaths:    defaultReadonlyPaths,
			},
		},
	}
	if mutate != nil {
		mutate(cfg)
	}
	created, err := ctd.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.GetPodSandboxId(), Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		t.Fatalf("%s: CreateContainer: %v\n%s", e, err, ctd.Log())
	}
	if _, err := ctd.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.GetContainerId()}); err != nil {
		t.Fatalf("%s: StartContainer: %v\n%s", e, err, ctd.Log())
	}
	return client, fmt.Sprintf("http://%s:%d", ip, c.Ports[0].ContainerPort), created.GetContainerId()
}

// podNetns returns the path of a sandbox's network namespace, from its
// verbose status.
func podNetns(t *testing.T, ctd *testenv.Containerd, id string) string {
	t.Helper()
	st, err := ctd.Runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string }
			}
		}
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		t.Fatal(err)
	}
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			return ns.Path
		}
	}
	t.Fatalf("sandbox %s: no network namespace in %s", id, st.GetInfo()["info"])
	return ""
}

// netnsClient is an HTTP client whose connections are made in the network
// namespace at path (a pod's), as Prometheus on the pod network would: the
// host itself has no route to the pods here.
func netnsClient(path string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// Never unlocked: the thread, left in the pod's namespace,
			// ends with this goroutine.
			runtime.LockOSThread()
			f, err := os.Open(path)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// scrapeUntil scrapes the exporter until every named collector serves a
// <prefix>_scrape_collector_success series (each has been tried), and
// returns that scrape.
// scrapeUntil scrapes the exporter until done says what it serves is what
// the test waits for (a collector is reported with success 0 before it is
// constructed, so "present" is not enough), and returns that scrape, or the
// last one after 60 s for the caller to report. An exporter that exits
// fails the test.
func scrapeUntil(t *testing.T, ctd *testenv.Containerd, client *http.Client, id, url string, done func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := ctd.ContainerStatus(t, id)
		if st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			log, _ := os.ReadFile(st.GetLogPath())
			t.Fatalf("exporter exited with %d:\n%s", st.GetExitCode(), log)
		}
		mfs, err := scrape(client, url+"/metrics")
		if err == nil && (done(mfs) || time.Now().After(deadline)) {
			return mfs
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(st.GetLogPath())
			t.Fatalf("%s: no scrape after 60s (%v):\n%s", url, err, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// allSucceed is a scrapeUntil condition: every one of collectors reports
// <prefix>_scrape_collector_success 1.
func allSucceed(prefix string, collectors []string) func(map[string]*dto.MetricFamily) bool {
	return func(mfs map[string]*dto.MetricFamily) bool {
		got := collectorValues(mfs, prefix+"_scrape_collector_success")
		for _, c := range collectors {
			if got[c] != 1 {
				return false
			}
		}
		return true
	}
}

func scrape(client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(body))
}

// collectorValues returns metric name's value per collector label.
func collectorValues(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" {
				out[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestChartPrivilegesSuffice runs each eBPF exporter that runs without
// systemd (kernel, dns, cni, cri) from its image, with exactly the chart's
// pod template (capabilities, uid 0, seccomp RuntimeDefault, read-only root
// file system and host paths, hostPID for cni only) in a real containerd,
// and scrapes it through the pod's IP: every collector succeeds. Then
// kernel_exporter without CAP_PERFMON: it keeps serving, its tracing
// collectors fail, and it names the missing capability.
func TestChartPrivilegesSuffice(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	lic := license(t)
	socket := strings.TrimPrefix(ctd.Endpoint, "unix://")
	values := Merge(Only("kernel", "dns", "cni", "cri"), map[string]any{
		"criSocket": socket,
		"image":     map[string]any{"registry": "bpfleet.test", "repository": "bpfleet", "tag": "test"},
		"exporters": map[string]any{"cni": map[string]any{
			"binDir": ctd.CNIBinDir, "confDir": filepath.Join(ctd.Dir, "net.d"), "ipamDataDir": ctd.IPAMDataDir,
		}},
	})
	templates := map[string]*corev1.PodTemplateSpec{}
	for _, obj := range render(t, Options{Values: values}) {
		if tpl := obj.PodTemplate(); tpl != nil {
			templates[obj.Exporter()] = tpl
		}
	}
	collectors := map[string][]string{
		"kernel": {"block", "oom", "process", "sched", "tcp"},
		"dns":    {"dns"},
		"cni":    {"drops", "ipam", "netns", "plugins"},
		"cri":    {"cri", "oom"},
	}
	for _, e := range []string{"kernel", "dns", "cni", "cri"} {
		bin, err := BuildBinary(Root(), e, "0.0.0", "test")
		if err != nil {
			t.Fatal(err)
		}
		archive, err := BuildImage(ImageSpec{Exporter: e, Version: "test", Binary: bin, License: lic, Registry: "bpfleet.test/bpfleet"})
		if err != nil {
			t.Fatal(err)
		}
		ctr := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs", "-")
		ctr.Stdin = bytes.NewReader(archive)
		if out, err := ctr.CombinedOutput(); err != nil {
			t.Fatalf("ctr images import: %v: %s", err, out)
		}
	}
	for _, e := range []string{"kernel", "dns", "cni", "cri"} {
		t.Run(e, func(t *testing.T) {
			client, url, id := criRun(t, ctd, templates[e], e, nil)
			mfs := scrapeUntil(t, ctd, client, id, url, allSucceed(e, collectors[e]))
			// What the chart's readinessProbe asks.
			if resp, err := client.Get(url + "/readyz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("/readyz after a scrape: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			success := collectorValues(mfs, e+"_scrape_collector_success")
			var got []string
			for c, v := range success {
				if v == 1 {
					got = append(got, c)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(collectors[e], ",") {
				st := ctd.ContainerStatus(t, id)
				log, _ := os.ReadFile(st.GetLogPath())
				t.Errorf("collectors succeeding %v, want %v (all: %v); log:\n%s", got, collectors[e], success, log)
			}
			for c, v := range collectorValues(mfs, e+"_exporter_collector_unsupported") {
				if v != 0 {
					t.Errorf("collector %s unsupported", c)
				}
			}
		})
	}
	t.Run("kernel without PERFMON", func(t *testing.T) {
		client, url, id := criRun(t, ctd, templates["kernel"], "kernel", func(cfg *runtimeapi.ContainerConfig) {
			caps := cfg.Linux.SecurityContext.Capabilities
			var add []string
			for _, c := range caps.AddCapabilities {
				if c != "PERFMON" {
					add = append(add, c)
				}
			}
			caps.AddCapabilities = add
			cfg.Metadata.Name = "kernel-exporter-noperfmon"
			cfg.LogPath = "kernel-exporter-noperfmon_0.log"
		})
		// Each collector has tried (and named the capability) once the log
		// says so for every one of them.
		mfs := scrapeUntil(t, ctd, client, id, url, func(map[string]*dto.MetricFamily) bool {
			log, _ := os.ReadFile(ctd.ContainerStatus(t, id).GetLogPath())
			for _, c := range collectors["kernel"] {
				if !strings.Contains(string(log), "collector="+c+" err=\"loading BPF objects: operation not permitted: the exporter lacks CAP_PERFMON") {
					return false
				}
			}
			return true
		})
		success := collectorValues(mfs, "kernel_scrape_collector_success")
		for _, c := range []string{"block", "oom", "process", "sched", "tcp"} {
			if v, ok := success[c]; !ok || v != 0 {
				t.Errorf("collector %s success %v (present %v), want 0", c, v, ok)
			}
		}
		st := ctd.ContainerStatus(t, id)
		log, _ := os.ReadFile(st.GetLogPath())
		if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || !strings.Contains(string(log), "the exporter lacks CAP_PERFMON") {
			t.Errorf("state %v; want running and the log naming CAP_PERFMON:\n%s", st.GetState(), log)
		}
	})
}
