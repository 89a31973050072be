package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// BenchmarkChurn measures the exporter under cgroup churn, as on a batch
// or CI node: BPFLEET_CHURN_CGROUPS cgroups (20,000 by default) are made,
// each runs /bin/true, and removed, by four workers as fast as they go
// (the rate is reported), while a scraper scrapes every 2 s. Then it waits
// out the 5-minute grace and scrapes again: no series of a removed cgroup
// may be served any more. Reported: the exporter's peak RSS (VmHWM), the
// median and slowest scrape, the churn rate, and the dead workloads still
// served after the grace (must be 0), and its resident memory before the
// churn (after 90 s of scrapes), after the grace, and once settled:
// when the workload resolver has forgotten the removed cgroups too
// (workload.GoneIdle after the last lookup of their series, at the next
// sweep); flat: what the churn held is given back. It runs the real binary
// with only the process collector, so it needs root, and runs once:
//
//	go test ./kernel_exporter -run '^$' -bench Churn -benchtime 1x -timeout 30m
func BenchmarkChurn(b *testing.B) {
	testenv.RequireRoot(b)
	n := 20000
	if s := os.Getenv("BPFLEET_CHURN_CGROUPS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("BPFLEET_CHURN_CGROUPS=%q: %v", s, err)
		}
	}
	const grace = 5 * time.Minute
	for b.Loop() {
		p := exportertest.Start(b, binary, "--collector.disable-defaults", "--collector.process")
		root, err := testenv.V2Root()
		if err != nil {
			b.Skip(err)
		}
		parent := filepath.Join(root, fmt.Sprintf("bpfleet-churn-%d", os.Getpid()))
		if err := os.Mkdir(parent, 0o755); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.Remove(parent) })
		prefix := strings.TrimPrefix(parent, root)
		// Before: after 90 s of scrapes every 2 s, as after the churn, so
		// that both are the memory of an exporter that keeps serving (and
		// past the exporter's second drop of its start-up pages, a minute
		// after its collectors are up).
		for range 45 {
			if _, err := p.Scrape(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(2 * time.Second)
		}
		idleRSS := exportertest.ProcStatus(b, p.Pid(), "VmRSS")
		idleAnon := exportertest.ProcStatus(b, p.Pid(), "RssAnon")

		var scrapes []time.Duration
		var peakSeries int
		stop := scrapeEvery(b, p, func(fams map[string]*dto.MetricFamily, took time.Duration) {
			scrapes = append(scrapes, took)
			peakSeries = max(peakSeries, len(fams["kernel_process_execs_total"].GetMetric()))
		})

		start := time.Now()
		var next atomic.Int64
		var workers sync.WaitGroup
		for range 4 {
			workers.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					if err := churnOne(filepath.Join(parent, fmt.Sprintf("c%d", i))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		workers.Wait()
		churned := time.Since(start)
		time.Sleep(grace + 10*time.Second) // the grace, and a scrape after it
		stop()

		fams, err := p.Scrape()
		if err != nil {
			b.Fatal(err)
		}
		dead := 0
		for _, fam := range fams {
			for _, m := range fam.GetMetric() {
				if strings.HasPrefix(exportertest.LabelValue(m, "cgroup"), prefix+"/") {
					dead++
				}
			}
		}
		slices.Sort(scrapes)
		b.ReportMetric(float64(n)/churned.Seconds(), "cgroups/s")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmHWM"))/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(scrapes[len(scrapes)/2].Milliseconds()), "scrape-p50-ms")
		b.ReportMetric(float64(scrapes[len(scrapes)-1].Milliseconds()), "scrape-max-ms")
		b.ReportMetric(float64(peakSeries), "peak-exec-series")
		b.ReportMetric(float64(dead), "dead-series-after-grace")
		// Flat after the churn: resident memory before it and after the
		// grace (the Go runtime returns freed heap to the kernel in the
		// background, within minutes).
		b.ReportMetric(float64(idleRSS)/(1<<20), "RSS-before-MiB")
		b.ReportMetric(float64(idleAnon)/(1<<20), "RssAnon-before-MiB")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmRSS"))/(1<<20), "RSS-after-grace-MiB")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "RssAnon"))/(1<<20), "RssAnon-after-grace-MiB")
		// Settled: the resolver forgets the removed cgroups GoneIdle after
		// the last scrape that served them (the one after the grace), at
		// its next sweep (every 30 s), while scrapes go on.
		stop = scrapeEvery(b, p, func(map[string]*dto.MetricFamily, time.Duration) {})
		time.Sleep(workload.GoneIdle + 45*time.Second)
		stop()
		if _, err := p.Scrape(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "VmRSS"))/(1<<20), "RSS-settled-MiB")
		b.ReportMetric(float64(exportertest.ProcStatus(b, p.Pid(), "RssAnon"))/(1<<20), "RssAnon-settled-MiB")
		if dead != 0 {
			b.Errorf("%d series of removed cgroups still served %s after the churn ended", dead, grace+10*time.Second)
		}
	}
}

// scrapeEvery scrapes p every 2 s in the background, as Prometheus would,
// passing each scrape's families and duration to each (a failed scrape is
// an error of b), until the returned stop, which waits for the last scrape.
func scrapeEvery(b *testing.B, p *exportertest.Process, each func(map[string]*dto.MetricFamily, time.Duration)) (stop func()) {
	done := make(chan struct{})
	var scraper sync.WaitGroup
	scraper.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			start := time.Now()
			fams, err := p.Scrape()
			if err != nil {
				b.Errorf("scrape: %v", err)
				continue
			}
			each(fams, time.Since(start))
		}
	})
	return func() {
		close(done)
		scraper.Wait()
	}
}

// churnOne makes cgroup dir, runs /bin/true in it and removes it.
func churnOne(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = cmd.Run()
	syscall.Close(fd)
	if err != nil {
		return fmt.Errorf("/bin/true in %s: %w", dir, err)
	}
	return os.Remove(dir)
}
