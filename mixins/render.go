package mixins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-jsonnet"
	"sigs.k8s.io/yaml"
)

// Entry is the file, in every mixin's directory, that defines the mixin.
const Entry = "mixin.libsonnet"

// configVar is the external variable through which Render and Evaluate pass
// _config overrides into Jsonnet.
const configVar = "config"

// Files maps paths relative to a mixin's directory to their contents.
type Files map[string][]byte

// snippet is the mixin's three parts as one JSON document.
const snippet = `
local mixin = (import '` + Entry + `') + { _config+:: std.extVar('` + configVar + `') };
{
  prometheusAlerts: mixin.prometheusAlerts,
  prometheusRules: mixin.prometheusRules,
  grafanaDashboards: mixin.grafanaDashboards,
}
`

// vm returns a Jsonnet VM that imports relative to the importing file and
// overrides _config with the Jsonnet object config ("" for none).
func vm(config string) *jsonnet.VM {
	if strings.TrimSpace(config) == "" {
		config = "{}"
	}
	v := jsonnet.MakeVM()
	v.ExtCode(configVar, config)
	return v
}

// Render evaluates the mixin in dir with _config overridden by config (a
// Jsonnet object such as `{ oomKilledFor: '1s' }`, or "" for the defaults)
// and returns alerts.yaml and rules.yaml (YAML, keys sorted) and
// dashboards/<name> for each of its grafanaDashboards (JSON indented by two
// spaces, keys sorted), exactly as `make mixins` writes them.
func Render(dir, config string) (Files, error) {
	raw, err := evaluate(dir, config)
	if err != nil {
		return nil, err
	}
	files := make(Files, 2+len(raw.Dashboards))
	for name, rules := range map[string]json.RawMessage{"alerts.yaml": raw.Alerts, "rules.yaml": raw.Rules} {
		if files[name], err = yaml.JSONToYAML(rules); err != nil {
			return nil, fmt.Errorf("rendering %s/%s: %w", dir, name, err)
		}
	}
	if files[PrometheusRuleFile], err = prometheusRule(dir, raw); err != nil {
		return nil, err
	}
	for name, d := range raw.Dashboards {
		var buf bytes.Buffer
		if err := json.Indent(&buf, d, "", "  "); err != nil {
			return nil, fmt.Errorf("rendering %s/dashboards/%s: %w", dir, name, err)
		}
		buf.WriteByte('\n')
		files["dashboards/"+name] = buf.Bytes()
	}
	return files, nil
}

// PrometheusRuleFile is the rendered PrometheusRule manifest of a mixin,
// beside alerts.yaml and rules.yaml: both files' groups for the Prometheus
// Operator.
const PrometheusRuleFile = "prometheusrule.yaml"

// PrometheusRule is a monitoring.coreos.com/v1 PrometheusRule.
type PrometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []json.RawMessage `json:"groups"`
	} `json:"spec"`
}

// prometheusRule renders the PrometheusRule of the mixin in dir, named
// bpfleet-<mixin>: the groups of its alerts, then those of its recording
// rules. It has no namespace: apply it into the one your Prometheus
// selects rules from.
func prometheusRule(dir string, raw *rawMixin) ([]byte, error) {
	mixin := filepath.Base(dir)
	pr := PrometheusRule{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule"}
	pr.Metadata.Name = "bpfleet-" + mixin
	pr.Metadata.Labels = map[string]string{"app.kubernetes.io/name": "bpfleet-" + mixin + "-mixin", "app.kubernetes.io/part-of": "bpfleet"}
	pr.Spec.Groups = []json.RawMessage{}
	for _, part := range []json.RawMessage{raw.Alerts, raw.Rules} {
		var f struct {
			Groups []json.RawMessage `json:"groups"`
		}
		if err := json.Unmarshal(part, &f); err != nil {
			return nil, fmt.Errorf("rendering %s/%s: %w", dir, PrometheusRuleFile, err)
		}
		pr.Spec.Groups = append(pr.Spec.Groups, f.Groups...)
	}
	out, err := json.Marshal(pr)
	if err == nil {
		out, err = yaml.JSONToYAML(out)
	}
	if err != nil {
		return nil, fmt.Errorf("rendering %s/%s: %w", dir, PrometheusRuleFile, err)
	}
	return out, nil
}

// rawMixin is an evaluated mixin, undecoded.
type rawMixin struct {
	Alerts     json.RawMessage            `json:"prometheusAlerts"`
	Rules      json.RawMessage            `json:"prometheusRules"`
	Dashboards map[string]json.RawMessage `json:"grafanaDashboards"`
}

// evaluate evaluates the mixin in dir with _config overridden by config.
// Jsonnet writes object keys sorted.
func evaluate(dir, config string) (*rawMixin, error) {
	out, err := vm(config).EvaluateSnippet(filepath.Join(dir, "mixin.jsonnet"), snippet)
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", dir, err)
	}
	var m rawMixin
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", dir, err)
	}
	return &m, nil
}

