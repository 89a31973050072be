package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// unitFromCgroup returns the systemd unit that owns the cgroup at path
// (relative to the cgroup v2 root): the first path component that names a
// unit other than a slice, below any slices and any directories above
// systemd's own tree (a container's payload): "foo.service" of
// "/system.slice/foo.service", "user@1000.service" of
// "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service",
// "session-2.scope" of "/user.slice/user-1000.slice/session-2.scope", and
// anything below a service (its delegated sub-cgroups) is the service's.
// ok is false when no component names a unit, or a slice is the deepest one
// (a process directly in a slice belongs to no unit).
func unitFromCgroup(path string) (name string, ok bool) {
	for _, c := range strings.Split(path, "/") {
		typ := unitType(c)
		if typ == "" || !validUnitName(c) {
			continue
		}
		if typ != "slice" {
			return c, true
		}
	}
	return "", false
}

// validUnitName reports whether s is made of the characters systemd allows
// in unit names and is not too long.
func validUnitName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@':
		default:
			return false
		}
	}
	return s[0] != '.'
}

// cgroupV2Root returns the mount point of the cgroup v2 hierarchy: the
// unified one of a hybrid host, else /sys/fs/cgroup.
func cgroupV2Root() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var sfs unix.Statfs_t
		if unix.Statfs(dir, &sfs) == nil && sfs.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: %w", errors.ErrUnsupported)
}

// cgroupPaths walks the cgroup v2 tree under root and returns the path
// (relative to root, with a leading /) of each cgroup id in want.
func cgroupPaths(root string, want map[uint64]bool) map[uint64]string {
	found := make(map[uint64]string, len(want))
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if want[st.Ino] {
			rel, _ := filepath.Rel(root, p)
			found[st.Ino] = "/" + strings.TrimPrefix(rel, ".")
			if len(found) == len(want) {
				return filepath.SkipAll
			}
		}
		return nil
	})
	return found
}
