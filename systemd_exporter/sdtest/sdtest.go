// Package sdtest boots a real systemd for tests: Debian 12's, in a
// systemd-nspawn container over an overlay of the cached minbase root file
// system that scripts/test-deps.d/systemd.sh builds (never on the host's
// own root), with its system bus bound to a directory of the test.
package sdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RootfsName is the cached root file system's directory under
// $BPFLEET_CACHE, as scripts/test-deps.d/systemd.sh names it.
const RootfsName = "systemd-rootfs-bookworm-1"

// WaitFor bounds every wait of the package.
const WaitFor = 60 * time.Second

// System is one booted systemd.
type System struct {
	// Address is the D-Bus address of its system bus.
	Address string
	// Root is the container's root file system (an overlay; writes stay
	// in the test's directory).
	Root string

	busDir  string
	cgroups []string
	unshare bool
	cmd     *exec.Cmd
	done    chan struct{}
	log     *bytes.Buffer
	mu      sync.Mutex
}

// RequireRoot skips tb unless it runs as root: booting a container needs it.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to boot systemd in systemd-nspawn")
	}
}

// rootfs returns the cached root file system, running the test-deps
// script (idempotent) when it is missing.
func rootfs(tb testing.TB) string {
	tb.Helper()
	cache := os.Getenv("BPFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/bpfleet"
	}
	root := filepath.Join(cache, RootfsName)
	if _, err := os.Stat(filepath.Join(root, ".bpfleet-complete")); err == nil {
		if _, err := exec.LookPath("systemd-nspawn"); err == nil {
			return root
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "test-deps.d", "systemd.sh")
	tb.Logf("%s missing: running %s", root, script)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "BPFLEET_CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", script, err, out)
	}
	return root
}

// Option changes how Boot boots systemd.
type Option func(*System)

// Unshare boots systemd as PID 1 of new PID, mount, cgroup, UTS and IPC
// namespaces, chrooted into the overlay, instead of in systemd-nspawn: its
// units then have memory and task accounting on this host (v1 memory and
// pids controllers), which nspawn does not give. Its system bus is reached
// through /proc/<pid>/root.
func Unshare() Option { return func(s *System) { s.unshare = true } }

// Boot boots systemd in a container; the test's cleanup powers it off and
// removes everything it made.
func Boot(tb testing.TB, opts ...Option) *System {
	tb.Helper()
	RequireRoot(tb)
	lower := rootfs(tb)
	dir, err := os.MkdirTemp("", "sdtest-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &System{Root: filepath.Join(dir, "root"), busDir: filepath.Join(dir, "bus"), done: make(chan struct{}), log: &bytes.Buffer{}}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{"up", "work", "root", "bus"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	overlay := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(dir, "up"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", s.Root, "overlay", 0, overlay); err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("mounting the overlay of %s: %v", lower, err)
	}
	tb.Cleanup(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			s.shutdown(tb)
		}
		for _, cg := range s.cgroups {
			if err := removeCgroup(cg); err != nil {
				tb.Errorf("removing the container's cgroup: %v", err)
			}
		}
		if err := syscall.Unmount(s.Root, 0); err != nil {
			tb.Errorf("unmounting %s: %v", s.Root, err)
		}
		os.RemoveAll(dir)
	})
	s.Address = "unix:path=" + filepath.Join(s.busDir, "system_bus_socket")
	// systemd-nspawn --keep-unit makes its payload and supervisor
	// cgroups under its own: give it cgroups of its own (v2 and the
	// named systemd v1 hierarchy of a hybrid host), removed afterwards.
	name := filepath.Base(dir)
	if s.unshare {
		s.bootUnshare(tb, name)
		return s
	}
	var cgroups []string
	for _, h := range cgroupHierarchies {
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil {
			continue
		}
		cg := filepath.Join(h, name)
		if err := os.Mkdir(cg, 0o755); err != nil {
			tb.Fatalf("making the container's cgroup: %v", err)
		}
		cgroups = append(cgroups, cg)
	}
	s.cgroups = cgroups
	script := `for cg in "$@"; do echo $$ > "$cg/cgroup.procs" || exit 1; done; exec systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit --private-network --console=pipe --bind="$BUS:/run/dbus" --machine="$NAME"`
	s.cmd = exec.Command("sh", append([]string{"-c", script, "sh"}, cgroups...)...)
	s.cmd.Env = append(os.Environ(), "ROOT="+s.Root, "BUS="+s.busDir, "NAME="+name)
	s.cmd.Stdout = &lockedWriter{s: s}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("systemd-nspawn: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	s.waitRunning(tb)
	return s
}

