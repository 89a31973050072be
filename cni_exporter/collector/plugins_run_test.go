package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/retry"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestPluginsReaderFailureFailsScrapes: the plugins collector's ring-buffer
// reader is its Runner, so when reading fails the scaffold retries it and
// every scrape meanwhile reports cni_scrape_collector_success{collector=
// "plugins"} 0 (the reader used to be a goroutine that stopped for good
// while the collector kept reporting 1). A reader of a real, open ring
// buffer fails only on a broken epoll, which a test cannot make; so the
// exporter here runs the real collector with its ring buffer's map closed,
// on which every reader fails.
func TestPluginsReaderFailureFailsScrapes(t *testing.T) {
	testenv.RequireRoot(t)
	broken := exporter.Spec{Name: "plugins", Default: true,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			c, err := newPlugins(ctx, env, []string{t.TempDir()})
			if err != nil {
				return nil, err
			}
			if err := c.objs.PluginEvents.Close(); err != nil {
				return nil, fmt.Errorf("closing plugin_events: %w (and %w)", err, c.Close())
			}
			return c, nil
		}}
	url, log := runExporter(t, exporter.Program{
		Name:       "cni_exporter",
		Namespace:  "cni",
		Collectors: []exporter.Spec{broken},
		Components: []exporter.ComponentSpec{bpfload.Component},
		Retry:      []retry.Option{retry.Initial(10 * time.Millisecond), retry.Max(50 * time.Millisecond)},
	})
	const retries = 3
	exportertest.Eventually(t, func() error {
		if n := strings.Count(log.String(), `msg="Background work failed"`); n < retries {
			return fmt.Errorf("reader failed %d times, want %d or more", n, retries)
		}
		return nil
	})
	for range 5 {
		if got := pluginsSuccess(t, url); got != 0 {
			t.Fatalf("cni_scrape_collector_success{collector=\"plugins\"} = %v while the reader fails, want 0", got)
		}
	}
}

var listeningOn = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// runExporter runs p in-process on a free loopback port until the test
// ends, and returns its URL and log.
func runExporter(t *testing.T, p exporter.Program) (string, *testenv.LogBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &testenv.LogBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- exporter.MainContext(ctx, p, exportertest.ListenArgs(), io.Discard, log)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exporter exited with %d; log:\n%s", code, log)
		}
	})
	var url string
	exportertest.Eventually(t, func() error {
		m := listeningOn.FindStringSubmatch(log.String())
		if m == nil {
			return fmt.Errorf("exporter not listening; log:\n%s", log)
		}
		url = "http://" + m[1]
		return nil
	})
	return url, log
}

// pluginsSuccess scrapes url and returns the plugins collector's
// cni_scrape_collector_success, -1 when absent.
func pluginsSuccess(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := exportertest.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := exportertest.ByLabel(fams, "cni_scrape_collector_success", "collector")["plugins"]; ok {
		return v
	}
	return -1
}
