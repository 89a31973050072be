package collector

import (
	"strings"
	"testing"
)

func wire(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func TestParseName(t *testing.T) {
	long := wire(strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 61))
	tooLong := wire(strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 62))
	for _, tc := range []struct {
		name string
		wire []byte
		want string
		ok   bool
	}{
		{"plain", wire("www", "Example", "COM"), "www.example.com.", true},
		{"root", []byte{0}, ".", true},
		{"qtype and class after the name are ignored", append(wire("a", "b"), 0, 1, 0, 1), "a.b.", true},
		{"escapes", wire("a.b", "c\\d", "e f", "\x01"), `a\046b.c\092d.e\032f.\001.`, true},
		{"255 bytes", long, strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + ".", true},
		{"256 bytes", tooLong, "", false},
		{"empty", nil, "", false},
		{"no end", wire("a", "b")[:4], "", false},
		{"label past the end", []byte{5, 'a', 'b'}, "", false},
		{"compression pointer", []byte{1, 'a', 0xc0, 12}, "", false},
		{"reserved label type", []byte{0x41, 'a'}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseName(tc.wire)
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("ParseName = %q, %v; want %q, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	f.Add(wire("www", "example", "com"))
	f.Add([]byte{0xc0, 0})
	f.Add([]byte{63})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseName(b)
		if err != nil {
			return
		}
		if !strings.HasSuffix(name, ".") {
			t.Errorf("name %q does not end with a dot", name)
		}
		if name != strings.ToLower(name) {
			t.Errorf("name %q is not lower case", name)
		}
		for _, c := range name {
			if c < '!' || c > '~' {
				t.Errorf("name %q has unescaped %q", name, c)
			}
		}
	})
}