// waitRunning waits until systemd reports the system running (or
// degraded).
func (s *System) waitRunning(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		out, err := s.run("systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		if err == nil || state == "degraded" {
			break
		}
		select {
		case <-s.done:
			tb.Fatalf("systemd-nspawn exited while booting:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("systemd not running after %v (state %q, %v):\n%s", WaitFor, state, err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bootUnshare starts systemd in new namespaces (Unshare), in cgroups of
// its own below the test's in every hierarchy, so that all it makes is
// removed with them.
func (s *System) bootUnshare(tb testing.TB, name string) {
	tb.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mount string
		switch {
		case parts[1] == "":
			for _, h := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if _, err := os.Stat(filepath.Join(h, "cgroup.controllers")); err == nil {
					mount = h
					break
				}
			}
		default:
			mount = filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(parts[1], "name="))
		}
		if mount == "" || parts[1] == "cpuset" { // a new cpuset cgroup takes no task before its cpus and mems are set
			continue
		}
		cg := filepath.Join(mount, parts[2], name)
		if _, err := os.Stat(filepath.Join(mount, parts[2], "cgroup.procs")); err != nil {
			continue
		}
		if err := os.Mkdir(cg, 0o755); err != nil {
			tb.Fatalf("making the container's cgroup: %v", err)
		}
		s.cgroups = append(s.cgroups, cg)
	}
	script := `for cg in "$@"; do echo $$ > "$cg/cgroup.procs" || exit 1; done; exec unshare --pid --fork --mount --cgroup --uts --ipc --mount-proc="$ROOT/proc" chroot "$ROOT" /lib/systemd/systemd`
	s.cmd = exec.Command("sh", append([]string{"-c", script, "sh"}, s.cgroups...)...)
	s.cmd.Env = append(os.Environ(), "ROOT="+s.Root)
	s.cmd.Stdout = &lockedWriter{s: s}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("unshare: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	var pid int
	eventually(tb, func() error {
		select {
		case <-s.done:
			tb.Fatalf("systemd exited while booting:\n%s", s.Log())
		default:
		}
		pid, err = s.leader()
		return err
	})
	s.Address = fmt.Sprintf("unix:path=/proc/%d/root/run/dbus/system_bus_socket", pid)
	s.waitRunning(tb)
}

// eventually is exportertest.Eventually bounded by this package's longer
// WaitFor (a boot on a loaded machine takes longer than a scrape).
func eventually(tb testing.TB, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", WaitFor, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedWriter struct{ s *System }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// Log returns what the container wrote to its console.
func (s *System) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// leader returns the PID (on the host) of the container's systemd.
func (s *System) leader() (int, error) {
	pids := []int{s.cmd.Process.Pid}
	for len(pids) > 0 {
		pid := pids[0]
		pids = pids[1:]
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "systemd" {
			return pid, nil
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					pids = append(pids, c)
				}
			}
		}
	}
	return 0, errors.New("the container's systemd is not running")
}

// run runs a command inside the container (all its namespaces).
func (s *System) run(args ...string) (string, error) {
	pid, err := s.leader()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	defer cancel()
	enter := []string{"-t", strconv.Itoa(pid), "-a"}
	if s.unshare {
		enter = append(enter, "-r", "-w") // its root is a chroot
	}
	out, err := exec.CommandContext(ctx, "nsenter", append(enter, args...)...).CombinedOutput()
	return string(out), err
}

