package deploy

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitDocuments(t *testing.T) {
	in := "# header\n---\na: 1\n---  \n# only a comment\n\n---\nb: 2\n# trailing\n---\n"
	want := []string{"a: 1\n", "b: 2\n# trailing\n"}
	if got := SplitDocuments(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := SplitDocuments(""); len(got) != 0 {
		t.Errorf("empty input: %q", got)
	}
}

// FuzzSplitDocuments: no document holds a separator line or nothing but
// comments, and every content line of the input is in exactly one
// document, in order.
func FuzzSplitDocuments(f *testing.F) {
	f.Add("a: 1\n---\nb: 2\n")
	f.Add("---\n# c\n---\n\n")
	f.Add("x\n--- \ny\n----\nz")
	f.Fuzz(func(t *testing.T, s string) {
		docs := SplitDocuments(s)
		var content []string
		for _, d := range docs {
			has := false
			for _, l := range strings.Split(d, "\n") {
				if strings.TrimRight(l, " \t") == "---" {
					t.Fatalf("separator inside document %q", d)
				}
				if tl := strings.TrimSpace(l); tl != "" && !strings.HasPrefix(tl, "#") {
					has = true
					content = append(content, tl)
				}
			}
			if !has {
				t.Fatalf("document without content %q", d)
			}
		}
		var want []string
		for _, l := range strings.Split(s, "\n") {
			if strings.TrimRight(l, " \t") == "---" {
				continue
			}
			if tl := strings.TrimSpace(l); tl != "" && !strings.HasPrefix(tl, "#") {
				want = append(want, tl)
			}
		}
		if !reflect.DeepEqual(content, want) {
			t.Fatalf("content lines %q, want %q", content, want)
		}
	})
}
