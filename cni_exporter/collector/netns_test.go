package collector

import "testing"

func TestParseNetnsLink(t *testing.T) {
	for link, want := range map[string]uint64{"net:[4026531840]": 4026531840, "net:[1]": 1} {
		if got, ok := parseNetnsLink(link); !ok || got != want {
			t.Errorf("parseNetnsLink(%q) = %d, %v; want %d", link, got, ok, want)
		}
	}
	for _, link := range []string{"mnt:[4026531840]", "net:[]", "net:[12", "net:[-1]", ""} {
		if got, ok := parseNetnsLink(link); ok {
			t.Errorf("parseNetnsLink(%q) = %d, want not ok", link, got)
		}
	}
}

// TestDropReasonsFromKernelBTF: the names come from the running kernel's
// enum skb_drop_reason, without prefixes.
func TestDropReasonsFromKernelBTF(t *testing.T) {
	names, err := dropReasons()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	for v, want := range map[uint32]string{1: "CONSUMED", 2: "NOT_SPECIFIED", 3: "NO_SOCKET"} {
		if names[v] != want {
			t.Errorf("reason %d = %q, want %q", v, names[v], want)
		}
	}
}
