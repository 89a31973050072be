package collector

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCanonicalizeRange(t *testing.T) {
	tests := []struct {
		name     string
		rc       rangeConf
		label    string
		capacity float64
	}{
		// .1 is the gateway: .2 to .254.
		{"IPv4 /24", rangeConf{Subnet: "10.1.2.0/24"}, "10.1.2.0/24", 253},
		{"gateway outside the range", rangeConf{Subnet: "10.1.2.0/24", RangeStart: "10.1.2.10", RangeEnd: "10.1.2.11"}, "10.1.2.10-10.1.2.11", 2},
		{"gateway inside the range", rangeConf{Subnet: "10.1.2.0/24", RangeStart: "10.1.2.10", RangeEnd: "10.1.2.20", Gateway: "10.1.2.15"}, "10.1.2.10-10.1.2.20", 10},
		{"start only", rangeConf{Subnet: "10.1.2.0/24", RangeStart: "10.1.2.100"}, "10.1.2.100-10.1.2.254", 155},
		{"end may be the broadcast", rangeConf{Subnet: "10.1.2.0/24", RangeStart: "10.1.2.200", RangeEnd: "10.1.2.255"}, "10.1.2.200-10.1.2.255", 56},
		{"IPv4 /30", rangeConf{Subnet: "10.1.2.4/30"}, "10.1.2.4/30", 1},
		{"IPv4 /16", rangeConf{Subnet: "10.1.0.0/16"}, "10.1.0.0/16", 65533},
		// IPv6 has no broadcast: ::1 to ::ffff, less the gateway ::1.
		{"IPv6 /112", rangeConf{Subnet: "fd00::/112"}, "fd00::/112", 65534},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.rc.canonicalize()
			if err != nil {
				t.Fatal(err)
			}
			if r.label != tt.label || r.capacity() != tt.capacity {
				t.Errorf("label %q capacity %v, want %q %v", r.label, r.capacity(), tt.label, tt.capacity)
			}
		})
	}
}

func TestCanonicalizeRangeRejects(t *testing.T) {
	for name, rc := range map[string]rangeConf{
		"no subnet":          {},
		"host bits":          {Subnet: "10.1.2.3/24"},
		"too small":          {Subnet: "10.1.2.4/31"},
		"start outside":      {Subnet: "10.1.2.0/24", RangeStart: "10.1.3.1"},
		"start after end":    {Subnet: "10.1.2.0/24", RangeStart: "10.1.2.20", RangeEnd: "10.1.2.10"},
		"address not an IP":  {Subnet: "10.1.2.0/24", Gateway: "gw"},
		"subnet not a CIDR":  {Subnet: "10.1.2.0"},
		"end outside subnet": {Subnet: "10.1.2.0/24", RangeEnd: "10.1.4.1"},
	} {
		if r, err := rc.canonicalize(); err == nil {
			t.Errorf("%s: canonicalized to %+v", name, r)
		}
	}
}

// TestIPAMFromFiles reads a configuration directory and a data directory
// laid out as host-local leaves them.
func TestIPAMFromFiles(t *testing.T) {
	conf, data := t.TempDir(), t.TempDir()
	write(t, filepath.Join(conf, "10-pods.conflist"), `{"cniVersion": "1.0.0", "name": "pods", "plugins": [
		{"type": "bridge", "ipam": {"type": "host-local", "ranges": [
			[{"subnet": "10.1.2.0/24"}],
			[{"subnet": "fd00::/120", "rangeStart": "fd00::10", "rangeEnd": "fd00::1f"}]]}},
		{"type": "portmap"}]}`)
	write(t, filepath.Join(conf, "20-legacy.conf"), `{"name": "legacy", "type": "ptp", "ipam": {"type": "host-local",
		"subnet": "10.9.0.0/30", "dataDir": "`+filepath.Join(data, "own")+`"}}`)
	write(t, filepath.Join(conf, "30-dhcp.conflist"), `{"name": "dhcp", "plugins": [{"type": "macvlan", "ipam": {"type": "dhcp"}}]}`)
	write(t, filepath.Join(conf, "40-pods-again.conflist"), `{"name": "pods", "plugins": [{"type": "bridge", "ipam": {"type": "host-local", "subnet": "10.7.0.0/24"}}]}`)
	for _, f := range []string{"10.1.2.2", "10.1.2.3", "fd00::10", "fd00::2", "last_reserved_ip.0", "lock", "10.250.0.1"} {
		write(t, filepath.Join(data, "pods", f), "container-id\neth0")
	}
	write(t, filepath.Join(data, "own", "legacy", "10.9.0.2"), "x")

	got := map[string][2]float64{}
	ranges, err := loadRanges(conf, dataDirs{data, "/"})
	if err != nil {
		t.Fatal(err)
	}
	allocated, err := countAllocations(ranges)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range ranges {
		got[r.network+" "+r.label] = [2]float64{float64(allocated[i]), r.capacity()}
	}
	want := map[string][2]float64{
		"pods 10.1.2.0/24":       {2, 253},
		"pods fd00::10-fd00::1f": {1, 16},
		"legacy 10.9.0.0/30":     {1, 1},
	}
	if len(got) != len(want) {
		t.Errorf("ranges %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: allocated, capacity = %v, want %v", k, got[k], w)
		}
	}
}

func TestIPAMBadFileReportedOthersServed(t *testing.T) {
	conf := t.TempDir()
	write(t, filepath.Join(conf, "10-bad.conflist"), `{"name": `)
	write(t, filepath.Join(conf, "20-good.conflist"), `{"name": "good", "plugins": [{"ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}]}`)
	ranges, err := loadRanges(conf, dataDirs{t.TempDir(), "/"})
	if err == nil || len(ranges) != 1 || ranges[0].network != "good" {
		t.Errorf("loadRanges = %+v, %v; want the good network and an error", ranges, err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// In a container, the host's / is mounted elsewhere (--collector.ipam.rootfs):
// a configuration's ipam.dataDir, a host path, is read under it, while
// the default data directory is the flag's path as the exporter sees it.
func TestIPAMDataDirUnderRootFS(t *testing.T) {
	conf, host, def := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, filepath.Join(conf, "10-own.conf"), `{"name": "own", "type": "ptp", "ipam": {"type": "host-local",
		"subnet": "10.9.0.0/29", "dataDir": "/var/lib/own-ipam"}}`)
	write(t, filepath.Join(conf, "20-default.conf"), `{"name": "plain", "type": "ptp", "ipam": {"type": "host-local", "subnet": "10.8.0.0/29"}}`)
	for _, f := range []string{"10.9.0.2", "10.9.0.3", "10.9.0.4"} {
		write(t, filepath.Join(host, "var/lib/own-ipam/own", f), "x")
	}
	write(t, filepath.Join(def, "plain", "10.8.0.2"), "x")
	ranges, err := loadRanges(conf, dataDirs{def, host})
	if err != nil {
		t.Fatal(err)
	}
	allocated, err := countAllocations(ranges)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i, r := range ranges {
		got[r.network] = allocated[i]
	}
	if got["own"] != 3 || got["plain"] != 1 || len(got) != 2 {
		t.Errorf("allocated by network = %v, want own 3 (under the rootfs), plain 1 (the default directory)", got)
	}
}
