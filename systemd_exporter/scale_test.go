package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/systemd_exporter/sdtest"
)

// bulkUnits is how many units TestThousandUnits and the benchmarks start.
const bulkUnits = 1000

// bootBulk boots a systemd with bulkUnits more units active
// (bulk@0..999.service, oneshot with RemainAfterExit): 1,139 in all.
func bootBulk(tb testing.TB) *sdtest.System {
	sys := sdtest.Boot(tb)
	sys.AddUnit(tb, "bulk@.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n")
	args := []string{"start"}
	for i := range bulkUnits {
		args = append(args, fmt.Sprintf("bulk@%d.service", i))
	}
	sys.Systemctl(tb, args...)
	return sys
}

// dbusCalls is the number of D-Bus calls the exporter has made, from its
// own histogram.
func dbusCalls(fams map[string]*dto.MetricFamily) uint64 {
	var n uint64
	for _, m := range fams["systemd_dbus_request_duration_seconds"].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// TestThousandUnits: 1,000 transient units (systemd-run, as jobs and
// sessions make them) started at once are each counted exactly
// once into activating and once into active (2,000 transitions from
// signals); scrapes succeed without dbus-daemon's pending-replies error;
// once every unit is fetched, a scrape makes exactly two D-Bus calls
// (ListUnits, SystemState: nothing changes and accounting is off in the
// container, so no unit is fetched again); and the exporter's open file
// descriptors and goroutines do not grow over 20 more scrapes.
func TestThousandUnits(t *testing.T) {
	sys := sdtest.Boot(t)
	p := startExporter(t, sys, `--collector.unit.include=transient-[0-9]+\.service`)
	sys.Run(t, "sh", "-c", fmt.Sprintf("for i in $(seq 0 %d); do systemd-run --quiet --no-block --unit=transient-$i "+
		"--property=Type=oneshot --remain-after-exit /bin/true || exit 1; done", bulkUnits-1))

	var fams map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		var err error
		if fams, err = p.Scrape(); err != nil {
			return err
		}
		if got := exportertest.ByLabel(fams, "systemd_units", "state")["active"]; got != bulkUnits {
			return fmt.Errorf("systemd_units{state=active} = %v, want %d", got, bulkUnits)
		}
		trans := sumBy(fams, "systemd_unit_state_transitions_total", "state")
		if trans["active"] != bulkUnits || trans["activating"] != bulkUnits || len(trans) != 2 {
			return fmt.Errorf("transitions by state = %v, want %d activating and %d active", trans, bulkUnits, bulkUnits)
		}
		return nil
	})
	if got := exportertest.ByLabel(fams, "systemd_scrape_collector_success", "collector")["unit"]; got != 1 {
		t.Errorf("unit collector success = %v", got)
	}
	if n := len(byName(fams, "systemd_unit_state_transitions_total", map[string]string{"state": "active"})); n != bulkUnits {
		t.Errorf("%d units have an active transition, want %d", n, bulkUnits)
	}

	first := scrape(t, p)
	var calls []uint64
	last := dbusCalls(first)
	for range 20 {
		fams = scrape(t, p)
		calls = append(calls, dbusCalls(fams)-last)
		last = dbusCalls(fams)
		if got := exportertest.ByLabel(fams, "systemd_scrape_collector_success", "collector")["unit"]; got != 1 {
			t.Fatalf("unit collector success = %v", got)
		}
	}
	for i, n := range calls {
		if n != 2 {
			t.Errorf("scrape %d made %d D-Bus calls, want 2", i, n)
		}
	}
	for _, name := range []string{"process_open_fds", "go_goroutines"} {
		before, _ := value(first, name, nil)
		after, _ := value(fams, name, nil)
		t.Logf("%s: %v after the first scrape, %v 20 scrapes later", name, before, after)
		// A goroutine or descriptor of the moment (a connection the HTTP
		// client opened anew, a signal being handled) goes again; a leak
		// stays: look again for a few seconds before calling it one.
		for i := 0; after > before && i < 10; i++ {
			time.Sleep(500 * time.Millisecond)
			after, _ = value(scrape(t, p), name, nil)
		}
		if after > before {
			t.Errorf("%s grew from %v to %v over 20 scrapes and stayed", name, before, after)
		}
	}
	if strings.Contains(p.Log(), "pending replies") {
		t.Errorf("the exporter met dbus-daemon's pending-replies limit:\n%s", p.Log())
	}
}

// sumBy sums name's series by the value of label.
func sumBy(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		out[exportertest.LabelValue(m, label)] += exportertest.Value(m)
	}
	return out
}
