package collector

import (
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// unitNameFromPath returns the unit name of systemd's D-Bus object path of
// a unit, /org/freedesktop/systemd1/unit/<escaped name>, where each byte
// other than [A-Za-z0-9] (and a leading digit) is _ and two hex digits.
func unitNameFromPath(p dbus.ObjectPath) (string, error) {
	s, ok := strings.CutPrefix(string(p), unitPathPrefix)
	if !ok || s == "" || strings.Contains(s, "/") {
		return "", fmt.Errorf("%q is not a unit object path", p)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%q: truncated escape", p)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%q: bad escape %q", p, s[i:i+3])
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("%q: byte %q is not allowed in an object path", p, c)
		}
	}
	name := b.String()
	if unitType(name) == "" {
		return "", fmt.Errorf("%q: %q has no unit type suffix", p, name)
	}
	return name, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unitTypes are systemd's unit types, the suffix of a unit name.
var unitTypes = []string{"service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"}

// unitType returns the type of a unit name ("service" of "foo.service"),
// or "" when the name has none of systemd's unit type suffixes.
func unitType(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return ""
	}
	for _, t := range unitTypes {
		if name[i+1:] == t {
			return t
		}
	}
	return ""
}
