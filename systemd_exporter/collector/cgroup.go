package collector

import (
	"strings"
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
