package mixins

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"sigs.k8s.io/yaml"
)

// mixinDirs returns this module's mixins, failing the test when there are
// none (a lint over nothing would pass).
func mixinDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := Dirs(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no mixins found")
	}
	return dirs
}

// evaluateDefaults evaluates the mixin in dir with its default _config.
func evaluateDefaults(t *testing.T, dir string) *Mixin {
	t.Helper()
	m, err := Evaluate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// alertRules returns the alerting rules of m.
func (m *Mixin) alertRules() []Rule {
	var rules []Rule
	for _, g := range m.Alerts.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// recordingRules returns the recording rules of m.
func (m *Mixin) recordingRules() []Rule {
	var rules []Rule
	for _, g := range m.Rules.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

var (
	camelCase = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	// A Prometheus duration that is not zero.
	nonZeroDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	severities      = []string{"critical", "warning", "info"}
)

// TestAlertsLint checks every alert against the conventions in DESIGN.md
// ("Mixins"): a CamelCase name starting with its mixin's name (Kernel...,
// DNS...), a severity, summary and description annotations, a non-zero for,
// and a runbook_url whose section exists in the mixin's runbook.md.
func TestAlertsLint(t *testing.T) {
	for _, dir := range mixinDirs(t) {
		m := evaluateDefaults(t, dir)
		alerts := m.alertRules()
		if len(alerts) == 0 {
			t.Errorf("%s: no alerts", dir)
		}
		runbook, err := os.ReadFile(filepath.Join(dir, "runbook.md"))
		if err != nil {
			t.Error(err)
		}
		prefix := filepath.Base(dir)
		seen := map[string]bool{}
		for _, a := range alerts {
			if a.Record != "" {
				t.Errorf("%s: recording rule %s among the alerts", dir, a.Record)
			}
			if seen[a.Alert] {
				t.Errorf("%s: alert %s defined twice", dir, a.Alert)
			}
			seen[a.Alert] = true
			for _, problem := range alertProblems(a, prefix, string(runbook)) {
				t.Errorf("%s: alert %s: %s", dir, a.Alert, problem)
			}
		}
	}
}

// alertProblems returns what is wrong with alert a of the mixin named
// prefix whose runbook.md reads runbook.
func alertProblems(a Rule, prefix, runbook string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !camelCase.MatchString(a.Alert) {
		add("name is not CamelCase")
	}
	rest, ok := strings.CutPrefix(strings.ToLower(a.Alert), prefix)
	if !ok || rest == "" || !camelCase.MatchString(a.Alert[len(prefix):]) {
		add("name does not start with %q (any case) followed by a capital", prefix)
	}
	// Zero when nothing but zeros is left once the units are trimmed.
	if !nonZeroDuration.MatchString(a.For) || strings.Trim(a.For, "0smhdwy") == "" {
		add("for %q is not a non-zero duration", a.For)
	}
	if !slices.Contains(severities, a.Labels["severity"]) {
		add("severity %q is not one of %v", a.Labels["severity"], severities)
	}
	for _, name := range []string{"summary", "description"} {
		if strings.TrimSpace(a.Annotations[name]) == "" {
			add("no %s annotation", name)
		}
	}
	url := a.Annotations["runbook_url"]
	anchor := "#" + strings.ToLower(a.Alert)
	if !strings.HasPrefix(url, "https://") || !strings.HasSuffix(url, "/"+prefix+"/runbook.md"+anchor) {
		add("runbook_url %q is not .../%s/runbook.md%s", url, prefix, anchor)
	}
	if !strings.Contains(runbook, "\n## "+a.Alert+"\n") {
		add("runbook.md has no section \"## %s\"", a.Alert)
	}
	return problems
}

// builtinVariables are the Grafana variables that dashboards use without
// defining them.
var builtinVariables = []string{"__rate_interval", "__range", "__interval"}

var (
	variableRef   = regexp.MustCompile(`\$\{?(\w+)\}?`)
	rangeSelector = regexp.MustCompile(`\[([^\]]*)\]`)
	selector      = regexp.MustCompile(`\{[^{}]*\}`)
	labelValues   = regexp.MustCompile(`^label_values\((.*), (\w+)\)$`)
	jobVariable   = regexp.MustCompile(`job="\$(\w+_)?job"`)
)

// wantVariables are the variables each dashboard must define, in order.
// Workload dashboards choose cluster, job, then namespace → pod → ...
// across every instance, the instances (All by default) last.
var wantVariables = map[string][]string{
	"kernel-node.json":     {"datasource", "cluster", "job", "instance"},
	"kernel-workload.json": {"datasource", "cluster", "job", "namespace", "pod", "container", "cgroup", "instance"},
	"dns-overview.json":    {"datasource", "cluster", "job", "namespace", "pod", "container", "cgroup", "instance"},
	"cri-overview.json":    {"datasource", "cluster", "job", "namespace", "pod", "container", "instance"},
	"cni-overview.json":    {"datasource", "cluster", "job", "instance", "namespace", "pod"},
	"etcd-keyspace.json":   {"datasource", "cluster", "job", "instance", "etcd_job", "etcd_instance"},
	"kubelet-storage.json": {"datasource", "cluster", "job", "namespace", "pod", "instance"},
}

// TestDashboardsLint checks every dashboard against the conventions in
// DESIGN.md ("Mixins"): datasource, cluster, job and instance variables
// (and the drill-down ones where wantVariables says), unique panel ids, a
// unit and a description on every panel, $__rate_interval as every range,
// every selector on $cluster, $job and $instance, and every variable
// defined and used. TestClusterLabel checks the cluster label further.
func TestDashboardsLint(t *testing.T) {
	uids := map[string]string{}
	rendered := map[string]bool{}
	for _, dir := range mixinDirs(t) {
		m := evaluateDefaults(t, dir)
		if len(m.Dashboards) == 0 {
			t.Errorf("%s: no dashboards", dir)
		}
		for name, d := range m.Dashboards {
			if other, ok := uids[d.UID]; ok || d.UID == "" {
				t.Errorf("%s: uid %q is empty or also %s's", name, d.UID, other)
			}
			uids[d.UID] = name
			rendered[name] = true
			for _, problem := range dashboardProblems(d, wantVariables[name], "cluster") {
				t.Errorf("%s/dashboards/%s: %s", dir, name, problem)
			}
		}
	}
	for name := range wantVariables {
		if !rendered[name] {
			t.Errorf("dashboard %s of wantVariables is not rendered", name)
		}
	}
}

// dashboardProblems returns what is wrong with d, which must define the
// variables want (at least datasource, cluster, job and instance) and
// select clusterLabel on $cluster everywhere.
func dashboardProblems(d Dashboard, want []string, clusterLabel string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if want == nil {
		want = []string{"datasource", "cluster", "job", "instance"}
	}
	clusterMatcher := clusterLabel + `=~"$cluster"`
	for _, v := range d.Templating.List {
		m := labelValues.FindStringSubmatch(v.Query)
		switch {
		case v.Type != "query":
		case m == nil:
			add("variable $%s: query %q is not label_values(selector, label)", v.Name, v.Query)
		case v.Name == "cluster" && m[2] != clusterLabel:
			add("variable $cluster lists label %s, want %s", m[2], clusterLabel)
		case v.Name != "cluster" && !strings.Contains(m[1], clusterMatcher):
			add("variable $%s: selector %s lacks %s", v.Name, m[1], clusterMatcher)
		}
	}
	defined := map[string]bool{}
	var names []string
	for _, v := range d.Templating.List {
		defined[v.Name] = true
		names = append(names, v.Name)
	}
	if !slices.Equal(names, want) {
		add("variables %v, want %v", names, want)
	}
	used := map[string]bool{}
	for _, v := range d.Templating.List {
		for _, ref := range variableRef.FindAllStringSubmatch(v.Query, -1) {
			used[ref[1]] = true
		}
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID <= 0 {
			add("panel %q: id %d is not positive or not unique", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		for _, problem := range panelProblems(p, clusterMatcher) {
			add("panel %q: %s", p.Title, problem)
		}
		for _, target := range p.Targets {
			for _, ref := range variableRef.FindAllStringSubmatch(target.Expr, -1) {
				used[ref[1]] = true
			}
		}
	}
	for name := range used {
		if !defined[name] && !slices.Contains(builtinVariables, name) {
			add("variable $%s is used but not defined", name)
		}
	}
	for name := range defined {
		if !used[name] && name != "datasource" {
			add("variable $%s is defined but not used", name)
		}
	}
	return problems
}

// panelProblems returns what is wrong with panel p, whose selectors must
// all have clusterMatcher.
func panelProblems(p Panel, clusterMatcher string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if p.FieldConfig.Defaults.Unit == "" {
		add("no unit")
	}
	if strings.TrimSpace(p.Description) == "" {
		add("no description")
	}
	if p.Datasource.UID != "${datasource}" {
		add("data source %q, want ${datasource}", p.Datasource.UID)
	}
	if len(p.Targets) == 0 {
		add("no queries")
	}
	refIDs := map[string]bool{}
	for _, target := range p.Targets {
		if refIDs[target.RefID] || target.RefID == "" {
			add("refId %q is empty or not unique", target.RefID)
		}
		refIDs[target.RefID] = true
		if target.Datasource.UID != "${datasource}" {
			add("query %s: data source %q, want ${datasource}", target.RefID, target.Datasource.UID)
		}
		for _, r := range rangeSelector.FindAllStringSubmatch(target.Expr, -1) {
			if r[1] != "$__rate_interval" {
				add("query %s: range [%s], want [$__rate_interval]", target.RefID, r[1])
			}
		}
		sels := selector.FindAllString(target.Expr, -1)
		if len(sels) == 0 {
			add("query %s: no selector", target.RefID)
		}
		for _, sel := range sels {
			if !strings.Contains(sel, clusterMatcher) {
				add("query %s: selector %s lacks %s", target.RefID, sel, clusterMatcher)
			}
			// $job and $instance, or a pair of another job's variables
			// named alike ($etcd_job and $etcd_instance: etcd's own
			// metrics beside its exporter's).
			m := jobVariable.FindStringSubmatch(sel)
			if m == nil || !strings.Contains(sel, `instance=~"$`+m[1]+`instance"`) && !strings.Contains(sel, `instance="$`+m[1]+`instance"`) {
				add("query %s: selector %s is not on $job and $instance (or $<x>_job and $<x>_instance)", target.RefID, sel)
			}
		}
	}
	return problems
}

// substitute replaces the dashboard variables in expr: each variable by
// values[name], Grafana's interval variables by interval.
func substitute(expr string, values map[string]string, interval string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		name := variableRef.FindStringSubmatch(ref)[1]
		if slices.Contains(builtinVariables, name) {
			return interval
		}
		if v, ok := values[name]; ok {
			return v
		}
		return ref
	})
}

// query is one PromQL expression of a dashboard: a panel's target, or the
// selector of a variable's label_values query.
type query struct {
	where string // dashboard, panel and refId, or variable
	expr  string
}

// dashboardQueries returns every query of d with its variables replaced by
// values and its intervals by interval.
func dashboardQueries(name string, d Dashboard, values map[string]string, interval string) []query {
	var qs []query
	for _, v := range d.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Query); v.Type == "query" && m != nil {
			qs = append(qs, query{fmt.Sprintf("%s variable %s", name, v.Name), substitute(m[1], values, interval)})
		}
	}
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("%s panel %q query %s", name, p.Title, target.RefID), substitute(target.Expr, values, interval)})
		}
	}
	return qs
}

