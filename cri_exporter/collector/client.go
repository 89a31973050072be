package collector

import (
	"context"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/workload"
)

const requestDurationHelp = "Time the runtime took to answer the exporter's own CRI requests, by CRI method; requests that did not reach it (connection refused) are not observed."

var requestDurationDesc = newDesc("request_duration_seconds", requestDurationHelp, "method")

// reconnect is how gRPC reconnects to a runtime that went away: exponential
// backoff with jitter from 100ms, capped at 5s, so that metrics come back
// within seconds of a runtime restart.
var reconnect = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second}

// newRequestDuration is cri_request_duration_seconds: classic buckets from
// 1ms to 10s and a native histogram (factor 1.1).
func newRequestDuration() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:                       namespace,
		Name:                            "request_duration_seconds",
		Help:                            requestDurationHelp,
		Buckets:                         []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"method"})
}

// dial creates a CRI client of endpoint (a unix socket, with or without
// unix://) that observes every request's duration in d. It does not
// connect: the first request does, and gRPC reconnects with backoff.
func dial(endpoint string, d *prometheus.HistogramVec) (*grpc.ClientConn, error) {
	return workload.DialCRI(endpoint,
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnect, MinConnectTimeout: 5 * time.Second}),
		grpc.WithUnaryInterceptor(timeRequests(d)),
	)
}

// timeRequests observes the duration of each unary request that reached
// the runtime under its method's short name (ListContainers).
func timeRequests(d *prometheus.HistogramVec) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		if status.Code(err) != codes.Unavailable {
			d.WithLabelValues(path.Base(method)).Observe(time.Since(start).Seconds())
		}
		return err
	}
}

// runtimeClient is the CRI RuntimeService.
type runtimeClient = runtimeapi.RuntimeServiceClient
