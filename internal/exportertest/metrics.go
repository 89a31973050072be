package exportertest

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses a scrape in the Prometheus text format into its families, by
// name.
func Parse(body []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return fams, nil
}

// ByLabel returns the values of the gauge, counter or untyped family name,
// keyed by the value of label; series that lack label are keyed by "".
func ByLabel(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	got := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		got[LabelValue(m, label)] = Value(m)
	}
	return got
}

// Value returns the value of a gauge, counter or untyped metric.
func Value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// LabelValue returns the value of m's label name, "" when it has none.
func LabelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// LogLines returns the lines of log that contain every one of parts,
// trimmed.
func LogLines(log string, parts ...string) []string {
	var lines []string
	for line := range strings.Lines(log) {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// PromtoolCheck runs `promtool check metrics` on a scrape in the text format
// and fails the test when promtool fails or reports anything. It skips the
// test when promtool is not installed.
func PromtoolCheck(tb testing.TB, body []byte) {
	tb.Helper()
	promtool := RequireCommand(tb, "promtool", "make test installs it with the prometheus Debian package")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		tb.Errorf("promtool check metrics: %v, output:\n%s", err, out)
	}
}