// TestExpressionsParse checks that every rule file parses with `promtool
// check rules`, and so does every dashboard query, written as recording
// rules of a generated rule file.
func TestExpressionsParse(t *testing.T) {
	promtool := exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	values := map[string]string{"cluster": "c", "job": "j", "instance": "i", "namespace": ".*", "pod": ".*", "container": ".*", "cgroup": ".*"}
	var files []string
	var qs []query
	for _, dir := range mixinDirs(t) {
		files = append(files, filepath.Join(dir, "alerts.yaml"), filepath.Join(dir, "rules.yaml"))
		for name, d := range evaluateDefaults(t, dir).Dashboards {
			qs = append(qs, dashboardQueries(name, d, values, "5m")...)
		}
	}
	var rules []Rule
	for i, q := range qs {
		rules = append(rules, Rule{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: q.expr})
	}
	generated := writeRuleFile(t, RuleFile{Groups: []RuleGroup{{Name: "dashboard-queries", Rules: rules}}})
	for _, file := range append(files, generated) {
		out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", file, err, out)
			if file == generated {
				for i, q := range qs {
					t.Logf("dashboard_query_%d: %s:\n%s", i, q.where, q.expr)
				}
			}
		}
	}
}

// writeRuleFile writes f as YAML into the test's temporary directory.
func writeRuleFile(t *testing.T, f RuleFile) string {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = yaml.JSONToYAML(data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ruleTestFile is the part of a `promtool test rules` file that
// TestRuleTestsCoverEveryRule reads.
type ruleTestFile struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr       string `json:"expr"`
			ExpSamples []any  `json:"exp_samples"`
		} `json:"promql_expr_test"`
	} `json:"tests"`
}

