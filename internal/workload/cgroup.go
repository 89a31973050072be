package workload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// ErrNoCgroupV2 means that no cgroup v2 hierarchy is mounted.
var ErrNoCgroupV2 = errors.New("no cgroup v2 mount")

// errGone means that a cgroup no longer exists.
var errGone = errors.New("cgroup gone")

// errNotFound means that a cgroup was not found yet; a later try may find it.
var errNotFound = errors.New("cgroup not found")

// fileIDKernfs is FILEID_KERNFS, the file handle type of kernfs (and so
// cgroupfs) nodes: an 8-byte handle holding the node id.
const fileIDKernfs = 0xfe

// walkInterval is the shortest time between two walks of the cgroup
// hierarchy when file handles are not supported.
const walkInterval = time.Second

// DetectV2Root returns the mount point of the cgroup v2 hierarchy, from
// /proc/self/mountinfo: /sys/fs/cgroup on a pure v2 host,
// /sys/fs/cgroup/unified on a hybrid one. It wraps ErrNoCgroupV2 when there
// is none.
func DetectV2Root() (string, error) {
	mounts, err := procfs.GetMounts()
	if err != nil {
		return "", fmt.Errorf("reading mountinfo: %w", err)
	}
	return v2Root(mounts)
}

// v2Root picks the cgroup v2 mount among mounts, preferring the standard
// places when there are several.
func v2Root(mounts []*procfs.MountInfo) (string, error) {
	var found []string
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			found = append(found, m.MountPoint)
		}
	}
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, p := range found {
			if p == want {
				return p, nil
			}
		}
	}
	if len(found) == 0 {
		return "", ErrNoCgroupV2
	}
	return found[0], nil
}

// CgroupID returns the cgroup v2 id of the cgroup directory dir: its inode
// number, which is what bpf_get_current_cgroup_id() returns for the tasks in
// it (on 64-bit kernels). dir must be on a cgroup2 file system.
func CgroupID(dir string) (uint64, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s: not on cgroup2 (fs type %#x)", dir, sfs.Type)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", dir, err)
	}
	return st.Ino, nil
}

// pathFinder finds the path of a cgroup, relative to the v2 root ("/" for
// the root itself), from its id. find returns errGone for a cgroup that no
// longer exists and errNotFound for one that may be found later.
type pathFinder interface {
	find(id uint64) (string, error)
	close() error
}

// handleFinder finds cgroups with open_by_handle_at(2), which needs
// CAP_DAC_READ_SEARCH. It owns the root directory's descriptor.
type handleFinder struct {
	rootFD   int
	rootPath string // as the kernel spells it, without symlinks
}

// newHandleFinder opens root and checks that the kernel resolves cgroup file
// handles there. Errors that mean "unsupported" wrap errors.ErrUnsupported.
func newHandleFinder(root string) (*handleFinder, error) {
	id, err := CgroupID(root)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", root, err)
	}
	h := &handleFinder{rootFD: fd}
	if h.rootPath, err = fdPath(fd); err != nil {
		h.close()
		return nil, err
	}
	if _, err := h.find(id); err != nil {
		h.close()
		return nil, fmt.Errorf("opening cgroup %d by handle: %w: %w", id, errors.ErrUnsupported, err)
	}
	return h, nil
}

func (h *handleFinder) find(id uint64) (string, error) {
	handle := make([]byte, 8)
	binary.NativeEndian.PutUint64(handle, id)
	fd, err := unix.OpenByHandleAt(h.rootFD, unix.NewFileHandle(fileIDKernfs, handle), unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", errGone
	}
	if err != nil {
		return "", fmt.Errorf("open_by_handle_at cgroup %d: %w", id, err)
	}
	defer unix.Close(fd)
	p, err := fdPath(fd)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(p, " (deleted)") {
		return "", errGone
	}
	return relative(h.rootPath, p)
}

func (h *handleFinder) close() error {
	return unix.Close(h.rootFD)
}

// fdPath returns the path of an open descriptor.
func fdPath(fd int) (string, error) {
	link := "/proc/self/fd/" + strconv.Itoa(fd)
	p, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("reading link %s: %w", link, err)
	}
	return p, nil
}

// relative returns p relative to root, "/" for root itself.
func relative(root, p string) (string, error) {
	switch {
	case p == root:
		return "/", nil
	case root == "/":
		return p, nil
	case strings.HasPrefix(p, root+"/"):
		return p[len(root):], nil
	}
	return "", fmt.Errorf("cgroup %s outside of %s", p, root)
}

// walkFinder finds cgroups by walking the hierarchy and comparing inode
// numbers, at most once per interval. It is the fallback when file handles
// are not supported.
type walkFinder struct {
	root     string
	interval time.Duration

	mu     sync.Mutex
	walked time.Time
	paths  map[uint64]string
}

func newWalkFinder(root string, interval time.Duration) *walkFinder {
	return &walkFinder{root: filepath.Clean(root), interval: interval, paths: map[uint64]string{}}
}

func (w *walkFinder) find(id uint64) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, known := w.paths[id]
	if known && w.at(id, p) {
		return p, nil
	}
	if !w.walked.IsZero() && time.Since(w.walked) < w.interval {
		if known {
			return "", errGone
		}
		return "", errNotFound
	}
	if err := w.walk(); err != nil {
		return "", err
	}
	if p, ok := w.paths[id]; ok {
		return p, nil
	}
	return "", errGone
}

// at reports whether cgroup id is still at path p.
func (w *walkFinder) at(id uint64, p string) bool {
	var st unix.Stat_t
	err := unix.Stat(filepath.Join(w.root, p), &st)
	return err == nil && st.Ino == id
}

// walk indexes every cgroup under root by id. Cgroups removed during the
// walk are skipped.
func (w *walkFinder) walk() error {
	w.walked = time.Now()
	paths := map[uint64]string{}
	err := filepath.WalkDir(w.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != w.root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return fs.SkipDir
		}
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no inode number", p)
		}
		rel, err := relative(w.root, p)
		if err != nil {
			return err
		}
		paths[st.Ino] = rel
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking %s: %w", w.root, err)
	}
	w.paths = paths
	return nil
}

func (w *walkFinder) close() error { return nil }
