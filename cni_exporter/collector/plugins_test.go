package collector

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
)

const (
	invocations = "cni_plugin_invocations_total"
	durations   = "cni_plugin_duration_seconds"
)

func pluginsCollectorOf(dirs ...string) exporter.New {
	return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		return newPlugins(ctx, env, dirs)
	}
}

// installPlugin copies the executable src into dir as name.
func installPlugin(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runPlugin runs path with only env as its environment and returns its
// exit code.
func runPlugin(t *testing.T, path string, env ...string) int {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = env
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// counters returns the counter values of name in s whose series name has
// the prefix name{.
func counters(s collectortest.Snapshot, name string) map[string]float64 {
	out := map[string]float64{}
	for k, m := range s {
		if strings.HasPrefix(k, name+"{") && m.GetCounter() != nil {
			out[k] = m.GetCounter().GetValue()
		}
	}
	return out
}

// waitSeries scrapes h until the counters of name are exactly want.
func waitSeries(t *testing.T, h *collectortest.Harness, name string, want map[string]float64) collectortest.Snapshot {
	t.Helper()
	var s collectortest.Snapshot
	exportertest.Eventually(t, func() error {
		s = h.Scrape()
		if got := counters(s, name); !maps.Equal(got, want) {
			return fmt.Errorf("%s = %v, want %v", name, got, want)
		}
		return nil
	})
	return s
}

func invocationSeries(plugin, command, result string) string {
	return collectortest.SeriesOf(invocations, "plugin", plugin, "command", command, "result", result)
}

// TestPluginInvocations runs binaries of a plugin directory, reached
// through a symbolic link, with the environments a runtime gives CNI
// plugins: each process is one invocation of its plugin and CNI_COMMAND,
// a success when it exits 0, with one duration sample. Binaries outside
// the directory are not counted.
func TestPluginInvocations(t *testing.T) {
	dir := t.TempDir()
	ok := installPlugin(t, "/bin/true", dir, "ok-plugin")
	bad := installPlugin(t, "/bin/false", dir, "bad-plugin")
	link := filepath.Join(t.TempDir(), "cni-bin")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	h := collectortest.New(t, "cni", "plugins", pluginsCollectorOf(link, "/nonexistent/cni/bin"))

	filler := "FILLER=" + strings.Repeat("x", 3*envMax()) // pushes CNI_COMMAND beyond the first pages
	runPlugin(t, ok, "CNI_COMMAND=ADD", "CNI_IFNAME=eth0")
	runPlugin(t, ok, "CNI_COMMAND=ADD")
	if code := runPlugin(t, bad, "CNI_COMMAND=DEL"); code != 1 {
		t.Fatalf("bad-plugin exited %d, want 1", code)
	}
	runPlugin(t, ok, "CNI_COMMAND=BOGUS")
	runPlugin(t, ok, "PATH=/bin")
	runPlugin(t, ok, filler, "CNI_COMMAND=CHECK")
	runPlugin(t, "/bin/true", "CNI_COMMAND=ADD")

	s := waitSeries(t, h, invocations, map[string]float64{
		invocationSeries("ok-plugin", "ADD", "success"):   2,
		invocationSeries("bad-plugin", "DEL", "failure"):  1,
		invocationSeries("ok-plugin", "other", "success"): 2,
		invocationSeries("ok-plugin", "CHECK", "success"): 1,
	})
	for _, c := range []struct {
		plugin, command string
		want            uint64
	}{{"ok-plugin", "ADD", 2}, {"bad-plugin", "DEL", 1}, {"ok-plugin", "other", 2}, {"ok-plugin", "CHECK", 1}} {
		hist := s.Histogram(durations, "plugin", c.plugin, "command", c.command)
		if hist.GetSampleCount() != c.want || !(hist.GetSampleSum() > 0) || hist.GetSampleSum() > 10 {
			t.Errorf("%s{%s,%s}: count %d sum %v, want count %d and a sum in (0, 10] s",
				durations, c.plugin, c.command, hist.GetSampleCount(), hist.GetSampleSum(), c.want)
		}
	}
	// Every tracked start was deleted by its exit: the count that lets
	// other exits skip the lookup is back to zero, with no row left.
	objs := &h.C.(*pluginsCollector).objs
	var tracked uint64
	if err := objs.PluginsTracked.Get(&tracked); err != nil {
		t.Fatal(err)
	}
	var key uint32
	var start uint64
	rows := objs.PluginStarts.Iterate()
	for rows.Next(&key, &start) {
		t.Errorf("plugin_starts still holds tgid %d", key)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if tracked != 0 {
		t.Errorf("plugins_tracked = %d after every plugin exited, want 0", tracked)
	}
}

// TestPluginDirectoryAddedLater: a plugin directory made after the
// collector started is watched within pollInterval.
func TestPluginDirectoryAddedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	h := collectortest.New(t, "cni", "plugins", pluginsCollectorOf(dir))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ok := installPlugin(t, "/bin/true", dir, "late-plugin")
	exportertest.Eventually(t, func() error {
		runPlugin(t, ok, "CNI_COMMAND=VERSION")
		if got := h.Scrape().Counter(invocations, "plugin", "late-plugin", "command", "VERSION", "result", "success"); got == 0 {
			return fmt.Errorf("late-plugin not counted yet")
		}
		return nil
	})
}

func labelOf(m interface{ GetLabel() []*dto.LabelPair }, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