// Mixin is an evaluated mixin: its rule files and its dashboards by file
// name.
type Mixin struct {
	Alerts     RuleFile             `json:"prometheusAlerts"`
	Rules      RuleFile             `json:"prometheusRules"`
	Dashboards map[string]Dashboard `json:"grafanaDashboards"`
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []RuleGroup `json:"groups"`
}

// RuleGroup is a group of a rule file.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is an alerting rule (Alert set) or a recording rule (Record set).
type Rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Dashboard is the part of a Grafana dashboard that bpfleet checks.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Query    string `json:"query"`
	Multi    bool   `json:"multi"`
	AllValue string `json:"allValue"`
	Hide     int    `json:"hide"`
}

// Panel is a dashboard panel; rows are panels of type "row".
type Panel struct {
	ID          int        `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Datasource  Datasource `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []Target `json:"targets"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string     `json:"refId"`
	Expr       string     `json:"expr"`
	Datasource Datasource `json:"datasource"`
}

// Datasource is the data source of a panel or target.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Evaluate evaluates the mixin in dir with _config overridden by config, as
// Render does, and decodes it.
func Evaluate(dir, config string) (*Mixin, error) {
	raw, err := evaluate(dir, config)
	if err != nil {
		return nil, err
	}
	m := Mixin{Dashboards: make(map[string]Dashboard, len(raw.Dashboards))}
	if err := json.Unmarshal(raw.Alerts, &m.Alerts); err != nil {
		return nil, fmt.Errorf("decoding %s alerts: %w", dir, err)
	}
	if err := json.Unmarshal(raw.Rules, &m.Rules); err != nil {
		return nil, fmt.Errorf("decoding %s rules: %w", dir, err)
	}
	for name, d := range raw.Dashboards {
		var dash Dashboard
		if err := json.Unmarshal(d, &dash); err != nil {
			return nil, fmt.Errorf("decoding %s dashboard %s: %w", dir, name, err)
		}
		m.Dashboards[name] = dash
	}
	return &m, nil
}

// Dirs returns the directories directly under root that hold a mixin,
// sorted.
func Dirs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing mixins: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, Entry)); e.IsDir() && err == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}

// Write writes files under dir and removes the dashboards under
// dir/dashboards that files no longer has.
func (f Files) Write(dir string) error {
	stale, err := f.extraDashboards(dir)
	if err != nil {
		return err
	}
	for _, name := range stale {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing stale dashboard: %w", err)
		}
	}
	for name, content := range f {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("making %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return fmt.Errorf("writing rendered file: %w", err)
		}
	}
	return nil
}

// Stale returns, sorted, the paths relative to dir whose contents differ
// from files: changed or missing files, and dashboards under dir/dashboards
// that files does not have.
func (f Files) Stale(dir string) ([]string, error) {
	stale, err := f.extraDashboards(dir)
	if err != nil {
		return nil, err
	}
	for name, content := range f {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading rendered file: %w", err)
		}
		if err != nil || !bytes.Equal(got, content) {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	return stale, nil
}

// extraDashboards returns the files under dir/dashboards that f lacks.
func (f Files) extraDashboards(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "dashboards"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing dashboards: %w", err)
	}
	var extra []string
	for _, e := range entries {
		name := "dashboards/" + e.Name()
		if _, ok := f[name]; !ok {
			extra = append(extra, name)
		}
	}
	return extra, nil
}
