package mixins

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/google/go-jsonnet"
	"sigs.k8s.io/yaml"
)

// TestPrometheusRuleManifests checks each mixin's committed
// prometheusrule.yaml: a monitoring.coreos.com/v1 PrometheusRule named
// bpfleet-<mixin> whose groups are those of alerts.yaml and then
// rules.yaml, which promtool accepts as a rule file.
func TestPrometheusRuleManifests(t *testing.T) {
	promtool := exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	for _, dir := range mixinDirs(t) {
		data, err := os.ReadFile(filepath.Join(dir, PrometheusRuleFile))
		if err != nil {
			t.Fatal(err)
		}
		var pr PrometheusRule
		if err := yaml.UnmarshalStrict(data, &pr); err != nil {
			t.Fatalf("%s/%s: %v", dir, PrometheusRuleFile, err)
		}
		if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name != "bpfleet-"+filepath.Base(dir) {
			t.Errorf("%s/%s: %s %s %q, want monitoring.coreos.com/v1 PrometheusRule bpfleet-%s", dir, PrometheusRuleFile, pr.APIVersion, pr.Kind, pr.Metadata.Name, filepath.Base(dir))
		}
		var want []any
		for _, name := range []string{"alerts.yaml", "rules.yaml"} {
			var f struct {
				Groups []any `json:"groups"`
			}
			plain, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(plain, &f); err != nil {
				t.Fatal(err)
			}
			want = append(want, f.Groups...)
		}
		var got []any
		for _, g := range pr.Spec.Groups {
			var v any
			if err := json.Unmarshal(g, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s/%s: spec.groups are not the groups of alerts.yaml and rules.yaml (%d groups, want %d)", dir, PrometheusRuleFile, len(got), len(want))
		}
		spec, err := yaml.Marshal(map[string]any{"groups": got})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "spec.yaml")
		if err := os.WriteFile(path, spec, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("%s/%s: promtool check rules on its spec: %v\n%s", dir, PrometheusRuleFile, err, out)
		}
	}
}

var (
	// importPath matches a Jsonnet import and its path.
	importPath = regexp.MustCompile(`\bimport(?:str|bin)?\s+'([^']+)'`)
	// comment matches a // comment to the end of its line.
	comment = regexp.MustCompile(`(?m)^\s*//.*$`)
)

