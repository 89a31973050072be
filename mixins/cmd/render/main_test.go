package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mixin is a minimal mixin: no rules, one empty dashboard, formatted but
// for its double quotes.
const mixin = `{
  prometheusAlerts: { groups: [] },
  prometheusRules: { groups: [] },
  grafanaDashboards: { "a.json": {} },
}
`

// TestCheckThenRender runs the command on a root with one mixin: -check
// reports the source unformatted and every file stale and fails, a run
// formats and renders them, and -check then passes.
func TestCheckThenRender(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "m")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mixin.libsonnet"), []byte(mixin), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout := runRender(t, "-root", root, "-check")
	want := "not formatted: " + dir + "/mixin.libsonnet\nstale: " + dir + "/alerts.yaml\nstale: " + dir + "/dashboards/a.json\nstale: " + dir + "/prometheusrule.yaml\nstale: " + dir + "/rules.yaml\n"
	if code != 1 || stdout != want {
		t.Errorf("-check on an unrendered mixin: exit %d, output\n%s\nwant exit 1, output\n%s", code, stdout, want)
	}
	if code, stdout := runRender(t, "-root", root); code != 0 || stdout != "" {
		t.Errorf("render: exit %d, output %q; want 0 and nothing", code, stdout)
	}
	got, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil || string(got) != "groups: []\n" {
		t.Errorf("alerts.yaml = %q, %v; want \"groups: []\\n\"", got, err)
	}
	got, err = os.ReadFile(filepath.Join(dir, "prometheusrule.yaml"))
	if want := "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  labels:\n    app.kubernetes.io/name: bpfleet-m-mixin\n    app.kubernetes.io/part-of: bpfleet\n  name: bpfleet-m\nspec:\n  groups: []\n"; err != nil || string(got) != want {
		t.Errorf("prometheusrule.yaml = %q, %v; want %q", got, err, want)
	}
	src, err := os.ReadFile(filepath.Join(dir, "mixin.libsonnet"))
	if err != nil || !strings.Contains(string(src), "{ 'a.json': {} }") {
		t.Errorf("mixin.libsonnet after render:\n%s\nwant single quotes (%v)", src, err)
	}
	if code, stdout := runRender(t, "-root", root, "-check"); code != 0 || stdout != "" {
		t.Errorf("-check after render: exit %d, output %q; want 0 and nothing", code, stdout)
	}
}

func runRender(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return code, stdout.String()
}
