package collector

import (
	"strings"
	"testing"
)

func TestUnitFromCgroup(t *testing.T) {
	for path, want := range map[string]string{
		"/system.slice/foo.service":                                         "foo.service",
		"/system.slice/foo.service/worker":                                  "foo.service",
		"/system.slice/system-getty.slice/getty@tty1.service":               "getty@tty1.service",
		"/user.slice/user-1000.slice/user@1000.service/app.slice/x.service": "user@1000.service",
		"/user.slice/user-1000.slice/session-2.scope":                       "session-2.scope",
		"/init.scope": "init.scope",
		"/sdtest-1/payload/system.slice/hog.service":                                                     "hog.service",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-ab.scope": "cri-containerd-ab.scope",
		"/system.slice/docker-0123.scope":                                                                "docker-0123.scope",
		"/system.slice/run-u1\\x2dx.service":                                                             "run-u1\\x2dx.service",
	} {
		if got, ok := unitFromCgroup(path); !ok || got != want {
			t.Errorf("unitFromCgroup(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"", "/", "/system.slice", "/user.slice/user-1000.slice", "/kubepods/burstable/pod1/abc",
		"/bpfleet-test", "/foo.service.bak", "/a/.service", "/x/foo bar.service", "/-.slice"} {
		if got, ok := unitFromCgroup(path); ok {
			t.Errorf("unitFromCgroup(%q) = %q, want no unit", path, got)
		}
	}
}

// FuzzUnitFromCgroup: any path gives either no unit or one of its own
// components, a valid unit name that is not a slice.
func FuzzUnitFromCgroup(f *testing.F) {
	f.Add("/system.slice/foo.service")
	f.Add("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service")
	f.Add("/a.slice/b.scope/c")
	f.Fuzz(func(t *testing.T, path string) {
		name, ok := unitFromCgroup(path)
		if !ok {
			return
		}
		typ := unitType(name)
		if typ == "" || typ == "slice" || !validUnitName(name) {
			t.Fatalf("unitFromCgroup(%q) = %q: not a non-slice unit name", path, name)
		}
		found := false
		for _, c := range strings.Split(path, "/") {
			found = found || c == name
		}
		if !found {
			t.Fatalf("unitFromCgroup(%q) = %q: not a component", path, name)
		}
	})
}
