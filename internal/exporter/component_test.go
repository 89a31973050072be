package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// client is a component: what a D-Bus connection or an API client is to a
// real exporter.
type client struct {
	address string
	events  *eventLog
}

func (c *client) Close() error {
	c.events.add("client closed")
	return nil
}

// eventLog records the order of lifecycle events.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// clientComponent is a component "client" with a --client.address flag
// that fails its first fails attempts.
func clientComponent(fails *atomic.Int32, events ...*eventLog) exporter.ComponentSpec {
	log := &eventLog{}
	if len(events) > 0 {
		log = events[0]
	}
	return exporter.ComponentSpec{
		Name: "client",
		Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
			address := fs.Flag("address", "Where the client connects.").Default("localhost:1").String()
			return func(context.Context, exporter.Env) (any, error) {
				if fails.Add(-1) >= 0 {
					return nil, errors.New("connection refused")
				}
				return &client{address: *address, events: log}, nil
			}
		},
	}
}

// usesClient is a collector that serves test_client_info{address} from the
// client component, and records its Close.
func usesClient(events *eventLog) exporter.Spec {
	desc := prometheus.NewDesc("test_client_info", "The client's address.", []string{"address"}, nil)
	return exporter.Spec{
		Name:    "uses_client",
		Default: true,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			c, err := exporter.Use[*client](ctx, env, "client")
			if err != nil {
				return nil, err
			}
			return closeFunc{
				updateFunc: func(_ context.Context, ch chan<- prometheus.Metric) error {
					ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, c.address)
					return nil
				},
				close: func() { events.add("collector closed") },
			}, nil
		},
	}
}

type closeFunc struct {
	updateFunc
	close func()
}

func (c closeFunc) Close() error {
	c.close()
	return nil
}

// capped has a series cap flag.
func capped() exporter.Spec {
	return exporter.Spec{
		Name:      "capped",
		MaxSeries: 100,
		Constructor: func(_ context.Context, env exporter.Env) (exporter.Collector, error) {
			desc := prometheus.NewDesc("test_max_series", "Env.MaxSeries.", nil, nil)
			return updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(env.MaxSeries))
				return nil
			}), nil
		},
	}
}

// A component is constructed once, retried while it fails, handed to the
// collectors that ask for it, and closed after them.
func TestComponentReachesCollectors(t *testing.T) {
	var fails atomic.Int32
	fails.Store(2)
	events := &eventLog{}
	p := program(usesClient(events))
	p.Components = []exporter.ComponentSpec{clientComponent(&fails, events)}
	r := start(t, p, "--client.address=db:2379")
	r.waitReady(t)
	eventually(t, "the collector serves the client's address", func() bool {
		got, ok := value(r.scrape(t), "test_client_info", "address", "db:2379")
		return ok && got == 1
	})
	if code := r.stop(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if got, want := events.get(), []string{"collector closed", "client closed"}; !slices.Equal(got, want) {
		t.Errorf("shutdown order %v, want %v", got, want)
	}
	if n := strings.Count(r.stderr.String(), `msg="Cannot construct component" component=client err="connection refused"`); n != 2 {
		t.Errorf("component failure logged %d times, want 2:\n%s", n, r.stderr.String())
	}
}

// A component may use the components listed before it.
func TestComponentUsesAnEarlierOne(t *testing.T) {
	var fails atomic.Int32
	events := &eventLog{}
	wrapper := exporter.ComponentSpec{
		Name: "wrapper",
		Constructor: func(ctx context.Context, env exporter.Env) (any, error) {
			c, err := exporter.Use[*client](ctx, env, "client")
			if err != nil {
				return nil, err
			}
			return &client{address: "wrapped " + c.address, events: events}, nil
		},
	}
	spec := exporter.Spec{Name: "reads_wrapper", Default: true,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			w, err := exporter.Use[*client](ctx, env, "wrapper")
			if err != nil {
				return nil, err
			}
			desc := prometheus.NewDesc("test_wrapper_info", "Wrapped.", []string{"address"}, nil)
			return updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, w.address)
				return nil
			}), nil
		}}
	p := program(spec)
	p.Components = []exporter.ComponentSpec{clientComponent(&fails, events), wrapper}
	r := start(t, p)
	r.waitReady(t)
	eventually(t, "the collector serves the wrapped client", func() bool {
		_, ok := value(r.scrape(t), "test_wrapper_info", "address", "wrapped localhost:1")
		return ok
	})
	r.stop(t)
	if got, want := events.get(), []string{"client closed", "client closed"}; !slices.Equal(got, want) {
		t.Errorf("closes %v, want both components closed", got)
	}
}

