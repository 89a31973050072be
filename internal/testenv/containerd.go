package testenv

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerdPackages is the Debian packages that StartContainerd needs;
// without them it skips the test.
const ContainerdPackages = "containerd runc containernetworking-plugins busybox-static"

// Images that StartContainerd imports; nothing can be pulled.
const (
	// BusyboxImage has a static busybox at /bin/busybox and its applets
	// (sh, sleep, tail, head, cat, echo, true, false, kill) in /bin.
	BusyboxImage = "bpfleet.test/busybox:1"
	// SandboxImage is the pod sandbox (pause) image: busybox sleeping.
	SandboxImage = "bpfleet.test/pause:1"
)

// containerdWait bounds each wait for containerd: its start, a pod's, an
// exit.
const containerdWait = 30 * time.Second

// cniBinDirs are where Debian's and upstream's CNI plugins live.
var cniBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Containerd is a containerd started for one test with its own root, state,
// socket, CNI network and cgroup parent, with the CRI plugin on (overlayfs
// snapshotter, cgroupfs driver). Everything it and its pods make is
// removed when the test ends. A Containerd is not safe for concurrent use.
type Containerd struct {
	Dir      string // root of every file it owns
	Endpoint string // unix://<Dir>/containerd.sock, for CRI clients
	// PID is containerd's own process id (not a shell's), 0 while stopped.
	PID int
	// CgroupParent is the cgroup, relative to each hierarchy's root, under
	// which pod cgroups are made: /bpfleet-test/containerd-<rand>.
	CgroupParent string
	// CNIBinDir holds the CNI plugins; Network names the CNI network
	// (bridge + host-local) whose allocations are in IPAMDataDir/<Network>.
	CNIBinDir, Network, IPAMDataDir string
	// Runtime is a CRI client of Endpoint, usable across restarts.
	Runtime runtimeapi.RuntimeServiceClient

	tb     testing.TB
	config string
	bridge string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *LogBuffer
	conn   *grpc.ClientConn
	netns  []string // network namespaces of the pods made, to sweep
}

// CNIRange is the IPv4 range of host-local's pool.
type CNIRange struct {
	Subnet     string // a /24 such as 198.19.7.0/24
	RangeStart string // first address handed out; "" for the subnet's first
	RangeEnd   string // last; "" for the subnet's last
}

// ContainerdOption changes how StartContainerd sets containerd up.
type ContainerdOption func(*containerdSetup)

type containerdSetup struct {
	cni            CNIRange
	privatePlugins bool
}

// WithCNIRange sets host-local's pool; the default is a random /24 of
// 198.19.0.0/16 (the RFC 2544 benchmarking range), all of it.
func WithCNIRange(r CNIRange) ContainerdOption {
	return func(s *containerdSetup) { s.cni = r }
}

// WithPrivateCNIPlugins copies the CNI plugins into a directory of this
// containerd's own (CNIBinDir, under Dir), so that a test that watches the
// execs of the plugins in CNIBinDir sees this containerd's and no other's.
func WithPrivateCNIPlugins() ContainerdOption {
	return func(s *containerdSetup) { s.privatePlugins = true }
}

// StartContainerd starts a containerd for the test and waits until its CRI
// Status reports the runtime ready. It skips the test without root or
// without ContainerdPackages. The test's cleanup removes every pod through
// CRI, stops containerd and its shims, and removes what is left: mounts,
// network namespaces, cgroups (v1 and v2), the CNI bridge, the directory.
func StartContainerd(tb testing.TB, opts ...ContainerdOption) *Containerd {
	tb.Helper()
	RequireRoot(tb)
	binDir := requireContainerd(tb)
	dir, err := os.MkdirTemp("", "bpfleet-ctd-")
	if err != nil {
		tb.Fatal(err)
	}
	tag := fmt.Sprintf("%08x", rand.Uint32())
	setup := containerdSetup{cni: CNIRange{Subnet: fmt.Sprintf("198.19.%d.0/24", rand.IntN(256))}}
	for _, o := range opts {
		o(&setup)
	}
	c := &Containerd{
		Dir:          dir,
		Endpoint:     "unix://" + filepath.Join(dir, "containerd.sock"),
		CgroupParent: "/" + testRoot + "/containerd-" + tag,
		CNIBinDir:    binDir,
		Network:      "bpfleet-" + tag,
		IPAMDataDir:  filepath.Join(dir, "ipam"),
		tb:           tb,
		config:       filepath.Join(dir, "config.toml"),
		bridge:       "bpfl" + tag,
		log:          &LogBuffer{},
	}
	tb.Cleanup(c.teardown)
	if setup.privatePlugins {
		c.copyPlugins(tb)
	}
	c.writeFiles(tb, setup)
	if c.conn, err = grpc.NewClient(c.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		tb.Fatalf("CRI client of %s: %v", c.Endpoint, err)
	}
	c.Runtime = runtimeapi.NewRuntimeServiceClient(c.conn)
	c.Start(tb)
	c.importImage(tb, BusyboxImage, []string{"/bin/sh"})
	c.importImage(tb, SandboxImage, []string{"/bin/sleep", "2147483647"})
	return c
}

