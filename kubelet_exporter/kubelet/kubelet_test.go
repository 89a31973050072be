package kubelet

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func seed(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("..", "collector", "testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// FuzzDecodeSummary: any input decodes or fails with an error, never a
// panic; what decodes re-decodes the same from its own encoding's pods.
func FuzzDecodeSummary(f *testing.F) {
	seed(f, "summary.json")
	f.Add([]byte(`{"node":{},"pods":null}`))
	f.Add([]byte(`{"pods":[{"podRef":{"name":"a"},"containers":[{"name":"c","rootfs":{"usedBytes":1}}]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSummary(bytes.NewReader(b))
		if err == nil && s == nil {
			t.Fatal("nil summary without error")
		}
	})
}

// FuzzDecodePods: any input decodes or fails with an error, never a panic.
func FuzzDecodePods(f *testing.F) {
	seed(f, "pods.json")
	f.Add([]byte(`{"items":[{"metadata":{"uid":"u"},"spec":{"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}}]}}]}`))
	f.Add([]byte(`{"items":[{"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePods(bytes.NewReader(b))
		if err == nil && p == nil {
			t.Fatal("nil specs without error")
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"pods":{}}`, `{"pods":[1]}`, `{"node":[]}`, `{"pods":[{"containers":"x"}]}`,
		`{"node":{}} trailing`, // only the first value is read: fine, no error expected below
	} {
		_, err := DecodeSummary(strings.NewReader(in))
		if err == nil && !strings.Contains(in, "trailing") {
			t.Errorf("DecodeSummary(%q): no error", in)
		}
	}
	for _, in := range []string{
		`{"items":[{"spec":{"containers":[{"resources":{"limits":{"ephemeral-storage":"lots"}}}]}}]}`,
		`{"items":[{"spec":{"volumes":[{"name":1}]}}]}`,
		`{"items":{}}`,
	} {
		if _, err := DecodePods(strings.NewReader(in)); err == nil {
			t.Errorf("DecodePods(%q): no error", in)
		}
	}
}

// TestPodLimits: the limit as the eviction manager computes it.
func TestPodLimits(t *testing.T) {
	for _, c := range []struct {
		spec  string
		limit int64
		has   bool
	}{
		{`{"containers":[{},{}]}`, 0, false},
		{`{"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}},{}]}`, 1 << 30, true},
		{`{"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}},{"resources":{"limits":{"ephemeral-storage":"500M"}}}]}`, 1<<30 + 500e6, true},
		// an init container larger than the sum
		{`{"initContainers":[{"resources":{"limits":{"ephemeral-storage":"3Gi"}}}],"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}}]}`, 3 << 30, true},
		// a sidecar adds to the sum
		{`{"initContainers":[{"restartPolicy":"Always","resources":{"limits":{"ephemeral-storage":"1Gi"}}}],"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}}]}`, 2 << 30, true},
		// the pod-level limit wins
		{`{"resources":{"limits":{"ephemeral-storage":"5Gi"}},"containers":[{"resources":{"limits":{"ephemeral-storage":"1Gi"}}}]}`, 5 << 30, true},
	} {
		specs, err := DecodePods(strings.NewReader(`{"kind":"PodList","items":[{"metadata":{"uid":"u"},"spec":` + c.spec + `}]}`))
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := specs["u"]; got.EphemeralStorageLimit != c.limit || got.HasLimit != c.has {
			t.Errorf("%s: limit %d (has %v), want %d (%v)", c.spec, got.EphemeralStorageLimit, got.HasLimit, c.limit, c.has)
		}
	}
}

func TestExpandAddress(t *testing.T) {
	env := map[string]string{"HOST_IP": "10.0.0.7", "V6": "fd00::7"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		DefaultAddress:            "https://10.0.0.7:10250",
		"https://${V6}:10250/":    "https://[fd00::7]:10250",
		"https://127.0.0.1:11250": "https://127.0.0.1:11250",
	} {
		if got, err := ExpandAddress(in, lookup); err != nil || got != want {
			t.Errorf("ExpandAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"https://${NODE_IP}:10250", "10.0.0.1:10250", "https://:10250", "unix:///x"} {
		if _, err := ExpandAddress(in, lookup); err == nil {
			t.Errorf("ExpandAddress(%q): no error", in)
		}
	}
}

// TestCache: within the interval one fetch serves every caller; after a
// failure nothing is fetched until the backoff has passed, and nothing old
// is served meanwhile.
func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	calls, fail := 0, false
	c := newCached(10*time.Second, func(context.Context) (int, error) {
		calls++
		if fail {
			return 0, errors.New("down")
		}
		return calls, nil
	})
	c.now = func() time.Time { return now }
	ctx := context.Background()
	get := func() (int, error) { return c.get(ctx) }
	if v, err := get(); v != 1 || err != nil {
		t.Fatalf("first: %d, %v", v, err)
	}
	now = now.Add(9 * time.Second)
	if v, _ := get(); v != 1 || calls != 1 {
		t.Fatalf("within the interval: %d after %d calls, want the first reply", v, calls)
	}
	now = now.Add(time.Second)
	fail = true
	if _, err := get(); err == nil || calls != 2 {
		t.Fatalf("after the interval: %v after %d calls, want a new failing call", err, calls)
	}
	now = now.Add(400 * time.Millisecond) // the first backoff is 0.5s to 1.5s
	if v, err := get(); err == nil || v != 0 || calls != 2 || !strings.Contains(err.Error(), "backing off") {
		t.Fatalf("during the backoff: %d, %v after %d calls", v, err, calls)
	}
	now = now.Add(2 * time.Second)
	fail = false
	if v, err := get(); err != nil || v != 3 {
		t.Fatalf("after the backoff: %d, %v", v, err)
	}
}

// TestStatusErrors: error paths a real kubelet does not produce on demand
// (a 500, garbage, a reply cut short), through the client's HTTP path.
func TestStatusErrors(t *testing.T) {
	replies := map[string]func(http.ResponseWriter){
		"/stats/summary": func(w http.ResponseWriter) { w.WriteHeader(500); w.Write([]byte("boom")) },
		"/pods":          func(w http.ResponseWriter) { w.Write([]byte(`{"items":[{"metadata":`)) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		replies[r.URL.Path](w)
	}))
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("tok\n"), 0o600)
	k, err := New(Config{Address: srv.URL, TokenFile: tok, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Summary(context.Background())
	var status *StatusError
	if !errors.As(err, &status) || status.Code != 500 || !strings.Contains(err.Error(), "boom") {
		t.Errorf("500: %v", err)
	}
	if _, err := k.Pods(context.Background()); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("cut short: %v", err)
	}
	os.WriteFile(tok, []byte("other"), 0o600)
	k2, _ := New(Config{Address: srv.URL, TokenFile: tok, Timeout: time.Second}, nil)
	if _, err := k2.Summary(context.Background()); !errors.As(err, &status) || status.Code != 401 || !strings.Contains(err.Error(), "does not accept the token") {
		t.Errorf("401: %v", err)
	}
	if _, err := New(Config{Address: srv.URL, CAFile: tok, Timeout: time.Second}, nil); err == nil {
		t.Error("a CA file without a certificate accepted")
	}
}

// TestScrapeDeadline: a kubelet that does not answer (an error path the
// real kubelet does not produce on demand) costs a scrape no more than its
// deadline; the request is timed with code "error".
func TestScrapeDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	k, err := New(Config{Address: srv.URL, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := k.Summary(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the scrape's deadline", err)
	}
	if n := testutil.CollectAndCount(k.Requests); n != 1 {
		t.Fatalf("%d request series, want 1", n)
	}
	m, err := k.Requests.GetMetricWithLabelValues(SummaryPath, "error")
	if err != nil {
		t.Fatal(err)
	}
	var d dto.Metric
	if err := m.(prometheus.Metric).Write(&d); err != nil || d.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("error requests timed: %v, %v", d.GetHistogram().GetSampleCount(), err)
	}
}
