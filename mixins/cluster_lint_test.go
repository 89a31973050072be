package mixins

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fleetConfig is the _config of a multi-cluster installation whose cluster
// label, severities and title prefix all differ from the defaults: a query
// that hard-codes any of them shows.
const fleetConfig = `{
  clusterLabel: 'k8s_cluster',
  showMultiCluster: true,
  dashboardTitlePrefix: 'Fleet / ',
  severities: { critical: 'page', warning: 'ticket', info: 'fyi' },
}`

var (
	// An aggregation or vector matching with its label list.
	grouping = regexp.MustCompile(`\b(by|on)\s*\(([^)]*)\)`)
	// An aggregation operator with no by or without clause: it drops every
	// label, the cluster label too.
	bareAggregation = regexp.MustCompile(`\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile)\s*\(`)
	// The default cluster label written literally ($cluster, the variable,
	// and k8s_cluster do not match).
	literalCluster = regexp.MustCompile(`(^|[^$\w])cluster\b`)
)

// aggregationProblems returns what in rule expression expr loses or
// hard-codes the cluster label clusterLabel: a by or on clause without it,
// an aggregation without by, the label "cluster" written literally when
// clusterLabel is another.
func aggregationProblems(expr, clusterLabel string) []string {
	var problems []string
	for _, m := range grouping.FindAllStringSubmatch(expr, -1) {
		labels := strings.Split(m[2], ",")
		for i := range labels {
			labels[i] = strings.TrimSpace(labels[i])
		}
		if !slices.Contains(labels, clusterLabel) {
			problems = append(problems, fmt.Sprintf("%s lacks %s", m[0], clusterLabel))
		}
	}
	for _, m := range bareAggregation.FindAllString(expr, -1) {
		problems = append(problems, fmt.Sprintf("%s... aggregates without by (%s, ...)", m, clusterLabel))
	}
	if clusterLabel != "cluster" && literalCluster.MatchString(expr) {
		problems = append(problems, `label "cluster" written literally`)
	}
	return problems
}

