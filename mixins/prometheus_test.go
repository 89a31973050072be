package mixins

import (
	"encoding/json"
	"fmt"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// promServer is a real Prometheus (2.42, the Debian package's binary, or
// 3.x, built by scripts/test-deps.d/prometheus3.sh) run by a test, with its
// own configuration and storage in the test's temporary directory.
type promServer struct {
	native bool   // ingests native histograms
	v3     bool   // Prometheus 3.x
	name   string // for messages: "native", "classic" or "v3-native"
	url    string // http://127.0.0.1:port
	log    *testenv.LogBuffer
}

// liveCluster is the cluster label every live test's scrape targets carry
// (the $cluster of the dashboards' queries), so that the mixins'
// aggregations by cluster are exercised with a value.
const liveCluster = "live"

// prometheus3Version is the Prometheus 3 release that
// scripts/test-deps.d/prometheus3.sh builds (from module
// github.com/prometheus/prometheus v0.316.0) into $BPFLEET_CACHE.
const prometheus3Version = "v3.16.0"

// prometheus3Binary returns the Prometheus 3 that
// scripts/test-deps.d/prometheus3.sh caches, skipping the test when not
// root and failing it when root and the binary is missing.
func prometheus3Binary(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	cache := os.Getenv("BPFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/bpfleet"
	}
	path := filepath.Join(cache, "prometheus-"+prometheus3Version, "prometheus")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Prometheus %s not built: run scripts/test-deps.d/prometheus3.sh (`make test-deps`): %v", prometheus3Version, err)
	}
	return path
}

// startServers runs the three servers every live test checks the mixins
// on, all scraping jobs with ruleFiles loaded: Prometheus 2.42 (binary)
// with native histograms and without, and Prometheus 3 with native
// histograms through its configuration (scrape_native_histograms: true).
func startServers(t *testing.T, binary string, ruleFiles []string, jobs []scrapeJob) []*promServer {
	t.Helper()
	v3 := prometheus3Binary(t)
	return []*promServer{
		startPrometheus(t, binary, true, false, ruleFiles, jobs),
		startPrometheus(t, binary, false, false, ruleFiles, jobs),
		startPrometheus(t, v3, true, true, ruleFiles, jobs),
	}
}

// scrapeJob is a scrape job of one target.
type scrapeJob struct {
	Name   string
	Target string // host:port
}

// promConfig is Prometheus's configuration: 1s scrapes and rule
// evaluations, the rule files, one job per exporter whose target carries
// cluster="live". With v3native, each job scrapes native histograms the
// Prometheus 3 way (scrape_native_histograms: true; 2.x has the
// --enable-feature=native-histograms flag instead).
func promConfig(ruleFiles []string, jobs []scrapeJob, v3native bool) ([]byte, error) {
	type staticConfig struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	type scrapeConfig struct {
		JobName                string         `json:"job_name"`
		ScrapeNativeHistograms bool           `json:"scrape_native_histograms,omitempty"`
		StaticConfigs          []staticConfig `json:"static_configs"`
	}
	cfg := struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []scrapeConfig    `json:"scrape_configs"`
	}{
		Global:    map[string]string{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		RuleFiles: ruleFiles,
	}
	for _, j := range jobs {
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{j.Name, v3native, []staticConfig{{[]string{j.Target}, map[string]string{"cluster": liveCluster}}}})
	}
	// JSON is YAML.
	return json.Marshal(cfg)
}

// startPrometheus runs binary with ruleFiles loaded, scraping jobs, until
// the test ends. With native, a 2.x (not v3) runs with
// --enable-feature=native-histograms: Prometheus 2.42 then scrapes
// protobuf and stores only the native histogram of a histogram that has
// both; without it scrapes the text format and stores only the classic
// buckets. A v3 (Prometheus 3.x) with native gets scrape_native_histograms:
// true in its scrape configurations instead, and stores only the native
// histogram too (always_scrape_classic_histograms is off).
func startPrometheus(t *testing.T, binary string, native, v3 bool, ruleFiles []string, jobs []scrapeJob) *promServer {
	t.Helper()
	s := &promServer{native: native, v3: v3, name: "classic", log: &testenv.LogBuffer{}}
	if native {
		s.name = "native"
	}
	if v3 {
		s.name = "v3-" + s.name
	}
	dir := filepath.Join(t.TempDir(), "prometheus-"+s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := promConfig(ruleFiles, jobs, v3 && native)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s.url = "http://" + addr
	args := []string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr}
	if native && !v3 {
		args = append(args, "--enable-feature=native-histograms")
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s prometheus log:\n%s", s.name, s.log)
		}
	})
	s.waitReady(t, exited)
	return s
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (Prometheus cannot report the port the kernel gave it).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady waits until Prometheus answers /-/ready.
func (s *promServer) waitReady(t *testing.T, exited <-chan struct{}) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s prometheus exited before it was ready; log:\n%s", s.name, s.log)
		case <-deadline:
			t.Fatalf("%s prometheus not ready after 30s; log:\n%s", s.name, s.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// apiResponse is the envelope of every Prometheus HTTP API answer.
type apiResponse struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

// get calls the HTTP API at path with query parameters and decodes its
// data into data.
func (s *promServer) get(path string, params url.Values, data any) error {
	resp, err := http.Get(s.url + path + "?" + params.Encode())
	if err != nil {
		return fmt.Errorf("%s prometheus: %w", s.name, err)
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s prometheus %s: decoding: %w", s.name, path, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s prometheus %s: %s", s.name, path, r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

// series returns how many series the instant query expr returns now.
func (s *promServer) series(expr string) (int, error) {
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	err := s.get("/api/v1/query", url.Values{"query": {expr}}, &data)
	return len(data.Result), err
}

// alertStates returns the state (pending, firing) of every active alert by
// its name: firing when one of its series fires.
func (s *promServer) alertStates() (map[string]string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := s.get("/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	states := map[string]string{}
	for _, a := range data.Alerts {
		if states[a.Labels["alertname"]] != "firing" {
			states[a.Labels["alertname"]] = a.State
		}
	}
	return states, nil
}

// rulesLoaded returns how many rules Prometheus has loaded.
func (s *promServer) rulesLoaded() (int, error) {
	var data struct {
		Groups []struct {
			Rules []json.RawMessage `json:"rules"`
		} `json:"groups"`
	}
	if err := s.get("/api/v1/rules", nil, &data); err != nil {
		return 0, err
	}
	n := 0
	for _, g := range data.Groups {
		n += len(g.Rules)
	}
	return n, nil
}