// Run runs a command inside the container and returns its output; a
// failure fails the test.
func (s *System) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := s.run(args...)
	if err != nil {
		tb.Fatalf("%s in the container: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Systemctl runs systemctl in the container, failing the test if it fails.
func (s *System) Systemctl(tb testing.TB, args ...string) string {
	tb.Helper()
	return s.Run(tb, append([]string{"systemctl"}, args...)...)
}

// Show returns one property of a unit as systemctl show prints it.
func (s *System) Show(tb testing.TB, unit, property string) string {
	tb.Helper()
	return strings.TrimSpace(s.Systemctl(tb, "show", "--value", "-p", property, unit))
}

// WriteFile writes a file into the container's file system.
func (s *System) WriteFile(tb testing.TB, path, content string, mode os.FileMode) {
	tb.Helper()
	full := filepath.Join(s.Root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
}

// ReadFile reads a file of the container's file system.
func (s *System) ReadFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Root, path))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// AddUnit writes /etc/systemd/system/<name> and reloads systemd.
func (s *System) AddUnit(tb testing.TB, name, content string) {
	tb.Helper()
	s.WriteFile(tb, "/etc/systemd/system/"+name, content, 0o644)
	s.Systemctl(tb, "daemon-reload")
}

// WaitUnit polls until the unit's property has the value want.
func (s *System) WaitUnit(tb testing.TB, unit, property, want string) {
	tb.Helper()
	deadline := time.Now().Add(WaitFor)
	for {
		got := s.Show(tb, unit, property)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s %s = %q after %v, want %q", unit, property, got, WaitFor, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupHierarchies are where the container's own cgroups are made.
var cgroupHierarchies = []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"}

// removeCgroup removes the cgroup dir and every cgroup below it, deepest
// first, waiting for the processes of the stopped container to be gone.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	deadline := time.Now().Add(WaitFor)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := os.Remove(dirs[i])
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// shutdown powers the container off (SIGTERM to systemd-nspawn), killing it
// if it does not stop in time.
func (s *System) shutdown(tb testing.TB) {
	if s.unshare {
		// Power off: SIGRTMIN+4 to systemd, PID 1 of its namespace.
		if pid, err := s.leader(); err == nil {
			syscall.Kill(pid, syscall.Signal(34+4))
		}
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			tb.Logf("systemd did not power off; killing it")
			if pid, err := s.leader(); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			<-s.done
		}
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		tb.Logf("systemd-nspawn did not stop on SIGTERM; killing it")
		s.cmd.Process.Kill()
		<-s.done
	}
}

// HostHasSystemd reports whether the host itself is booted with systemd.
func HostHasSystemd() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// EnvWithout returns the process environment without the variable key.
func EnvWithout(key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// cgroup2Magic is CGROUP2_SUPER_MAGIC, the f_type of a cgroup v2 file system.
const cgroup2Magic = 0x63677270

// UnitCgroup returns the host directory of the unit's cgroup in the cgroup
// v2 hierarchy (systemd-nspawn puts the container's tree under payload/).
func (s *System) UnitCgroup(tb testing.TB, unit string) string {
	tb.Helper()
	for _, cg := range s.cgroups {
		var sfs syscall.Statfs_t
		if syscall.Statfs(cg, &sfs) != nil || sfs.Type != cgroup2Magic {
			continue
		}
		var found string
		filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == unit {
				found = p
				return filepath.SkipAll
			}
			return nil
		})
		if found != "" {
			return found
		}
	}
	tb.Fatalf("no cgroup v2 directory of %s under %v", unit, s.cgroups)
	return ""
}

// UnitCgroupPath returns the host directory the unit's cgroup v2 has or
// would have (below payload/system.slice), whether or not it exists now.
func (s *System) UnitCgroupPath(unit string) string {
	for _, cg := range s.cgroups {
		var sfs syscall.Statfs_t
		if syscall.Statfs(cg, &sfs) == nil && sfs.Type == cgroup2Magic {
			if s.unshare {
				return filepath.Join(cg, "system.slice", unit)
			}
			return filepath.Join(cg, "payload", "system.slice", unit)
		}
	}
	return ""
}
