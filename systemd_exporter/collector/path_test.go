package collector

import (
	"strings"
	"testing"

	sd "github.com/coreos/go-systemd/v22/dbus"

	"github.com/godbus/dbus/v5"
)

func TestUnitNameFromPath(t *testing.T) {
	for _, name := range []string{"foo.service", "user@1000.service", "sys-devices-a\\x2db.device", "-.mount", "1x.timer", "run-u12.scope", "a_b.slice"} {
		p := dbus.ObjectPath(unitPathPrefix + busEscape(name))
		got, err := unitNameFromPath(p)
		if err != nil || got != name {
			t.Errorf("unitNameFromPath(%s) = %q, %v; want %q", p, got, err, name)
		}
	}
	for _, p := range []dbus.ObjectPath{"/org/freedesktop/systemd1", unitPathPrefix, unitPathPrefix + "foo_2", unitPathPrefix + "foo_zzservice",
		unitPathPrefix + "foo", unitPathPrefix + "a/b_2eservice", unitPathPrefix + "foo_2ebogus"} {
		if got, err := unitNameFromPath(p); err == nil {
			t.Errorf("unitNameFromPath(%s) = %q, want an error", p, got)
		}
	}
}

// busEscape escapes a unit name as systemd's bus_label_escape does: every
// byte other than [A-Za-z0-9], and a leading digit, as _ and two lowercase
// hex digits. (go-systemd's PathBusEscape writes bytes below 0x10 with one
// digit, which systemd never sends.)
func busEscape(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func TestBusEscapeAsGoSystemd(t *testing.T) {
	for _, name := range []string{"foo.service", "user@1000.service", "sys-devices-a\\x2db.device", "-.mount", "1x.timer"} {
		if got, want := busEscape(name), sd.PathBusEscape(name); got != want {
			t.Errorf("busEscape(%q) = %q, go-systemd %q", name, got, want)
		}
	}
}

// FuzzUnitNameFromPath: every unit name escaped as systemd escapes it
// decodes back to itself, and no path makes the parser panic.
func FuzzUnitNameFromPath(f *testing.F) {
	f.Add("foo.service", "foo_2eservice")
	f.Add("user@1000.service", "_31_2e")
	f.Add("-.mount", "_")
	f.Fuzz(func(t *testing.T, name, raw string) {
		unitNameFromPath(dbus.ObjectPath(unitPathPrefix + raw))
		if name == "" || unitType(name) == "" {
			return
		}
		got, err := unitNameFromPath(dbus.ObjectPath(unitPathPrefix + busEscape(name)))
		if err != nil || got != name {
			t.Errorf("round trip of %q = %q, %v", name, got, err)
		}
	})
}
