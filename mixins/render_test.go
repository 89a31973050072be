package mixins

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRenderedFilesAreCurrent fails when a committed alerts.yaml, rules.yaml
// or dashboard differs from what the mixin renders: edited by hand, not
// re-rendered after a change, or a dashboard left over.
func TestRenderedFilesAreCurrent(t *testing.T) {
	for _, dir := range mixinDirs(t) {
		files, err := Render(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		stale, err := files.Stale(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) > 0 {
			t.Errorf("%s: stale rendered files %v: run `make mixins` and commit them", dir, stale)
		}
	}
}

// TestSourcesFormatted fails when a Jsonnet source is not in jsonnetfmt's
// default style.
func TestSourcesFormatted(t *testing.T) {
	unformatted, err := FormatSources(".", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(unformatted) > 0 {
		t.Errorf("not formatted: %v: run `make mixins`", unformatted)
	}
}

// TestRenderLayout checks the files Render gives for the kernel mixin.
func TestRenderLayout(t *testing.T) {
	files, err := Render("kernel", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, content := range files {
		names = append(names, name)
		if !strings.HasSuffix(string(content), "}\n") && !strings.HasSuffix(name, ".yaml") {
			t.Errorf("%s does not end in a newline after its JSON", name)
		}
	}
	slices.Sort(names)
	want := []string{"alerts.yaml", "dashboards/kernel-node.json", "dashboards/kernel-workload.json", "prometheusrule.yaml", "rules.yaml"}
	if !slices.Equal(names, want) {
		t.Errorf("rendered %v, want %v", names, want)
	}
	if got := string(files["rules.yaml"]); !strings.HasPrefix(got, "groups:\n- name: kernel-exporter.rules\n  rules:\n") {
		t.Errorf("rules.yaml starts %q, want YAML groups", got[:min(len(got), 60)])
	}
}

// TestConfigOverride renders the kernel mixin with _config overrides, as
// the live test and users do, and finds them in the rules and dashboards.
func TestConfigOverride(t *testing.T) {
	m, err := Evaluate("kernel", `{ oomKilledFor: '1s', kernelSelector: 'job="node"' }`)
	if err != nil {
		t.Fatal(err)
	}
	var oom Rule
	for _, r := range m.alertRules() {
		if r.Alert == "KernelWorkloadOOMKilled" {
			oom = r
		}
	}
	if oom.For != "1s" {
		t.Errorf("KernelWorkloadOOMKilled for = %q, want 1s", oom.For)
	}
	if !strings.Contains(oom.Expr, `kernel_oom_kills_total{job="node"}`) {
		t.Errorf("KernelWorkloadOOMKilled expr does not use the selector:\n%s", oom.Expr)
	}
	job := m.Dashboards["kernel-node.json"].Templating.List[2]
	if want := `label_values(kernel_exporter_build_info{job="node", cluster=~"$cluster"}, job)`; job.Name != "job" || job.Query != want {
		t.Errorf("variable %s query %q, want job %q", job.Name, job.Query, want)
	}
}

// TestRenderError checks that a broken mixin gives Jsonnet's error.
func TestRenderError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Entry), []byte(`{ prometheusAlerts: error 'no alerts here', prometheusRules: {}, grafanaDashboards: {} }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(dir, ""); err == nil || !strings.Contains(err.Error(), "no alerts here") {
		t.Errorf("Render = %v, want the mixin's error", err)
	}
}

// TestWriteAndStale writes the kernel mixin's files into an empty
// directory, then changes one and adds a dashboard: Stale names both, and
// Write restores the one and removes the other.
func TestWriteAndStale(t *testing.T) {
	files, err := Render("kernel", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stale, err := files.Stale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != len(files) {
		t.Errorf("Stale of an empty directory = %v, want all %d files", stale, len(files))
	}
	if err := files.Write(dir); err != nil {
		t.Fatal(err)
	}
	assertStale(t, files, dir, nil)
	if err := os.WriteFile(filepath.Join(dir, "alerts.yaml"), []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboards", "old.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertStale(t, files, dir, []string{"alerts.yaml", "dashboards/old.json"})
	if err := files.Write(dir); err != nil {
		t.Fatal(err)
	}
	assertStale(t, files, dir, nil)
	if _, err := os.Stat(filepath.Join(dir, "dashboards", "old.json")); !os.IsNotExist(err) {
		t.Errorf("old.json after Write: %v, want it removed", err)
	}
}

func assertStale(t *testing.T, files Files, dir string, want []string) {
	t.Helper()
	got, err := files.Stale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Stale = %v, want %v", got, want)
	}
}
