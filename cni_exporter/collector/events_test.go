package collector

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func env(entries ...string) []byte { return []byte(strings.Join(entries, "\x00") + "\x00") }

func TestCNICommand(t *testing.T) {
	tests := []struct {
		name      string
		env       []byte
		truncated bool
		want      string
	}{
		{"add", env("PATH=/bin", "CNI_COMMAND=ADD", "CNI_IFNAME=eth0"), false, "ADD"},
		{"each command", env("CNI_COMMAND=STATUS"), false, "STATUS"},
		{"first wins", env("CNI_COMMAND=DEL", "CNI_COMMAND=ADD"), false, "DEL"},
		{"unknown value", env("CNI_COMMAND=add"), false, "other"},
		{"empty value", env("CNI_COMMAND="), false, "other"},
		{"absent", env("PATH=/bin"), false, "other"},
		{"empty environment", nil, false, "other"},
		{"no final NUL", []byte("CNI_COMMAND=GC"), false, "GC"},
		{"prefix of a longer name", env("XCNI_COMMAND=ADD"), false, "other"},
		{"truncated first entry skipped", []byte("CNI_COMMAND=ADD\x00CNI_COMMAND=CHECK\x00"), true, "CHECK"},
		{"truncated, only entry", []byte("CNI_COMMAND=ADD"), true, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cniCommand(tt.env, tt.truncated); got != tt.want {
				t.Errorf("cniCommand(%q, %v) = %q, want %q", tt.env, tt.truncated, got, tt.want)
			}
		})
	}
}

func FuzzCNICommand(f *testing.F) {
	f.Add(env("CNI_COMMAND=ADD"), false)
	f.Add([]byte("ND=DEL\x00CNI_COMMAND=VERSION"), true)
	f.Fuzz(func(t *testing.T, env []byte, truncated bool) {
		got := cniCommand(env, truncated)
		if got != "other" && !containsString(commands, got) {
			t.Errorf("cniCommand(%q) = %q, outside the closed set", env, got)
		}
	})
}

func containsString(set []string, s string) bool {
	for _, e := range set {
		if e == s {
			return true
		}
	}
	return false
}

// execRecord lays out a struct plugin_exec_event.
func execRecord(tgid uint32, name string, env []byte) []byte {
	raw := make([]byte, execEventSize)
	binary.NativeEndian.PutUint32(raw, kindExec)
	binary.NativeEndian.PutUint32(raw[4:], tgid)
	binary.NativeEndian.PutUint32(raw[8:], uint32(len(env)))
	copy(raw[execNameOffset:], name)
	copy(raw[execEnvOffset:], env)
	return raw
}

func exitRecord(tgid, status uint32, d time.Duration) []byte {
	raw := make([]byte, exitEventSize)
	binary.NativeEndian.PutUint32(raw, kindExit)
	binary.NativeEndian.PutUint32(raw[4:], tgid)
	binary.NativeEndian.PutUint32(raw[8:], status)
	binary.NativeEndian.PutUint64(raw[16:], uint64(d))
	return raw
}

func TestParsePluginEvent(t *testing.T) {
	full := make([]byte, envMax)
	copy(full[envMax-len("\x00CNI_COMMAND=DEL\x00"):], "\x00CNI_COMMAND=DEL\x00")
	tests := []struct {
		name string
		raw  []byte
		want any
	}{
		{"exec", execRecord(42, "bridge", env("CNI_COMMAND=ADD")), execEvent{tgid: 42, plugin: "bridge", command: "ADD"}},
		{"exec, environment's tail", execRecord(7, "host-local", full), execEvent{tgid: 7, plugin: "host-local", command: "DEL"}},
		{"exit 0", exitRecord(42, 0, 3*time.Millisecond), exitEvent{tgid: 42, status: 0, duration: 3 * time.Millisecond}},
		{"exit 1", exitRecord(42, 1<<8, time.Second), exitEvent{tgid: 42, status: 256, duration: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePluginEvent(tt.raw)
			if err != nil || got != tt.want {
				t.Errorf("parsePluginEvent = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParsePluginEventRejects(t *testing.T) {
	overlong := execRecord(1, "bridge", nil)
	binary.NativeEndian.PutUint32(overlong[8:], uint32(envMax+1))
	unknown := exitRecord(1, 0, 0)
	binary.NativeEndian.PutUint32(unknown, 9)
	for name, raw := range map[string][]byte{
		"short":              {1, 0, 0},
		"short exec":         execRecord(1, "bridge", nil)[:execEnvOffset],
		"short exit":         exitRecord(1, 0, 0)[:12],
		"environment length": overlong,
		"no name":            execRecord(1, "", nil),
		"unknown kind":       unknown,
	} {
		if ev, err := parsePluginEvent(raw); err == nil {
			t.Errorf("%s: parsed as %+v", name, ev)
		}
	}
}

func TestExitResult(t *testing.T) {
	for status, want := range map[uint32]string{0: "success", 1 << 8: "failure", 9: "failure", 0x7f00: "failure"} {
		if got := (exitEvent{status: status}).result(); got != want {
			t.Errorf("result of status %#x = %s, want %s", status, got, want)
		}
	}
}