// TestImportsStayInPackage checks that the mixins import each other only by
// relative paths inside this directory: once jb vendors it (as one package,
// mixins/), every import must resolve inside the vendored copy.
func TestImportsStayInPackage(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".libsonnet" {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range importPath.FindAllStringSubmatch(comment.ReplaceAllString(string(src), ""), -1) {
			n++
			// Relative to the importing file, as go-jsonnet (and jsonnet)
			// resolve them first.
			target := filepath.Join(filepath.Dir(path), m[1])
			if rel, err := filepath.Rel(root, target); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s imports %q, outside the mixins package", path, m[1])
			} else if _, err := os.Stat(target); err != nil {
				t.Errorf("%s imports %q: %v", path, m[1], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no imports found")
	}
}

// vendorMixins lays out dir/vendor as `jb install` does for
// examples/jsonnetfile.json's local path dependency on this directory. With
// a jb binary on PATH it runs `jb install`; without, it makes the symlink
// that jb v0.6.0's local install makes (vendor/<base of the directory> →
// the directory; `jb install` of a git source adds the same legacy name
// beside vendor/github.com/bpfleet/bpfleet/mixins).
func vendorMixins(t *testing.T, dir string) {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join("examples", "jsonnetfile.json"))
	if err != nil {
		t.Fatal(err)
	}
	var jf struct {
		Version      int  `json:"version"`
		LegacyImport bool `json:"legacyImports"`
		Dependencies []struct {
			Source struct {
				Local struct {
					Directory string `json:"directory"`
				} `json:"local"`
			} `json:"source"`
		} `json:"dependencies"`
	}
	if err := json.Unmarshal(spec, &jf); err != nil {
		t.Fatal(err)
	}
	if jf.Version != 1 || len(jf.Dependencies) != 1 || jf.Dependencies[0].Source.Local.Directory != ".." {
		t.Fatalf("examples/jsonnetfile.json: %s; want version 1 and one local dependency on ..", spec)
	}
	// The dependency, from the temporary directory's point of view.
	rel, err := filepath.Rel(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	jf.Dependencies[0].Source.Local.Directory = rel
	spec, err = json.Marshal(jf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jsonnetfile.json"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if jb, err := exec.LookPath("jb"); err == nil {
		cmd := exec.Command(jb, "install")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("jb install: %v\n%s", err, out)
		}
		t.Logf("vendored with %s", jb)
		return
	}
	if err := os.MkdirAll(filepath.Join(dir, "vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	link, err := filepath.Rel(filepath.Join(dir, "vendor"), root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(dir, "vendor", filepath.Base(root))); err != nil {
		t.Fatal(err)
	}
	t.Log("no jb on PATH (the Go module proxy does not serve github.com/jsonnet-bundler/jsonnet-bundler): vendored as jb v0.6.0 does")
}

// TestVendoredExample evaluates examples/fleet.jsonnet, a user's own
// rendering, against a vendor directory laid out by jb (vendorMixins), with
// only vendor on the import path as `jsonnet -J vendor` has it: every
// file it writes must equal what Render gives for the same _config.
func TestVendoredExample(t *testing.T) {
	dir := t.TempDir()
	vendorMixins(t, dir)
	src, err := os.ReadFile(filepath.Join("examples", "fleet.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fleet.jsonnet"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(dir, "vendor")}})
	out, err := vm.EvaluateFile(filepath.Join(dir, "fleet.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	var files map[string]string
	if err := json.Unmarshal([]byte(out), &files); err != nil {
		t.Fatal(err)
	}
	fleet := `{ clusterLabel: 'k8s_cluster', showMultiCluster: true, dashboardTitlePrefix: 'Fleet / ', severities+: { critical: 'page' } }`
	overrides := map[string]string{
		"kernel": fleet + ` + { kernelSelector: 'job="node-ebpf"' }`,
		"dns":    fleet + ` + { unansweredMinQueriesRate: 1 }`,
	}
	checked := 0
	for mixin, config := range overrides {
		want, err := Render(mixin, config)
		if err != nil {
			t.Fatal(err)
		}
		for name, content := range want {
			got, ok := files[mixin+"/"+name]
			if name == PrometheusRuleFile {
				got, ok = files[mixin+"/prometheusrule.json"]
			}
			if !ok {
				t.Errorf("fleet.jsonnet writes no %s/%s", mixin, name)
				continue
			}
			var g, w any
			if err := yaml.Unmarshal([]byte(got), &g); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(content, &w); err != nil {
				t.Fatal(err)
			}
			if name == PrometheusRuleFile {
				// The example's manifest has no labels; compare its groups.
				g, w = g.(map[string]any)["spec"], w.(map[string]any)["spec"]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("fleet.jsonnet's %s/%s differs from Render(%q, %s)", mixin, name, mixin, config)
			}
			checked++
		}
		if !strings.Contains(files[mixin+"/alerts.yaml"], "k8s_cluster") {
			t.Errorf("%s: the fleet's cluster label is not in its alerts", mixin)
		}
		for name, content := range files {
			if strings.HasPrefix(name, mixin+"/dashboards/") && !strings.Contains(content, `"title": "Fleet / `) {
				t.Errorf("%s: the fleet's title prefix is not in its dashboard %s", mixin, name)
			}
		}
	}
	if checked != 5+4 {
		t.Errorf("compared %d files, want 9 (kernel: 2 rule files, a manifest, 2 dashboards; dns: 2 rule files, a manifest, 1 dashboard)", checked)
	}
}
