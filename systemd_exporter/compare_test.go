package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// BenchmarkCompareUpstream measures, side by side on one systemd with
// 1,000 more units, the scrape time of systemd_exporter and of
// prometheus-community/systemd_exporter (its binary in
// $BPFLEET_UPSTREAM_SYSTEMD_EXPORTER, built from its repository: the module
// proxy does not serve it), the D-Bus calls per scrape of ours, the unit
// series each serves and upstream's pending-replies errors: the numbers of
// BENCHMARKS.md. Run by hand:
//
//	BPFLEET_UPSTREAM_SYSTEMD_EXPORTER=<binary> go test -run - -bench CompareUpstream -benchtime 10x ./systemd_exporter/
func BenchmarkCompareUpstream(b *testing.B) {
	upstream := os.Getenv("BPFLEET_UPSTREAM_SYSTEMD_EXPORTER")
	if upstream == "" {
		b.Skip("set BPFLEET_UPSTREAM_SYSTEMD_EXPORTER to prometheus-community/systemd_exporter's binary to compare")
	}
	sys := bootBulk(b)
	all := units(b, sys)
	ours := startExporter(b, sys, "--collector.unit.exclude=")
	cmd := exec.Command(upstream, "--web.listen-address=127.0.0.1:0", "--systemd.collector.unit-exclude=", "--systemd.collector.enable-restart-count", "--log.level=info")
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+sys.Address)
	up := exportertest.StartCmd(b, cmd)
	b.Cleanup(func() { up.Terminate(b) })

	type result struct {
		times []time.Duration
		units []int
		calls []uint64
	}
	measure := func(p *exportertest.Process, r *result) {
		start := time.Now()
		fams, err := p.Scrape()
		r.times = append(r.times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		names := map[string]bool{}
		for _, m := range fams["systemd_unit_state"].GetMetric() {
			names[exportertest.LabelValue(m, "name")] = true
		}
		r.units = append(r.units, len(names))
		r.calls = append(r.calls, dbusCalls(fams))
	}
	var o, u result
	b.ResetTimer()
	for range b.N {
		measure(ours, &o)
		measure(up, &u)
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	var perScrape []uint64
	for i := 1; i < len(o.calls); i++ {
		perScrape = append(perScrape, o.calls[i]-o.calls[i-1])
	}
	b.ReportMetric(float64(median(o.times).Milliseconds()), "ms/scrape-ours")
	b.ReportMetric(float64(median(u.times).Milliseconds()), "ms/scrape-upstream")
	b.Logf("units listed by systemctl: %d", len(all))
	b.Logf("systemd_exporter (bpfleet): median scrape %v, units served per scrape %v, D-Bus calls: %d after the first scrape, then per scrape %v",
		median(o.times), o.units, o.calls[0], perScrape)
	b.Logf("prometheus-community/systemd_exporter: median scrape %v, units served per scrape %v, pending-replies errors logged: %d",
		median(u.times), u.units, strings.Count(up.Log(), "pending replies"))
	for _, n := range o.units {
		if n != len(all) {
			b.Errorf("systemd_exporter served %d units, systemctl lists %d", n, len(all))
		}
	}
}
