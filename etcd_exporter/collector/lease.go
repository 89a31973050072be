package collector

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

// LeaseSpec is the lease collector: the lease count, asked at each scrape.
var LeaseSpec = exporter.Spec{
	Name:    "lease",
	Help:    "The number of leases (one lease list per scrape).",
	Default: true,
	Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		cli, err := etcdclient.FromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return &leaseCollector{cli: cli}, nil
	},
}

type leaseCollector struct{ cli *etcdclient.Client }

// Update lists the leases within the scrape's deadline and the request
// timeout.
func (c *leaseCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	ctx, cancel := context.WithTimeout(ctx, c.cli.RequestTimeout)
	defer cancel()
	resp, err := c.cli.Leases(ctx)
	if err != nil {
		return fmt.Errorf("lease list: %w", err)
	}
	ch <- prometheus.MustNewConstMetric(leases.Desc(), prometheus.GaugeValue, float64(len(resp.Leases)))
	return nil
}
