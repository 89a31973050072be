package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testRoot is the parent, relative to each hierarchy's root, of the cgroups
// tests make.
const testRoot = "bpfleet-test"

// Cgroup is a test cgroup made the way runc makes a container's: the same
// relative path in the cgroup v2 hierarchy and, on hybrid hosts, under the
// v1 memory controller.
type Cgroup struct {
	Path     string // relative to the hierarchies' roots, e.g. /bpfleet-test/TestX-1
	V2Dir    string
	MemoryV1 string // "" on pure cgroup v2 hosts
	ID       uint64 // cgroup v2 id, as bpf_get_current_cgroup_id returns
}

// V2Root returns the cgroup v2 mount: /sys/fs/cgroup/unified on hybrid
// hosts, /sys/fs/cgroup on pure v2 ones.
func V2Root() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted")
}

// NewCgroup makes a cgroup for the test and removes it (killing what is
// left in it) when the test ends.
func NewCgroup(tb testing.TB) *Cgroup {
	tb.Helper()
	root, err := V2Root()
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(tb.Name())
	rel := fmt.Sprintf("/%s/%s-%d", testRoot, name, time.Now().UnixNano()%1e9)
	c := &Cgroup{Path: rel, V2Dir: filepath.Join(root, rel)}
	if root == "/sys/fs/cgroup" {
		// Pure v2: let the test cgroups have a memory controller.
		enableControllers(filepath.Join(root, testRoot), "+memory")
	} else if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		c.MemoryV1 = filepath.Join("/sys/fs/cgroup/memory", rel)
	}
	for _, dir := range c.dirs() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatalf("making cgroup: %v", err)
		}
	}
	tb.Cleanup(func() { c.remove(tb) })
	var st unix.Stat_t
	if err := unix.Stat(c.V2Dir, &st); err != nil {
		tb.Fatal(err)
	}
	c.ID = st.Ino
	return c
}

// Child makes the cgroup sub (a relative path, several levels deep if
// need be) under c, the same way, and removes it and the levels it made
// when the test ends, before c.
func (c *Cgroup) Child(tb testing.TB, sub string) *Cgroup {
	tb.Helper()
	child := &Cgroup{Path: c.Path + "/" + sub, V2Dir: filepath.Join(c.V2Dir, sub)}
	if c.MemoryV1 != "" {
		child.MemoryV1 = filepath.Join(c.MemoryV1, sub)
	}
	for _, dir := range child.dirs() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatalf("making cgroup: %v", err)
		}
	}
	tb.Cleanup(func() {
		// The leaf first, then each level up to c.
		for rel := sub; rel != "." && rel != "/"; rel = filepath.Dir(rel) {
			level := &Cgroup{V2Dir: filepath.Join(c.V2Dir, rel)}
			if c.MemoryV1 != "" {
				level.MemoryV1 = filepath.Join(c.MemoryV1, rel)
			}
			level.remove(tb)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(child.V2Dir, &st); err != nil {
		tb.Fatal(err)
	}
	child.ID = st.Ino
	return child
}

// enableControllers turns controllers on for the children of dir and of
// every ancestor up to the v2 root; errors are ignored (a controller may be
// in use by processes elsewhere).
func enableControllers(dir, controllers string) {
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(controllers), 0)
	_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(controllers), 0)
}

func (c *Cgroup) dirs() []string {
	if c.MemoryV1 == "" {
		return []string{c.V2Dir}
	}
	return []string{c.V2Dir, c.MemoryV1}
}

// SetMemoryLimit limits the cgroup's memory (v1 memory.limit_in_bytes on
// hybrid hosts, memory.max on pure v2 ones) and disables swap for it.
func (c *Cgroup) SetMemoryLimit(tb testing.TB, bytes int64) {
	tb.Helper()
	v := []byte(strconv.FormatInt(bytes, 10))
	var err error
	if c.MemoryV1 != "" {
		err = os.WriteFile(filepath.Join(c.MemoryV1, "memory.limit_in_bytes"), v, 0)
	} else {
		err = os.WriteFile(filepath.Join(c.V2Dir, "memory.max"), v, 0)
		_ = os.WriteFile(filepath.Join(c.V2Dir, "memory.swap.max"), []byte("0"), 0)
	}
	if err != nil {
		tb.Fatalf("setting memory limit: %v", err)
	}
}

// Start starts workload name (registered with Main) inside the cgroup,
// waiting for Go. The child is created in the v2 cgroup (CLONE_INTO_CGROUP)
// and moved into the v1 memory cgroup before it can run its workload.
func (c *Cgroup) Start(tb testing.TB, name string, args ...string) *Process {
	tb.Helper()
	cmd, ready := command(tb, name, args...)
	p := c.StartCmd(tb, cmd)
	cmd.ExtraFiles[0].Close()
	p.ready = ready
	p.waitReady(tb)
	return p
}

// StartCmd starts cmd inside the cgroup. For a workload made by Start, the
// cmd waits for Go; for any other cmd, Go only closes its stdin.
func (c *Cgroup) StartCmd(tb testing.TB, cmd *exec.Cmd) *Process {
	tb.Helper()
	fd, err := unix.Open(c.V2Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", cmd.Path, err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill() })
	if c.MemoryV1 != "" {
		pid := []byte(strconv.Itoa(cmd.Process.Pid))
		if err := os.WriteFile(filepath.Join(c.MemoryV1, "cgroup.procs"), pid, 0); err != nil {
			tb.Fatalf("moving workload into %s: %v", c.MemoryV1, err)
		}
	}
	return &Process{Cmd: cmd, go_: in}
}

// Run starts workload name in the cgroup, lets it go and waits for it,
// returning its exit code.
func (c *Cgroup) Run(tb testing.TB, name string, args ...string) int {
	tb.Helper()
	p := c.Start(tb, name, args...)
	p.Go(tb)
	return p.Wait(tb)
}

// Remove removes the cgroup now (killing what is left in it), before the
// test ends.
func (c *Cgroup) Remove(tb testing.TB) {
	tb.Helper()
	c.remove(tb)
}

// remove kills what is left in the cgroup and removes its directories.
func (c *Cgroup) remove(tb testing.TB) {
	for _, dir := range c.dirs() {
		killAll(dir)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, dir := range c.dirs() {
		for {
			err := os.Remove(dir)
			if err == nil || os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				tb.Errorf("removing cgroup %s: %v", dir, err)
				break
			}
			killAll(dir)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func killAll(dir string) {
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(procs)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// SelfCgroupPath returns the calling process's cgroup v2 path ("0::" line
// of /proc/self/cgroup).
func SelfCgroupPath(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	tb.Fatal("no cgroup v2 line in /proc/self/cgroup")
	return ""
}
