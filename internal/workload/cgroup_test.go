package workload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Mount tables as /proc/self/mountinfo shows them.
const (
	pureV2Mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	hybridMountinfo = `26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	extraV2Mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:37 / /run/cgroup2 rw,relatime - cgroup2 cgroup2 rw
41 22 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	otherV2Mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:37 / /run/cgroup2 rw,relatime - cgroup2 cgroup2 rw
`
	v1OnlyMountinfo = `26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 26 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`
)

func TestV2Root(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, want string
		err                   error
	}{
		{"pure v2", pureV2Mountinfo, "/sys/fs/cgroup", nil},
		{"hybrid", hybridMountinfo, "/sys/fs/cgroup/unified", nil},
		{"standard place first", extraV2Mountinfo, "/sys/fs/cgroup/unified", nil},
		{"elsewhere", otherV2Mountinfo, "/run/cgroup2", nil},
		{"v1 only", v1OnlyMountinfo, "", ErrNoCgroupV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "self", "mountinfo"), []byte(tc.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			fs, err := procfs.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			mounts, err := fs.GetMounts()
			if err != nil {
				t.Fatal(err)
			}
			got, err := v2Root(mounts)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("v2Root() = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCgroupIDIsKernelID(t *testing.T) {
	root := v2RootOrSkip(t)
	rel := "/" + testCgroupName(t)
	dir := makeCgroup(t, root, rel)

	id, err := CgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	handle, _, err := unix.NameToHandleAt(unix.AT_FDCWD, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.NativeEndian.Uint64(handle.Bytes()); handle.Type() != fileIDKernfs || got != id {
		t.Errorf("name_to_handle_at(%s) = type %#x id %d, want type %#x id %d", dir, handle.Type(), got, fileIDKernfs, id)
	}
	if got := cgroupOfChild(t, dir); got != rel {
		t.Errorf("a process moved into %s is in cgroup %q, want %q", dir, got, rel)
	}
}

func TestCgroupIDNotCgroup(t *testing.T) {
	dir := t.TempDir()
	if id, err := CgroupID(dir); err == nil {
		t.Errorf("CgroupID(%s) = %d, want an error: not on cgroup2", dir, id)
	}
	if id, err := CgroupID(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CgroupID(missing) = %d, %v; want ErrNotExist", id, err)
	}
}

func TestDetectV2Root(t *testing.T) {
	root, err := DetectV2Root()
	if errors.Is(err, ErrNoCgroupV2) {
		t.Skip("no cgroup v2 mount")
	}
	if err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(root, &sfs); err != nil || sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Errorf("DetectV2Root() = %s: fs type %#x, %v; want cgroup2", root, sfs.Type, err)
	}
}

// TestFinders checks both ways of finding a cgroup by id against the same
// real cgroups.
func TestFinders(t *testing.T) {
	root := v2RootOrSkip(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) pathFinder
	}{
		{"handle", func(t *testing.T) pathFinder {
			h, err := newHandleFinder(root)
			if errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			return h
		}},
		{"walk", func(t *testing.T) pathFinder { return newWalkFinder(root, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.open(t)
			t.Cleanup(func() {
				if err := f.close(); err != nil {
					t.Error(err)
				}
			})
			top := "/" + testCgroupName(t)
			nested := top + "/kubepods/burstable/pod" + testUID + "/" + testID
			ids := map[string]uint64{}
			for _, rel := range []string{"/", top, nested} {
				ids[rel] = cgroupID(t, makeCgroup(t, root, rel))
			}
			for rel, id := range ids {
				if got, err := f.find(id); got != rel || err != nil {
					t.Errorf("find(%d) = %q, %v; want %q", id, got, err, rel)
				}
			}
			removeCgroup(t, root, nested)
			if got, err := f.find(ids[nested]); got != "" || !errors.Is(err, errGone) {
				t.Errorf("find(%d) after rmdir = %q, %v; want errGone", ids[nested], got, err)
			}
		})
	}
}

func TestWalkFinderRateLimit(t *testing.T) {
	root := v2RootOrSkip(t)
	w := newWalkFinder(root, time.Hour)
	top := "/" + testCgroupName(t)
	a := cgroupID(t, makeCgroup(t, root, top+"/a"))
	if got, err := w.find(a); got != top+"/a" || err != nil {
		t.Fatalf("find(%d) = %q, %v; want %q", a, got, err, top+"/a")
	}
	b := cgroupID(t, makeCgroup(t, root, top+"/b"))
	if got, err := w.find(b); got != "" || !errors.Is(err, errNotFound) {
		t.Errorf("find(%d) of a cgroup made after the last walk = %q, %v; want errNotFound until the next walk", b, got, err)
	}
	removeCgroup(t, root, top+"/a")
	if got, err := w.find(a); got != "" || !errors.Is(err, errGone) {
		t.Errorf("find(%d) after rmdir = %q, %v; want errGone", a, got, err)
	}
}

// v2RootOrSkip returns the cgroup v2 mount, skipping tests that cannot make
// cgroups.
func v2RootOrSkip(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making cgroups needs root")
	}
	root, err := DetectV2Root()
	if errors.Is(err, ErrNoCgroupV2) {
		t.Skip("no cgroup v2 mount")
	}
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// testCgroupName returns a cgroup name unique to this test run.
func testCgroupName(t *testing.T) string {
	return fmt.Sprintf("bpfleet-workload-test-%d-%d", os.Getpid(), time.Now().UnixNano())
}

// makeCgroup makes the cgroup rel (and its parents) under root, removing
// what it made when the test ends. It returns its directory.
func makeCgroup(t *testing.T, root, rel string) string {
	t.Helper()
	dir := root
	for s := range strings.SplitSeq(strings.Trim(rel, "/"), "/") {
		if s == "" {
			continue
		}
		dir = filepath.Join(dir, s)
		made := dir
		if err := os.Mkdir(made, 0o755); errors.Is(err, os.ErrExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.Remove(made); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("removing cgroup: %v", err)
			}
		})
	}
	return dir
}

func removeCgroup(t *testing.T, root, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(root, rel)); err != nil {
		t.Fatal(err)
	}
}

func cgroupID(t *testing.T, dir string) uint64 {
	t.Helper()
	id, err := CgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// cgroupOfChild starts a process, moves it into the cgroup dir and returns
// the v2 cgroup that the kernel then reports for it in /proc/PID/cgroup. The
// process is gone, and dir empty, when it returns.
func cgroupOfChild(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := strconv.Itoa(cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	t.Fatalf("no v2 cgroup in /proc/%s/cgroup:\n%s", pid, b)
	return ""
}