// requireContainerd skips the test unless containerd, its runc shim, ctr,
// runc, the CNI plugins and a static busybox are installed; it returns the
// CNI plugin directory.
func requireContainerd(tb testing.TB) string {
	tb.Helper()
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("needs %s (apt-get install %s): %v", tool, ContainerdPackages, err)
		}
	}
	if err := isStatic("/bin/busybox"); err != nil {
		tb.Skipf("needs a static /bin/busybox (apt-get install busybox-static): %v", err)
	}
	for _, dir := range cniBinDirs {
		if hasFiles(dir, cniPlugins...) {
			return dir
		}
	}
	tb.Skipf("needs the CNI plugins bridge, host-local and loopback in %v (apt-get install containernetworking-plugins)", cniBinDirs)
	return ""
}

// isStatic reports an error unless path is an ELF executable without an
// interpreter, which runs in an image with no libc.
func isStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

func hasFiles(dir string, names ...string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// cniPlugins are the plugins that the network uses, containerd's loopback
// included.
var cniPlugins = []string{"bridge", "host-local", "loopback"}

// copyPlugins copies cniPlugins into <Dir>/cni-bin and makes it CNIBinDir.
func (c *Containerd) copyPlugins(tb testing.TB) {
	tb.Helper()
	dir := filepath.Join(c.Dir, "cni-bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, name := range cniPlugins {
		b, err := os.ReadFile(filepath.Join(c.CNIBinDir, name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	c.CNIBinDir = dir
}

// writeFiles writes containerd's configuration and the CNI network list.
func (c *Containerd) writeFiles(tb testing.TB, s containerdSetup) {
	tb.Helper()
	confDir := filepath.Join(c.Dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{
		c.config: c.configTOML(confDir),
		filepath.Join(confDir, "10-bpfleet.conflist"): c.conflist(s.cni),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// configTOML is containerd 1.6's configuration (version 2). The two
// settings this host needs: restrict_oom_score_adj (root here cannot lower
// oom_score_adj, so without it every RunPodSandbox fails) and a local
// sandbox_image (nothing can be pulled).
func (c *Containerd) configTOML(confDir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[9]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
    max_conf_num = 1
`, filepath.Join(c.Dir, "root"), filepath.Join(c.Dir, "state"), strings.TrimPrefix(c.Endpoint, "unix://"),
		filepath.Join(c.Dir, "containerd.sock.ttrpc"), filepath.Join(c.Dir, "opt"), SandboxImage, c.CNIBinDir, confDir, filepath.Join(c.Dir, "runc"))
}

// conflist is a bridge + host-local network. loopback is left out:
// containerd adds it itself (its binary must still be in the bin dir). No
// gateway and no masquerading, so the host's forwarding and firewall stay
// as they are.
func (c *Containerd) conflist(r CNIRange) string {
	rng := map[string]string{"subnet": r.Subnet}
	if r.RangeStart != "" {
		rng["rangeStart"] = r.RangeStart
	}
	if r.RangeEnd != "" {
		rng["rangeEnd"] = r.RangeEnd
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       c.Network,
		"plugins": []any{map[string]any{
			"type":   "bridge",
			"bridge": c.bridge,
			"ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{rng}},
				"dataDir": c.IPAMDataDir,
			},
		}},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err) // a literal of strings, maps and slices always marshals
	}
	return string(b)
}

// Start starts containerd (again, after Stop) and waits until CRI Status
// reports RuntimeReady and NetworkReady.
func (c *Containerd) Start(tb testing.TB) {
	tb.Helper()
	if c.cmd != nil {
		tb.Fatal("containerd already running")
	}
	cmd := exec.Command("containerd", "--config", c.config, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	// Its own process group, so that signals to the test's group miss it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting containerd: %v", err)
	}
	c.cmd, c.PID, c.exited = cmd, cmd.Process.Pid, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(c.exited)
	if err := c.waitReady(); err != nil {
		tb.Fatalf("containerd not ready: %v; log:\n%s", err, c.log)
	}
}

// waitReady polls CRI Status until both conditions are true.
func (c *Containerd) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	var last error
	for {
		select {
		case <-c.exited:
			return errors.New("containerd exited")
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", containerdWait, last)
		case <-time.After(50 * time.Millisecond):
		}
		last = c.ready(ctx)
		if last == nil {
			return nil
		}
	}
}

func (c *Containerd) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := c.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return err
	}
	for _, cond := range st.GetStatus().GetConditions() {
		if !cond.GetStatus() {
			return fmt.Errorf("%s false: %s %s", cond.GetType(), cond.GetReason(), cond.GetMessage())
		}
	}
	return nil
}

// Stop stops containerd (SIGTERM, then SIGKILL after 10s) and waits for it
// to exit. Its shims, and so its containers, keep running; Start picks them
// up again.
func (c *Containerd) Stop(tb testing.TB) {
	tb.Helper()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd, c.PID = nil, 0
}

// Restart stops containerd and starts it again on the same root.
func (c *Containerd) Restart(tb testing.TB) {
	tb.Helper()
	c.Stop(tb)
	c.Start(tb)
}

// Log returns what containerd has logged so far.
func (c *Containerd) Log() string { return c.log.String() }

// importImage builds an OCI image archive of busybox with cmd as its
// entrypoint and imports it into the k8s.io namespace, unpacked.
func (c *Containerd) importImage(tb testing.TB, name string, cmd []string) {
	tb.Helper()
	archive, err := busyboxArchive(name, cmd)
	if err != nil {
		tb.Fatalf("building image %s: %v", name, err)
	}
	ctr := exec.Command("ctr", "--address", strings.TrimPrefix(c.Endpoint, "unix://"),
		"-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs", "-")
	ctr.Stdin = bytes.NewReader(archive)
	if out, err := ctr.CombinedOutput(); err != nil {
		tb.Fatalf("importing %s: %v: %s", name, err, out)
	}
}

// PodSpec describes a pod sandbox to run.
type PodSpec struct {
	Namespace, Name string
	// UID is the pod's UID; "" makes a random one.
	UID string
}

// Pod is a running pod sandbox.
type Pod struct {
	ID     string // sandbox id
	UID    string
	Config *runtimeapi.PodSandboxConfig
	Netns  string // path of its network namespace; empty if the runtime did not say
}

// RunPod runs a pod sandbox, as the kubelet would, in the pod cgroup
// <CgroupParent>/kubepods/besteffort/pod<uid> (the cgroupfs driver's
// shape, which workload.ParsePath recognizes), attached to the CNI network.
func (c *Containerd) RunPod(tb testing.TB, spec PodSpec) *Pod {
	tb.Helper()
	uid := spec.UID
	if uid == "" {
		uid = randomUID()
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: spec.Name, Namespace: spec.Namespace, Uid: uid},
		Hostname: spec.Name,
		Labels: map[string]string{
			"io.kubernetes.pod.namespace": spec.Namespace,
			"io.kubernetes.pod.name":      spec.Name,
			"io.kubernetes.pod.uid":       uid,
		},
		LogDirectory: filepath.Join(c.Dir, "pods", uid),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: c.CgroupParent + "/kubepods/besteffort/pod" + uid,
		},
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	resp, err := c.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		tb.Fatalf("RunPodSandbox %s/%s: %v; containerd log:\n%s", spec.Namespace, spec.Name, err, c.log)
	}
	pod := &Pod{ID: resp.GetPodSandboxId(), UID: uid, Config: cfg}
	if paths := c.podNetns(ctx, pod.ID); len(paths) > 0 {
		pod.Netns = paths[0]
		c.netns = append(c.netns, paths...)
	}
	return pod
}

// podNetns returns the network namespace path of a sandbox, from its
// verbose status, for the final sweep.
func (c *Containerd) podNetns(ctx context.Context, id string) []string {
	st, err := c.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return nil
	}
	var info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string }
			}
		}
	}
	if json.Unmarshal([]byte(st.GetInfo()["info"]), &info) != nil {
		return nil
	}
	var paths []string
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			paths = append(paths, ns.Path)
		}
	}
	return paths
}

// ContainerSpec describes a container to run in a pod.
type ContainerSpec struct {
	Name string
	// Command runs in BusyboxImage, e.g. {"sh", "-c", "exit 3"}.
	Command []string
	// MemoryLimit in bytes; 0 for none.
	MemoryLimit int64
	// Attempt is the CRI attempt number: the kubelet's restart count.
	Attempt uint32
}

// RunContainer creates and starts a container in pod and returns its id.
func (c *Containerd) RunContainer(tb testing.TB, pod *Pod, spec ContainerSpec) string {
	tb.Helper()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: spec.Name, Attempt: spec.Attempt},
		Image:    &runtimeapi.ImageSpec{Image: BusyboxImage},
		Command:  spec.Command,
		Labels: map[string]string{
			"io.kubernetes.pod.namespace":  pod.Config.GetMetadata().GetNamespace(),
			"io.kubernetes.pod.name":       pod.Config.GetMetadata().GetName(),
			"io.kubernetes.pod.uid":        pod.UID,
			"io.kubernetes.container.name": spec.Name,
		},
		LogPath: fmt.Sprintf("%s_%d.log", spec.Name, spec.Attempt),
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: spec.MemoryLimit},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	created, err := c.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.ID, Config: cfg, SandboxConfig: pod.Config,
	})
	if err != nil {
		tb.Fatalf("CreateContainer %s: %v; containerd log:\n%s", spec.Name, err, c.log)
	}
	id := created.GetContainerId()
	if _, err := c.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		tb.Fatalf("StartContainer %s: %v; containerd log:\n%s", spec.Name, err, c.log)
	}
	return id
}

// WaitExited waits until container id has exited and returns its status.
func (c *Containerd) WaitExited(tb testing.TB, id string) *runtimeapi.ContainerStatus {
	tb.Helper()
	deadline := time.Now().Add(containerdWait)
	for {
		st := c.ContainerStatus(tb, id)
		if st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("container %s still %s after %v", id, st.GetState(), containerdWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ContainerStatus returns the runtime's status of container id.
func (c *Containerd) ContainerStatus(tb testing.TB, id string) *runtimeapi.ContainerStatus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	resp, err := c.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		tb.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return resp.GetStatus()
}

// StopContainer stops container id: SIGTERM, then SIGKILL after timeout
// seconds (0: SIGKILL at once).
func (c *Containerd) StopContainer(tb testing.TB, id string, timeout int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait+time.Duration(timeout)*time.Second)
	defer cancel()
	if _, err := c.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: timeout}); err != nil {
		tb.Fatalf("StopContainer %s: %v", id, err)
	}
}

// RemoveContainer removes container id, stopping it first if it runs.
func (c *Containerd) RemoveContainer(tb testing.TB, id string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	if _, err := c.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		tb.Fatalf("RemoveContainer %s: %v", id, err)
	}
}

// RemovePod stops and removes a pod sandbox and its containers.
func (c *Containerd) RemovePod(tb testing.TB, pod *Pod) {
	tb.Helper()
	if err := c.removePod(pod.ID); err != nil {
		tb.Fatal(err)
	}
}

func (c *Containerd) removePod(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	if _, err := c.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	if _, err := c.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", id, err)
	}
	return nil
}

// teardown removes every pod through CRI (starting containerd again if the
// test left it stopped), stops containerd, then sweeps what could be left.
func (c *Containerd) teardown() {
	tb := c.tb
	if c.conn != nil {
		if c.cmd == nil && !tb.Failed() {
			c.Start(tb)
		}
		if c.cmd != nil {
			if err := c.removePods(); err != nil {
				tb.Errorf("removing pods: %v; containerd log:\n%s", err, c.log)
			}
		}
		c.Stop(tb)
		c.conn.Close()
	}
	c.killShims()
	errs := []error{c.unmountAll(), c.removeNetns(), c.removeCgroups(), c.removeBridge(), os.RemoveAll(c.Dir)}
	// containerd 1.6 puts shim sockets in /run/containerd/s whatever its
	// configuration; remove the directories if nothing else uses them.
	_ = os.Remove("/run/containerd/s")
	_ = os.Remove("/run/containerd")
	if err := errors.Join(errs...); err != nil {
		tb.Errorf("cleaning up containerd: %v", err)
	}
}

func (c *Containerd) removePods() error {
	ctx, cancel := context.WithTimeout(context.Background(), containerdWait)
	defer cancel()
	resp, err := c.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	var errs []error
	for _, s := range resp.GetItems() {
		errs = append(errs, c.removePod(s.GetId()))
	}
	return errors.Join(errs...)
}

// killShims kills the runc shims of this containerd that are left (after a
// failed test), found by the address in their command line.
func (c *Containerd) killShims() {
	address := []byte(strings.TrimPrefix(c.Endpoint, "unix://"))
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, []byte("containerd-shim")) || !bytes.Contains(cmdline, address) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// unmountAll detaches every mount under Dir, deepest first.
func (c *Containerd) unmountAll() error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], c.Dir+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// removeNetns removes the pods' network namespaces that are left.
func (c *Containerd) removeNetns() error {
	var errs []error
	for _, p := range c.netns {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			continue
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes CgroupParent, deepest first, in every hierarchy:
// each v1 controller and the v2 one (runc makes the pod's cgroups in all).
func (c *Containerd) removeCgroups() error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var errs []error
	for _, root := range roots {
		errs = append(errs, removeCgroupTree(filepath.Join(root, c.CgroupParent)))
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes dir and the cgroups under it, killing what runs
// there, retrying for up to 5s while they still have tasks.
func removeCgroupTree(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs) // children after their parents in a walk
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range dirs {
		for {
			err := os.Remove(d)
			if err == nil || os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("removing cgroup %s: %w", d, err)
			}
			killAll(d)
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// removeBridge deletes the CNI bridge, which outlives the pods.
func (c *Containerd) removeBridge() error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", c.bridge)); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "del", c.bridge).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting bridge %s: %w: %s", c.bridge, err, out)
	}
	return nil
}

func randomUID() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// busyboxApplets are the commands the busybox image has in /bin.
var busyboxApplets = []string{"sh", "sleep", "tail", "head", "cat", "echo", "true", "false", "kill"}

// busyboxArchive returns an OCI image layout archive (what `ctr images
// import` reads) named name: one uncompressed layer with /bin/busybox and
// its applets, and an image config with entrypoint cmd.
func busyboxArchive(name string, cmd []string) ([]byte, error) {
	layer, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	layerDigest := digest(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": cmd, "Env": []string{"PATH=/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	if err != nil {
		return nil, err
	}
	md := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	md["annotations"] = map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name[strings.LastIndex(name, ":")+1:],
	}
	md["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{md}})
	if err != nil {
		return nil, err
	}
	return tarFiles([]tarFile{
		{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", data: index},
		{name: blobPath(config), data: config},
		{name: blobPath(manifest), data: manifest},
		{name: blobPath(layer), data: layer},
	})
}

// busyboxLayer is a tar of /bin/busybox and its applets as symlinks.
func busyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	files := []tarFile{{name: "bin/", dir: true}, {name: "bin/busybox", data: bin, mode: 0o755},
		{name: "tmp/", dir: true}, {name: "proc/", dir: true}, {name: "sys/", dir: true}, {name: "dev/", dir: true}}
	for _, a := range busyboxApplets {
		files = append(files, tarFile{name: "bin/" + a, link: "busybox"})
	}
	return tarFiles(files)
}

type tarFile struct {
	name string
	data []byte
	mode int64
	dir  bool
	link string // symlink target
}

func tarFiles(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		switch {
		case f.dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		case f.mode != 0:
			h.Mode = f.mode
		}
		if err := w.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}
