package exportertest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
)

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
	var table catalog.Catalog
	table.Add(catalog.Metric{Name: "kernel_oom_kills_total", Help: "OOM kills.", Type: catalog.Counter,
		Collector: "oom", Key: []string{"cgroup", "pod"}})
	table.Add(catalog.Metric{Name: "kernel_tcp_resets_total", Help: "Resets.", Type: catalog.Counter,
		Collector: "tcp", Labels: []string{"direction", "family"}})
	table.Add(catalog.Metric{Name: "kernel_tcp_retries_total", Help: "Retries.", Type: catalog.Gauge,
		Collector: "tcp_retries", Labels: []string{"cgroup", "family"}})
	descs := map[string][]string{}
	for _, m := range table.Metrics()[:2] {
		descs[m.Name] = slices.Sorted(slices.Values(m.LabelNames()))
	}
	served := servedLabels(map[string]*dto.MetricFamily{
		"kernel_scrape_collector_success": family("kernel_scrape_collector_success", "collector"),
		"kernel_bpf_map_entries":          family("kernel_bpf_map_entries", "map"),
		"go_goroutines":                   family("go_goroutines"),
		"go_threads":                      family("go_threads"),
	})
	x := MetricExceptions{
		OnlyOnEvents:         []string{"kernel_series_overflow_total", "kernel_event_processing_duration_seconds"},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	}
	wantMetrics := []string{
		"metric go_goroutines: README.md has labels [a], served with []",
		"metric kernel_bpf_map_entries is served but not in README.md's Metrics table",
		"metric kernel_event_processing_duration_seconds is in README.md's Metrics table 2 times",
		"metric kernel_oom_kills_total: README.md has labels [cgroup], the metric table has [cgroup pod]",
		"metric kernel_scrape_collector_success: README.md has labels [collector reason], served with [collector]",
		"metric kernel_tcp_resets_total is a metric table entry but not in README.md's Metrics table",
		"metric kernel_tcp_retries_total is in README.md's Metrics table but neither a metric table entry, nor served, nor only served on events",
	}
	if got := metricDrift(descs, served, documented, x); !slices.Equal(got, wantMetrics) {
		t.Errorf("metric problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantMetrics, "\n"))
	}
	wantCatalog := []string{
		"metric kernel_oom_kills_total: README.md has labels [cgroup], the metric table [cgroup pod]",
		"metric kernel_tcp_resets_total is in the metric table but not in README.md's Metrics table",
		`metric kernel_tcp_retries_total: README.md has collector "tcp", the metric table "tcp_retries"`,
		`metric kernel_tcp_retries_total: README.md has type "counter", the metric table "gauge"`,
	}
	if got := catalogDrift(&table, documented); !slices.Equal(got, wantCatalog) {
		t.Errorf("metric table problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantCatalog, "\n"))
	}
}

// driftingREADME lacks --log.level, kernel_bpf_map_entries and
// kernel_tcp_resets_total, lists --web.max-requests, kernel_tcp_retries_total
// and go_goroutines (with a label the client would serve it without) that the
// code does not have, repeats a flag and a metric, and gets the labels of
// kernel_oom_kills_total and kernel_scrape_collector_success wrong. It lists
// kernel_series_overflow_total, which only events serve, and leaves out
// go_threads, which need not be listed. The tables after the Metrics table
// (label values, one without a header) are not metric rows.
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
	"| label | values |\n" +
	"| --- | --- |\n" +
	"| `family` | `ipv4`, `ipv6` |\n\n" +
	"| `kernel_tcp_drops_total` | a table without a header |\n\n" +
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

func TestMissingSection(t *testing.T) {
	_, err := readmeFlags("# x\n\n## Metrics\n\n| a | b |\n| - | - |\n")
	if want := `README.md has no "## Flags" section`; err == nil || err.Error() != want {
		t.Errorf("readmeFlags of a README without Flags = %v, want %q", err, want)
	}
}