// TestRuleTestsCoverEveryRule checks that each mixin's tests/*.yaml test
// its alerts.yaml and rules.yaml, with, for every alert, a case where it
// fires and one where it does not, and for every recording rule a case
// with a value and one without.
func TestRuleTestsCoverEveryRule(t *testing.T) {
	for _, dir := range mixinDirs(t) {
		fires, silent := map[string]bool{}, map[string]bool{}
		for _, f := range ruleTests(t, dir) {
			if !slices.Equal(f.RuleFiles, []string{"../alerts.yaml", "../rules.yaml"}) {
				t.Errorf("%s: rule_files %v, want [../alerts.yaml ../rules.yaml]", dir, f.RuleFiles)
			}
			for _, test := range f.Tests {
				for _, a := range test.AlertRuleTests {
					if len(a.ExpAlerts) > 0 {
						fires[a.Alertname] = true
					} else {
						silent[a.Alertname] = true
					}
				}
				for _, e := range test.PromQLExprTests {
					if len(e.ExpSamples) > 0 {
						fires[e.Expr] = true
					} else {
						silent[e.Expr] = true
					}
				}
			}
		}
		m := evaluateDefaults(t, dir)
		for _, a := range m.alertRules() {
			if !fires[a.Alert] || !silent[a.Alert] {
				t.Errorf("%s: alert %s: a case where it fires %v, one where it does not %v; want both", dir, a.Alert, fires[a.Alert], silent[a.Alert])
			}
		}
		for _, r := range m.recordingRules() {
			if !mentions(fires, r.Record) || !mentions(silent, r.Record) {
				t.Errorf("%s: recording rule %s: a promql_expr_test with a value %v, one without %v; want both", dir, r.Record, mentions(fires, r.Record), mentions(silent, r.Record))
			}
		}
	}
}

// mentions reports whether one of exprs contains name.
func mentions(exprs map[string]bool, name string) bool {
	for expr := range exprs {
		if strings.Contains(expr, name) {
			return true
		}
	}
	return false
}

// ruleTests reads the rule test files of the mixin in dir.
func ruleTests(t *testing.T, dir string) []ruleTestFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "tests", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("%s: no tests/*.yaml (%v)", dir, err)
	}
	var files []ruleTestFile
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f ruleTestFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		files = append(files, f)
	}
	return files
}

// TestPromtoolTestRules runs `promtool test rules` on each mixin's
// tests/*.yaml against its committed alerts.yaml and rules.yaml.
func TestPromtoolTestRules(t *testing.T) {
	promtool := exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	for _, dir := range mixinDirs(t) {
		paths, err := filepath.Glob(filepath.Join(dir, "tests", "*.yaml"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: no tests/*.yaml (%v)", dir, err)
		}
		cmd := exec.Command(promtool, append([]string{"test", "rules"}, paths...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool test rules %v: %v\n%s", paths, err, out)
		}
	}
}
