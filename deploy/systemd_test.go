package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitCaps: the capabilities of each systemd unit: the chart's, except
// etcd_exporter, whose unit runs beside a local etcd with the sync
// collector (the chart's Deployment runs without it).
func unitCaps(e string) []string {
	if e == "etcd" {
		return []string{"CAP_BPF", "CAP_PERFMON"}
	}
	var out []string
	for _, c := range golden[e].Capabilities {
		out = append(out, "CAP_"+c)
	}
	return out
}

// serviceSection returns the [Service] settings of a unit file.
func serviceSection(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q", line)
		}
		if section == "[Service]" {
			if _, dup := out[k]; dup {
				t.Errorf("%s set twice", k)
			}
			out[k] = v
		}
	}
	return out
}

// TestSystemdUnits checks each exporter's unit: its capabilities are the
// chart's (ambient and bounding set alike), it listens on the chart's
// port, cannot gain privileges, and systemd-analyze verify accepts it.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("needs systemd-analyze (apt-get install systemd): %v", err)
		}
		t.Fatalf("systemd-analyze: %v (apt-get install systemd)", err)
	}
	units, err := filepath.Glob(filepath.Join(Root(), "deploy", "systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != len(Exporters) {
		t.Errorf("%d units, want %d", len(units), len(Exporters))
	}
	objs := render(t, Options{Values: allOn()})
	for _, e := range Exporters {
		t.Run(e, func(t *testing.T) {
			path := filepath.Join(Root(), "deploy", "systemd", e+"_exporter.service")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			svc := serviceSection(t, data)
			want := strings.Join(unitCaps(e), " ")
			if svc["AmbientCapabilities"] != want || svc["CapabilityBoundingSet"] != want {
				t.Errorf("AmbientCapabilities %q, CapabilityBoundingSet %q; want %q", svc["AmbientCapabilities"], svc["CapabilityBoundingSet"], want)
			}
			if svc["NoNewPrivileges"] != "yes" || svc["ProtectSystem"] != "strict" {
				t.Errorf("NoNewPrivileges %q, ProtectSystem %q", svc["NoNewPrivileges"], svc["ProtectSystem"])
			}
			var port int32
			for _, o := range objs {
				if tpl := o.PodTemplate(); tpl != nil && o.Exporter() == e {
					port = tpl.Spec.Containers[0].Ports[0].ContainerPort
				}
			}
			bin := "/usr/local/bin/" + e + "_exporter"
			if !strings.HasPrefix(svc["ExecStart"], fmt.Sprintf("%s --web.listen-address=:%d", bin, port)) {
				t.Errorf("ExecStart %q: want %s on port %d", svc["ExecStart"], bin, port)
			}
			// systemd's own parser, with a binary that exists.
			tmp := filepath.Join(t.TempDir(), e+"_exporter.service")
			if err := os.WriteFile(tmp, bytes.ReplaceAll(data, []byte(bin), []byte("/bin/true")), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", tmp).CombinedOutput()
			if err != nil || len(out) != 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// TestSystemdUnitsVerifyFails: systemd-analyze verify does report a
// misspelt setting, so TestSystemdUnits can fail.
func TestSystemdUnitsVerifyFails(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("needs systemd-analyze: %v", err)
	}
	tmp := filepath.Join(t.TempDir(), "bad.service")
	if err := os.WriteFile(tmp, []byte("[Service]\nExecStart=/bin/true\nNoNewPrivilege=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", tmp).CombinedOutput()
	if !strings.Contains(string(out), "Unknown key 'NoNewPrivilege' in section [Service]") {
		t.Errorf("systemd-analyze verify of a misspelt key: %v\n%s", err, out)
	}
}