// TestClusterLabel renders every mixin for a fleet (fleetConfig) and checks
// that every aggregation and vector matching of every rule and alert keeps
// the configured cluster label, that every dashboard has the cluster
// variable (shown, over that label) and selects it in every query and
// variable, and that severities and title prefix follow _config. With the
// defaults, the cluster variable is there but hidden.
func TestClusterLabel(t *testing.T) {
	for _, dir := range mixinDirs(t) {
		m, err := Evaluate(dir, fleetConfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(m.alertRules(), m.recordingRules()...) {
			for _, problem := range aggregationProblems(r.Expr, "k8s_cluster") {
				t.Errorf("%s: rule %s%s: %s", dir, r.Alert, r.Record, problem)
			}
			if r.Alert != "" && !slices.Contains([]string{"page", "ticket", "fyi"}, r.Labels["severity"]) {
				t.Errorf("%s: alert %s: severity %q is not one of the configured page, ticket, fyi", dir, r.Alert, r.Labels["severity"])
			}
		}
		defaults := evaluateDefaults(t, dir)
		for name, d := range m.Dashboards {
			for _, problem := range dashboardProblems(d, wantVariables[name], "k8s_cluster") {
				t.Errorf("%s/dashboards/%s with %s: %s", dir, name, fleetConfig, problem)
			}
			if !strings.HasPrefix(d.Title, "Fleet / ") || !strings.HasPrefix(defaults.Dashboards[name].Title, "bpfleet / ") {
				t.Errorf("%s/dashboards/%s: title %q with the fleet prefix, %q by default", dir, name, d.Title, defaults.Dashboards[name].Title)
			}
			for _, p := range d.Panels {
				for _, target := range p.Targets {
					if literalCluster.MatchString(target.Expr) {
						t.Errorf("%s/dashboards/%s: panel %q: label \"cluster\" written literally:\n%s", dir, name, p.Title, target.Expr)
					}
				}
			}
			if hide := clusterHide(d); hide != 0 {
				t.Errorf("%s/dashboards/%s: with showMultiCluster the cluster variable has hide %d, want 0 (shown)", dir, name, hide)
			}
			if hide := clusterHide(defaults.Dashboards[name]); hide != 2 {
				t.Errorf("%s/dashboards/%s: by default the cluster variable has hide %d, want 2 (hidden)", dir, name, hide)
			}
		}
	}
}

// clusterHide returns the hide of d's cluster variable, -1 without one.
func clusterHide(d Dashboard) int {
	for _, v := range d.Templating.List {
		if v.Name == "cluster" {
			return v.Hide
		}
	}
	return -1
}

// TestClusterLintFails checks that the lints of TestClusterLabel and
// TestDashboardsLint catch what they are for.
func TestClusterLintFails(t *testing.T) {
	for expr, want := range map[string]int{
		`sum by (k8s_cluster, job) (rate(x[5m]))`:                          0,
		`a / on (k8s_cluster, job) b`:                                      0,
		`histogram_quantile(0.99, sum by (k8s_cluster, le) (rate(x[5m])))`: 0,
		`sum by (job) (rate(x[5m]))`:                                       1,
		`sum(rate(x[5m]))`:                                                 1,
		`a unless on (job, instance) b`:                                    1,
		`x{cluster="a"}`:                                                   1,
		`max by (job, cluster) (x)`:                                        2,
	} {
		if got := aggregationProblems(expr, "k8s_cluster"); len(got) != want {
			t.Errorf("aggregationProblems(%q) = %q, want %d problems", expr, got, want)
		}
	}
	good := Dashboard{UID: "u", Title: "t"}
	good.Templating.List = []Variable{
		{Name: "datasource", Type: "datasource"},
		{Name: "cluster", Type: "query", Query: `label_values(x_build_info{job="x"}, cluster)`},
		{Name: "job", Type: "query", Query: `label_values(x_build_info{job="x", cluster=~"$cluster"}, job)`},
		{Name: "instance", Type: "query", Query: `label_values(x_build_info{cluster=~"$cluster", job="$job"}, instance)`},
	}
	good.Panels = []Panel{{ID: 1, Type: "stat", Title: "p", Description: "d", Targets: []Target{{RefID: "A", Expr: `up{cluster=~"$cluster", job="$job", instance=~"$instance"}`}}}}
	good.Panels[0].FieldConfig.Defaults.Unit = "short"
	good.Panels[0].Datasource.UID = "${datasource}"
	good.Panels[0].Targets[0].Datasource.UID = "${datasource}"
	if got := dashboardProblems(good, nil, "cluster"); len(got) != 0 {
		t.Errorf("a good dashboard has problems: %q", got)
	}
	noVariable := good
	noVariable.Templating.List = slices.Delete(slices.Clone(good.Templating.List), 1, 2)
	noSelector := good
	noSelector.Panels = slices.Clone(good.Panels)
	noSelector.Panels[0].Targets = []Target{{RefID: "A", Expr: `up{job="$job", instance=~"$instance"}`, Datasource: good.Panels[0].Targets[0].Datasource}}
	for name, d := range map[string]Dashboard{"no cluster variable": noVariable, "a query without the cluster": noSelector} {
		if got := dashboardProblems(d, nil, "cluster"); len(got) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// latencyHistogram matches the name of a latency histogram read as one:
// its classic buckets, or histogram_quantile over it.
var latencyHistogram = regexp.MustCompile(`\b(\w+_(?:seconds))(?:_bucket)?\{`)

// missingHeatmaps returns the latency histograms (_seconds histograms whose
// buckets, quantile or count a rule or dashboard query reads) of m that no
// heatmap panel of its dashboards shows.
func missingHeatmaps(m *Mixin) []string {
	var exprs []string
	for _, r := range append(m.alertRules(), m.recordingRules()...) {
		exprs = append(exprs, r.Expr)
	}
	heatmaps := map[string]bool{}
	for _, d := range m.Dashboards {
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				exprs = append(exprs, target.Expr)
				if p.Type == "heatmap" {
					for _, name := range latencyHistogram.FindAllStringSubmatch(target.Expr, -1) {
						heatmaps[name[1]] = true
					}
				}
			}
		}
	}
	var missing []string
	for _, expr := range exprs {
		for _, name := range latencyHistogram.FindAllStringSubmatch(expr, -1) {
			histogram := strings.Contains(expr, name[1]+"_bucket") || strings.Contains(expr, "histogram_quantile") || strings.Contains(expr, "histogram_count(")
			if histogram && !heatmaps[name[1]] && !slices.Contains(missing, name[1]) {
				missing = append(missing, name[1])
			}
		}
	}
	return missing
}

// TestHeatmapPerLatencyHistogram checks that every latency histogram of
// every mixin has a heatmap panel, and that the check finds one without.
func TestHeatmapPerLatencyHistogram(t *testing.T) {
	for _, dir := range mixinDirs(t) {
		if missing := missingHeatmaps(evaluateDefaults(t, dir)); len(missing) > 0 {
			t.Errorf("%s: latency histograms without a heatmap panel: %v", dir, missing)
		}
	}
	m := &Mixin{Rules: RuleFile{Groups: []RuleGroup{{Rules: []Rule{{Record: "r", Expr: `histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{job="j"}[5m])))`}}}}}}
	if missing := missingHeatmaps(m); !slices.Equal(missing, []string{"x_seconds"}) {
		t.Errorf("a quantile rule without a heatmap: missing %v, want [x_seconds]", missing)
	}
}