// A collector asking for a component the Program does not list fails with
// an error naming it.
func TestComponentNotInProgram(t *testing.T) {
	r := start(t, program(usesClient(&eventLog{})))
	eventually(t, "the constructor failed", func() bool {
		return strings.Contains(r.stderr.String(), "Cannot construct collector")
	})
	if got, _ := value(r.scrape(t), "test_scrape_collector_success", "collector", "uses_client"); got != 0 {
		t.Errorf("success = %v, want 0", got)
	}
	if !strings.Contains(r.stderr.String(), "component client: component not listed in the Program") {
		t.Errorf("missing component not logged:\n%s", r.stderr.String())
	}
}

// A component the host cannot support makes the collectors that need it
// unsupported, not failing.
func TestUnsupportedComponent(t *testing.T) {
	var attempts atomic.Int32
	noBus := exporter.ComponentSpec{Name: "client", Constructor: func(context.Context, exporter.Env) (any, error) {
		attempts.Add(1)
		return nil, fmt.Errorf("no system bus: %w", errors.ErrUnsupported)
	}}
	var closes atomic.Int32
	p := program(usesClient(&eventLog{}), gauge(&closes))
	p.Components = []exporter.ComponentSpec{noBus}
	r := start(t, p)
	r.waitReady(t)
	mfs := r.scrape(t)
	if got, ok := value(mfs, "test_exporter_collector_unsupported", "collector", "uses_client"); !ok || got != 1 {
		t.Errorf("uses_client unsupported = %v (present %v), want 1", got, ok)
	}
	if _, ok := value(mfs, "test_scrape_collector_success", "collector", "uses_client"); ok {
		t.Error("an unsupported collector reports success")
	}
	if got, _ := value(mfs, "test_static_value"); got != 42 {
		t.Errorf("other collector's value = %v, want 42", got)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("unsupported component constructed %d times, want 1", n)
	}
}

// flaky is a collector whose background work fails while fail is set and
// otherwise runs until it is stopped; events records Run's return and Close.
func flaky(fail *atomic.Bool, runs *atomic.Int32, events *eventLog) exporter.Spec {
	return exporter.Spec{Name: "flaky", Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			return &runner{fail: fail, runs: runs, events: events}, nil
		}}
}

type runner struct {
	fail   *atomic.Bool
	runs   *atomic.Int32
	events *eventLog
}

func (r *runner) Update(context.Context, chan<- prometheus.Metric) error { return nil }

func (r *runner) Run(ctx context.Context) error {
	r.runs.Add(1)
	if r.fail.Load() {
		return errors.New("watch stream broken")
	}
	<-ctx.Done()
	r.events.add("run returned")
	return nil
}

func (r *runner) Close() error {
	r.events.add("collector closed")
	return nil
}

// Background work that fails is retried, and the collector reports
// success 0 until it runs again without failing; it stops before Close.
func TestRunnerFailureIsVisibleAndRetried(t *testing.T) {
	var fail atomic.Bool
	var runs atomic.Int32
	events := &eventLog{}
	fail.Store(true)
	r := start(t, program(flaky(&fail, &runs, events)))
	r.waitReady(t)
	eventually(t, "Run retried 3 times", func() bool { return runs.Load() >= 3 })
	if got, _ := value(r.scrape(t), "test_scrape_collector_success", "collector", "flaky"); got != 0 {
		t.Errorf("success while the background work fails = %v, want 0", got)
	}
	fail.Store(false)
	eventually(t, "success 1 once the background work runs", func() bool {
		got, _ := value(r.scrape(t), "test_scrape_collector_success", "collector", "flaky")
		return got == 1
	})
	r.stop(t)
	if got, want := events.get(), []string{"run returned", "collector closed"}; !slices.Equal(got, want) {
		t.Errorf("shutdown order %v, want %v", got, want)
	}
	if !strings.Contains(r.stderr.String(), "watch stream broken") {
		t.Errorf("background failure not logged:\n%s", r.stderr.String())
	}
}

