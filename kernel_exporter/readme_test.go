package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kernel_exporter/collector"
)

// README.md documents every flag in its "## Flags" table (first column: the
// flag in backticks) and every metric in its "## Metrics" table (columns:
// metric in backticks | type | labels, each in backticks | collector |
// description). These tests keep the tables and the binary in step.

// onlyOnEvents are the metrics that a scrape serves only once something
// happened: a series cap was reached, a ring buffer event was handled.
func onlyOnEvents() []string {
	return []string{"kernel_series_overflow_total", "kernel_event_processing_duration_seconds"}
}

// exporterOwnPrefixes are the prefixes of the Go client's metrics about the
// exporter process, which the README need not list.
func exporterOwnPrefixes() []string { return []string{"go_", "process_", "promhttp_"} }

func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := readREADME("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := readmeFlags(readme)
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	cmd := exec.Command(binary, "--help")
	cmd.Stdout, cmd.Stderr = &help, &help
	if err := cmd.Run(); err != nil {
		t.Fatalf("kernel_exporter --help: %v\n%s", err, help.String())
	}
	for _, problem := range flagDrift(helpFlags(help.String()), documented) {
		t.Error(problem)
	}
}

func TestREADMEListsEveryMetric(t *testing.T) {
	testenv.RequireRoot(t)
	readme, err := readREADME("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := readmeMetrics(readme)
	if err != nil {
		t.Fatal(err)
	}
	descs, err := descLabels(collector.Descs())
	if err != nil {
		t.Fatal(err)
	}
	p := startExporter(t, "--bpf.enable-stats")
	served := servedLabels(p.waitReady(t, allCollectors()...))
	for _, problem := range metricDrift(descs, served, documented) {
		t.Error(problem)
	}
}

// TestREADMECheckFindsDrift runs the checks on a README that is wrong in
// every way they look for.
func TestREADMECheckFindsDrift(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(driftingREADME), 0o644); err != nil {
		t.Fatal(err)
	}
	readme, err := readREADME(path)
	if err != nil {
		t.Fatal(err)
	}

	flags, err := readmeFlags(readme)
	if err != nil {
		t.Fatal(err)
	}
	help := helpFlags(`usage: kernel_exporter [<flags>]

Flags:
  -h, --[no-]help                Show context-sensitive help (also try
                                 --help-long and --help-man).
      --web.listen-address=:10061 ...  
                                 Addresses on which to expose metrics.
      --[no-]collector.tcp       Enable the tcp collector (default: enabled).
      --log.level=info           Only log messages with the given severity.
`)
	if want := []string{"collector.tcp", "help", "log.level", "web.listen-address"}; !slices.Equal(help, want) {
		t.Errorf("flags of --help = %v, want %v", help, want)
	}
	wantFlags := []string{
		"flag --log.level is in --help but not in README.md's Flags table",
		"flag --web.listen-address is in README.md's Flags table 2 times",
		"flag --web.max-requests is in README.md's Flags table but not in --help",
	}
	if got := flagDrift(help, flags); !slices.Equal(got, wantFlags) {
		t.Errorf("flag problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFlags, "\n"))
	}

	documented, err := readmeMetrics(readme)
	if err != nil {
		t.Fatal(err)
	}
	descs, err := descLabels([]*prometheus.Desc{
		prometheus.NewDesc("kernel_oom_kills_total", "OOM kills.", []string{"cgroup", "pod"}, nil),
		prometheus.NewDesc("kernel_tcp_resets_total", "Resets.", []string{"direction"}, prometheus.Labels{"family": "ipv4"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	served := servedLabels(map[string]*dto.MetricFamily{
		"kernel_scrape_collector_success": family("kernel_scrape_collector_success", "collector"),
		"kernel_bpf_map_entries":          family("kernel_bpf_map_entries", "map"),
		"go_goroutines":                   family("go_goroutines"),
	})
	wantMetrics := []string{
		"metric go_goroutines: README.md has labels [a], served with []",
		"metric kernel_bpf_map_entries is served but not in README.md's Metrics table",
		"metric kernel_event_processing_duration_seconds is in README.md's Metrics table 2 times",
		"metric kernel_oom_kills_total: README.md has labels [cgroup], collector.Descs() has [cgroup pod]",
		"metric kernel_scrape_collector_success: README.md has labels [collector reason], served with [collector]",
		"metric kernel_tcp_resets_total is a collector.Descs() descriptor but not in README.md's Metrics table",
		"metric kernel_tcp_retries_total is in README.md's Metrics table but neither a collector.Descs() descriptor, nor served, nor only served on events",
	}
	if got := metricDrift(descs, served, documented); !slices.Equal(got, wantMetrics) {
		t.Errorf("metric problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantMetrics, "\n"))
	}
}

// driftingREADME lacks --log.level, kernel_bpf_map_entries and
// kernel_tcp_resets_total, lists --web.max-requests, kernel_tcp_retries_total
// and go_goroutines (with a label the client would serve it without) that the
// code does not have, repeats a flag and a metric, and gets the labels of
// kernel_oom_kills_total and kernel_scrape_collector_success wrong.
const driftingREADME = "# kernel_exporter\n\n" +
	"## Metrics\n\n" +
	"| metric | type | labels | collector | description |\n" +
	"| --- | --- | --- | --- | --- |\n" +
	"| `kernel_oom_kills_total` | counter | `cgroup` | oom | OOM kills. |\n" +
	"| `kernel_tcp_retries_total` | counter | `cgroup`, `family` | tcp | Not a metric \\| of the code. |\n" +
	"| `kernel_scrape_collector_success` | gauge | `collector`, `reason` | | Success. |\n" +
	"| `go_goroutines` | gauge | `a` | | Goroutines. |\n" +
	"| `kernel_event_processing_duration_seconds` | histogram | `collector` | | Time. |\n" +
	"| `kernel_event_processing_duration_seconds` | histogram | `collector` | | Time. |\n" +
	"| `kernel_series_overflow_total` | counter | `metric` | | Overflow. |\n\n" +
	"Series are capped.\n\n" +
	"## Flags\n\n" +
	"| flag | default | description |\n" +
	"| --- | --- | --- |\n" +
	"| `--web.listen-address` | `:10061` | Addresses. |\n" +
	"| `--web.listen-address=:9100` | | Again. |\n" +
	"| `--web.max-requests` | `40` | Not a flag of the code. |\n" +
	"| `--[no-]collector.tcp` | on | The tcp collector. |\n" +
	"| `-h`, `--help` | | Help. |\n\n" +
	"## Running it\n\n" +
	"| `--log.level` | outside the Flags section |\n"

// family returns a gauge family with one series that has labels.
func family(name string, labels ...string) *dto.MetricFamily {
	m := &dto.Metric{Gauge: &dto.Gauge{Value: new(float64)}}
	for _, l := range labels {
		m.Label = append(m.Label, &dto.LabelPair{Name: &l, Value: new(string)})
	}
	typ := dto.MetricType_GAUGE
	return &dto.MetricFamily{Name: &name, Type: &typ, Metric: []*dto.Metric{m}}
}

func readREADME(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the README: %w", err)
	}
	return string(b), nil
}

// section returns the lines of the "## heading" section of a markdown
// document, up to the next level-2 heading.
func section(doc, heading string) ([]string, error) {
	var lines []string
	in := false
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == heading
			continue
		}
		if in {
			lines = append(lines, line)
		}
	}
	if !in {
		return nil, fmt.Errorf("README.md has no %q section", "## "+heading)
	}
	return lines, nil
}

// tableRows returns the cells of the body rows of every table in lines: the
// rows after each table's header and delimiter rows.
func tableRows(lines []string) [][]string {
	var rows [][]string
	inTable := false
	for i, line := range lines {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			inTable = false
			continue
		}
		if !inTable {
			inTable = true
			// A table starts with a header row and a delimiter row.
			if i+1 < len(lines) && isDelimiterRow(lines[i+1]) {
				continue
			}
		}
		if isDelimiterRow(line) {
			continue
		}
		rows = append(rows, cells(line))
	}
	return rows
}

var delimiterCell = regexp.MustCompile(`^:?-+:?$`)

func isDelimiterRow(line string) bool {
	cs := cells(line)
	return len(cs) > 0 && !slices.ContainsFunc(cs, func(c string) bool { return !delimiterCell.MatchString(c) })
}

// cells splits a table row at its unescaped pipes and trims each cell.
func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	if strings.HasSuffix(row, "|") && !strings.HasSuffix(row, `\|`) {
		row = row[:len(row)-1]
	}
	var out []string
	var cell strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cell.WriteByte('|')
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(row[i])
		}
	}
	return append(out, strings.TrimSpace(cell.String()))
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// codeSpans returns the contents of the backticked spans of a cell.
func codeSpans(cell string) []string {
	var spans []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// readmeFlags returns the long flags named in the first column of the Flags
// table, without "--", "[no-]" or a value, once per time they appear.
func readmeFlags(readme string) ([]string, error) {
	lines, err := section(readme, "Flags")
	if err != nil {
		return nil, err
	}
	var flags []string
	for _, row := range tableRows(lines) {
		for _, span := range codeSpans(row[0]) {
			if name, ok := strings.CutPrefix(span, "--"); ok {
				name = strings.TrimPrefix(name, "[no-]")
				name, _, _ = strings.Cut(name, "=")
				flags = append(flags, name)
			}
		}
	}
	return flags, nil
}

// helpFlag matches a flag's line in kingpin's --help: two spaces, an
// optional short flag, then the long flag; wrapped help text is indented
// further.
var helpFlag = regexp.MustCompile(`(?m)^  (?:-\w, |    )--(?:\[no-\])?([^\s=]+)`)

// helpFlags returns the long flags that --help lists, sorted.
func helpFlags(help string) []string {
	var flags []string
	for _, m := range helpFlag.FindAllStringSubmatch(help, -1) {
		flags = append(flags, m[1])
	}
	slices.Sort(flags)
	return flags
}

// flagDrift returns, sorted, what differs between the flags of --help and
// those of the README.
func flagDrift(help, readme []string) []string {
	var problems []string
	for _, f := range help {
		if !slices.Contains(readme, f) {
			problems = append(problems, fmt.Sprintf("flag --%s is in --help but not in README.md's Flags table", f))
		}
	}
	for f, n := range counts(readme) {
		switch {
		case !slices.Contains(help, f):
			problems = append(problems, fmt.Sprintf("flag --%s is in README.md's Flags table but not in --help", f))
		case n > 1:
			problems = append(problems, fmt.Sprintf("flag --%s is in README.md's Flags table %d times", f, n))
		}
	}
	slices.Sort(problems)
	return problems
}

func counts(names []string) map[string]int {
	n := map[string]int{}
	for _, name := range names {
		n[name]++
	}
	return n
}

// documentedMetric is a row of the README's Metrics table.
type documentedMetric struct {
	labels []string // sorted
	rows   int      // how many rows name the metric
}

// readmeMetrics returns the rows of the Metrics table by metric name.
func readmeMetrics(readme string) (map[string]documentedMetric, error) {
	lines, err := section(readme, "Metrics")
	if err != nil {
		return nil, err
	}
	metrics := map[string]documentedMetric{}
	for _, row := range tableRows(lines) {
		names := codeSpans(row[0])
		if len(names) != 1 || len(row) < 3 {
			return nil, fmt.Errorf("README.md's Metrics table has a row %q, want `metric` | type | labels | collector | description", row)
		}
		labels := codeSpans(row[2])
		slices.Sort(labels)
		m := metrics[names[0]]
		metrics[names[0]] = documentedMetric{labels: labels, rows: m.rows + 1}
	}
	return metrics, nil
}

var descFields = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*, constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

var constLabelName = regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)=`)

// descLabels returns the label names, sorted, of each descriptor by metric
// name, read from its String form.
func descLabels(descs []*prometheus.Desc) (map[string][]string, error) {
	metrics := map[string][]string{}
	for _, d := range descs {
		m := descFields.FindStringSubmatch(d.String())
		if m == nil {
			return nil, fmt.Errorf("cannot read descriptor %s", d)
		}
		var labels []string
		for _, c := range constLabelName.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, c[1])
		}
		if m[3] != "" {
			labels = append(labels, strings.Split(m[3], ",")...)
		}
		slices.Sort(labels)
		metrics[m[1]] = labels
	}
	return metrics, nil
}

// servedLabels returns the label names, sorted, that each family's series
// carry (le and quantile aside), by family name.
func servedLabels(fams map[string]*dto.MetricFamily) map[string][]string {
	metrics := make(map[string][]string, len(fams))
	for name, fam := range fams {
		labels := []string{}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) && l.GetName() != "le" && l.GetName() != "quantile" {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		metrics[name] = labels
	}
	return metrics
}

// metricDrift returns, sorted, what differs between the metrics of the code
// (collector descriptors and the families of a scrape) and the README's.
func metricDrift(descs, served map[string][]string, readme map[string]documentedMetric) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for name, labels := range descs {
		doc, ok := readme[name]
		switch {
		case !ok:
			add("metric %s is a collector.Descs() descriptor but not in README.md's Metrics table", name)
		case !slices.Equal(doc.labels, labels):
			add("metric %s: README.md has labels %v, collector.Descs() has %v", name, doc.labels, labels)
		}
	}
	for name, labels := range served {
		doc, ok := readme[name]
		switch {
		case !ok && !slices.ContainsFunc(exporterOwnPrefixes(), func(p string) bool { return strings.HasPrefix(name, p) }):
			add("metric %s is served but not in README.md's Metrics table", name)
		case ok && !slices.Equal(doc.labels, labels):
			add("metric %s: README.md has labels %v, served with %v", name, doc.labels, labels)
		}
	}
	for name, doc := range readme {
		_, isDesc := descs[name]
		_, isServed := served[name]
		switch {
		case !isDesc && !isServed && !slices.Contains(onlyOnEvents(), name):
			add("metric %s is in README.md's Metrics table but neither a collector.Descs() descriptor, nor served, nor only served on events", name)
		case doc.rows > 1:
			add("metric %s is in README.md's Metrics table %d times", name, doc.rows)
		}
	}
	slices.Sort(problems)
	return problems
}
