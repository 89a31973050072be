package collector

import (
	"testing"
)

func TestParseFormatField(t *testing.T) {
	for _, tc := range []struct {
		line      string
		name      string
		off, size int
		ok        bool
	}{
		{"\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;", "dev", 8, 4, true},
		{"\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;", "rwbs", 34, 10, true},
		{"\tfield:__data_loc char[] cmd;\toffset:60;\tsize:4;\tsigned:0;", "cmd", 60, 4, true},
		{"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;", "common_type", 0, 2, true},
		{"name: block_rq_issue", "", 0, 0, false},
		{"format:", "", 0, 0, false},
		{"", "", 0, 0, false},
		{"\tfield:;\toffset:1;\tsize:1;", "", 0, 0, false},
		{"\tfield:int x;\toffset:a;\tsize:4;", "", 0, 0, false},
		{"\tfield:int x;\tsize:4;\toffset:8;", "", 0, 0, false},
	} {
		name, off, size, ok := parseFormatField(tc.line)
		if name != tc.name || off != tc.off || size != tc.size || ok != tc.ok {
			t.Errorf("parseFormatField(%q) = %q, %d, %d, %v; want %q, %d, %d, %v",
				tc.line, name, off, size, ok, tc.name, tc.off, tc.size, tc.ok)
		}
	}
}

func FuzzParseFormatField(f *testing.F) {
	f.Add("\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;")
	f.Add("field:;offset:;size:;")
	f.Fuzz(func(t *testing.T, line string) {
		name, _, _, ok := parseFormatField(line)
		if ok && name == "" {
			t.Errorf("accepted %q with an empty field name", line)
		}
	})
}