// Background work the host cannot support makes its collector unsupported
// and is not retried.
func TestUnsupportedRunner(t *testing.T) {
	var runs atomic.Int32
	spec := exporter.Spec{Name: "no_ringbuf", Default: true,
		Constructor: func(context.Context, exporter.Env) (exporter.Collector, error) {
			return struct {
				updateFunc
				exporter.RunFunc
			}{
				func(context.Context, chan<- prometheus.Metric) error { return nil },
				func(context.Context) error {
					runs.Add(1)
					return fmt.Errorf("ring buffer: %w", errors.ErrUnsupported)
				},
			}, nil
		}}
	r := start(t, program(spec))
	r.waitReady(t)
	eventually(t, "collector reported unsupported", func() bool {
		got, _ := value(r.scrape(t), "test_exporter_collector_unsupported", "collector", "no_ringbuf")
		return got == 1
	})
	if n := runs.Load(); n != 1 {
		t.Errorf("unsupported Run called %d times, want 1", n)
	}
}

// RunAll runs its runners together: the first failure stops the others.
func TestRunAll(t *testing.T) {
	stopped := make(chan struct{})
	err := exporter.RunAll(
		exporter.RunFunc(func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return nil
		}),
		exporter.RunFunc(func(context.Context) error { return errors.New("poll failed") }),
	).Run(t.Context())
	if err == nil || err.Error() != "poll failed" {
		t.Errorf("RunAll() = %v, want the failure", err)
	}
	<-stopped
	if err := exporter.RunAll(
		exporter.RunFunc(func(context.Context) error { return nil }),
		exporter.RunFunc(func(context.Context) error { return nil }),
	).Run(t.Context()); err != nil {
		t.Errorf("RunAll() of finished runners = %v, want nil", err)
	}
}

// --collector.<name>.max-series reaches Env.MaxSeries and is validated.
func TestMaxSeriesFlag(t *testing.T) {
	spec := capped()
	spec.Default = true
	r := start(t, program(spec), "--collector.capped.max-series=7")
	r.waitReady(t)
	if got, _ := value(r.scrape(t), "test_max_series"); got != 7 {
		t.Errorf("Env.MaxSeries = %v, want 7", got)
	}
	var stderr strings.Builder
	code := exporter.MainContext(t.Context(), program(spec), []string{"--collector.capped.max-series=0"}, &strings.Builder{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--collector.capped.max-series: must be at least 1") {
		t.Errorf("max-series 0: exit %d, stderr %q; want 2 and the flag named", code, stderr.String())
	}
}

// The scaffold links no eBPF, workload or CRI code: an exporter of D-Bus,
// etcd or the Kubernetes API built on it carries none of it.
func TestScaffoldDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/cilium/ebpf",
			"github.com/bpfleet/bpfleet/internal/workload",
			"github.com/bpfleet/bpfleet/internal/bpfload",
			"github.com/bpfleet/bpfleet/internal/cri",
			"k8s.io/cri-api",
			"google.golang.org/grpc",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("internal/exporter depends on %s", dep)
			}
		}
	}
}

// A constructor that returns a typed nil with its error has not built a
// component: collectors get the error, never the nil.
func TestComponentTypedNilWithErrorIsNotBuilt(t *testing.T) {
	var attempts atomic.Int32
	flaky := exporter.ComponentSpec{Name: "client", Constructor: func(context.Context, exporter.Env) (any, error) {
		if attempts.Add(1) == 1 {
			var c *client
			return c, errors.New("dial: connection refused")
		}
		return &client{address: "db:2379", events: &eventLog{}}, nil
	}}
	p := program(usesClient(&eventLog{}))
	p.Components = []exporter.ComponentSpec{flaky}
	r := start(t, p)
	eventually(t, "the collector serves the client built on the second attempt", func() bool {
		_, ok := value(r.scrape(t), "test_client_info", "address", "db:2379")
		return ok
	})
	if strings.Contains(r.stderr.String(), "panic") {
		t.Errorf("a collector was handed the typed nil:\n%s", r.stderr.String())
	}
}
