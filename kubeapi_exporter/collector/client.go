package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
)

var clientSpec = exporter.Spec{
	Name:    "client",
	Help:    "The exporter's own API requests (durations by verb, resource and code) and the health of its watches.",
	Default: true,
	Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		k, err := kube.FromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return &client{k: k}, nil
	},
}

// client serves the kube component's request timing and watch health.
type client struct{ k *kube.Client }

func (c *client) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	relabel(requestDuration, c.k.Requests, ch)
	relabel(watchEvents, c.k.WatchEvents, ch)
	relabel(watchRestarts, c.k.WatchRestarts, ch)
	relabel(relists, c.k.Relists, ch)
	return nil
}
