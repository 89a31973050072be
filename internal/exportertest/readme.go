package exportertest

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

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
)

// An exporter's README.md documents every flag in the table of its
// "## Flags" section whose header starts with "flag" (first column: the flag
// in backticks) and every metric in the table of its "## Metrics" section
// whose header starts with "metric" (columns: metric in backticks | type |
// labels, each in backticks | collector | description). Other tables of
// those sections are not read. The checks below keep the tables and the
// binary in step; each difference is one test error.

// MetricExceptions are the metrics that a README's Metrics table and one
// scrape may rightly disagree on.
type MetricExceptions struct {
	// OnlyOnEvents are documented metrics that a scrape serves only once
	// something happened (a series cap was reached, a ring buffer event was
	// handled).
	OnlyOnEvents []string
	// UndocumentedPrefixes are the prefixes of served metrics that the
	// README need not list: the Go client's metrics about the exporter
	// process (go_, process_, promhttp_).
	UndocumentedPrefixes []string
}

// CheckREADMEFlags fails the test for each flag that the README at path and
// `binary --help` disagree on: in one and not the other, or in the README
// more than once.
func CheckREADMEFlags(tb testing.TB, path, binary string) {
	tb.Helper()
	readme, err := readREADME(path)
	if err != nil {
		tb.Fatal(err)
	}
	documented, err := readmeFlags(readme)
	if err != nil {
		tb.Fatal(err)
	}
	var help bytes.Buffer
	cmd := exec.Command(binary, "--help")
	cmd.Stdout, cmd.Stderr = &help, &help
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s --help: %v\n%s", filepath.Base(binary), err, help.String())
	}
	for _, problem := range flagDrift(helpFlags(help.String()), documented) {
		tb.Error(problem)
	}
}

// CheckREADMECatalog fails the test for each metric of the exporter's
// metric table that the README at path documents otherwise: missing, or
// with other labels, type or collector. It needs no root: the tier that
// runs everywhere. Rows the table lacks (the scaffold's and self-metrics)
// are CheckREADMEMetrics' business.
func CheckREADMECatalog(tb testing.TB, path string, c *catalog.Catalog) {
	tb.Helper()
	documented := readmeMetricsOrFatal(tb, path)
	for _, problem := range catalogDrift(c, documented) {
		tb.Error(problem)
	}
}

// CheckREADMEMetrics fails the test for each metric that the README at path
// and the code disagree on. c is the exporter's metric table; served is a
// scrape of the running exporter. A table metric or a served family must
// have a row with exactly its label names (le and quantile aside); a row
// must name a table metric, a served family or one of x.OnlyOnEvents, once.
func CheckREADMEMetrics(tb testing.TB, path string, c *catalog.Catalog, served map[string]*dto.MetricFamily, x MetricExceptions) {
	tb.Helper()
	documented := readmeMetricsOrFatal(tb, path)
	labels := map[string][]string{}
	for _, m := range c.Metrics() {
		labels[m.Name] = slices.Sorted(slices.Values(m.LabelNames()))
	}
	for _, problem := range metricDrift(labels, servedLabels(served), documented, x) {
		tb.Error(problem)
	}
}

func readmeMetricsOrFatal(tb testing.TB, path string) map[string]documentedMetric {
	tb.Helper()
	readme, err := readREADME(path)
	if err != nil {
		tb.Fatal(err)
	}
	documented, err := readmeMetrics(readme)
	if err != nil {
		tb.Fatal(err)
	}
	return documented
}

// catalogDrift returns, sorted, what differs between the table and the
// README's rows.
func catalogDrift(c *catalog.Catalog, readme map[string]documentedMetric) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, m := range c.Metrics() {
		doc, ok := readme[m.Name]
		labels := slices.Sorted(slices.Values(m.LabelNames()))
		switch {
		case !ok:
			add("metric %s is in the metric table but not in README.md's Metrics table", m.Name)
			continue
		case !slices.Equal(doc.labels, labels):
			add("metric %s: README.md has labels %v, the metric table %v", m.Name, doc.labels, labels)
		}
		if doc.typ != string(m.Type) {
			add("metric %s: README.md has type %q, the metric table %q", m.Name, doc.typ, m.Type)
		}
		if doc.collector != m.Collector {
			add("metric %s: README.md has collector %q, the metric table %q", m.Name, doc.collector, m.Collector)
		}
	}
	slices.Sort(problems)
	return problems
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

// tableRows returns the cells of the body rows of the tables in lines whose
// header row's first cell is header (a section may hold other tables, such
// as the values of a label): the rows after the header and delimiter rows.
func tableRows(lines []string, header string) [][]string {
	var rows [][]string
	in := false // in the body of a table with that header
	for i, line := range lines {
		if !isRow(line) {
			in = false
			continue
		}
		if i == 0 || !isRow(lines[i-1]) {
			// A table starts with a header row and a delimiter row.
			in = i+1 < len(lines) && isDelimiterRow(lines[i+1]) && strings.EqualFold(cells(line)[0], header)
			continue
		}
		if in && !isDelimiterRow(line) {
			rows = append(rows, cells(line))
		}
	}
	return rows
}

func isRow(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "|") }

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
	for _, row := range tableRows(lines, "flag") {
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
	labels    []string // sorted
	typ       string   // the type column
	collector string   // the collector column, without backticks
	rows      int      // how many rows name the metric
}

// readmeMetrics returns the rows of the Metrics table by metric name.
func readmeMetrics(readme string) (map[string]documentedMetric, error) {
	lines, err := section(readme, "Metrics")
	if err != nil {
		return nil, err
	}
	metrics := map[string]documentedMetric{}
	for _, row := range tableRows(lines, "metric") {
		names := codeSpans(row[0])
		if len(names) != 1 || len(row) < 3 {
			return nil, fmt.Errorf("README.md's Metrics table has a row %q, want `metric` | type | labels | collector | description", row)
		}
		labels := codeSpans(row[2])
		slices.Sort(labels)
		m := metrics[names[0]]
		d := documentedMetric{labels: labels, typ: strings.TrimSpace(row[1]), rows: m.rows + 1}
		if len(row) > 3 {
			d.collector = strings.Trim(strings.TrimSpace(row[3]), "`")
		}
		metrics[names[0]] = d
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
func metricDrift(descs, served map[string][]string, readme map[string]documentedMetric, x MetricExceptions) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for name, labels := range descs {
		doc, ok := readme[name]
		switch {
		case !ok:
			add("metric %s is a metric table entry but not in README.md's Metrics table", name)
		case !slices.Equal(doc.labels, labels):
			add("metric %s: README.md has labels %v, the metric table has %v", name, doc.labels, labels)
		}
	}
	for name, labels := range served {
		doc, ok := readme[name]
		switch {
		case !ok && !slices.ContainsFunc(x.UndocumentedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }):
			add("metric %s is served but not in README.md's Metrics table", name)
		case ok && !slices.Equal(doc.labels, labels):
			add("metric %s: README.md has labels %v, served with %v", name, doc.labels, labels)
		}
	}
	for name, doc := range readme {
		_, isDesc := descs[name]
		_, isServed := served[name]
		switch {
		case !isDesc && !isServed && !slices.Contains(x.OnlyOnEvents, name):
			add("metric %s is in README.md's Metrics table but neither a metric table entry, nor served, nor only served on events", name)
		case doc.rows > 1:
			add("metric %s is in README.md's Metrics table %d times", name, doc.rows)
		}
	}
	slices.Sort(problems)
	return problems
}
