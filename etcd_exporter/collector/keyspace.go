package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/bits"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/series"
)

// Defaults of the keyspace collector's flags.
const (
	DefaultPageSize      = 1000
	DefaultScanInterval  = 5 * time.Minute
	DefaultCheckInterval = 10 * time.Second
	DefaultMaxSeries     = 1000
)

// Watch restart reasons (the reason label of etcd_keyspace_watch_restarts_total).
const (
	ReasonCompacted  = "compacted"
	ReasonError      = "error"
	ReasonLeaderLost = "leader_lost"
)

var reasons = []string{ReasonCompacted, ReasonError, ReasonLeaderLost}

// valueSizeOpts exposes value sizes as native histograms of schema 0 (one
// bucket per power of two, computed exactly from the size's bits) and
// classic buckets from 64 B to 2 MiB (etcd refuses requests above
// --max-request-bytes, 1.5 MiB by default).
var valueSizeOpts = histogram.Opts{Schema: 0, Scale: 1, Classic: histogram.ClassicPowersOfTwo(6, 21)}

// sizeBucket returns the native bucket of schema 0 of a value of n bytes:
// the i with 2^(i-1) < n <= 2^i, or the zero bucket for an empty value.
func sizeBucket(n int) int32 {
	if n == 0 {
		return histogram.ZeroBucket
	}
	return int32(bits.Len64(uint64(n) - 1))
}

// KeyspaceSpec is the keyspace collector: a background pass over the whole
// keyspace, paged, at one revision (keys, value bytes and the largest value
// per prefix), and a watch of the whole keyspace from that revision on
// (puts, deletes and value sizes per prefix).
var KeyspaceSpec = exporter.Spec{
	Name:      "keyspace",
	Help:      "Keys, value bytes, puts, deletes and value sizes per key prefix, from a paged pass and a watch of the keyspace.",
	Default:   true,
	MaxSeries: DefaultMaxSeries,
	Flags: func(fs *exporter.FlagSet) exporter.New {
		depth := fs.Flag("prefix-depth", "Directories of a key that make its prefix label (/a/b/ for 2); 0 is the Kubernetes layout: /registry/<resource>/ and /registry/<group>/<resource>/.").Default("0").Int()
		allow := fs.Flag("prefix-allow", "Regular expression (anchored) of the prefixes that get their own series; the others count under prefix=\"other\". Empty allows all.").Default("").String()
		pageSize := fs.Flag("page-size", "Keys per range request of the keyspace pass on etcd older than 3.7 (no RangeStream): the most values held in memory at once.").Default(fmt.Sprint(DefaultPageSize)).Int64()
		scanInterval := fs.Flag("scan-interval", "Time between two keyspace passes (a pass also follows every watch restart).").Default(DefaultScanInterval.String()).Duration()
		checkInterval := fs.Flag("watch-check-interval", "Time between two progress requests that check that the watch's etcd member still answers.").Default(DefaultCheckInterval.String()).Duration()
		var allowRE *regexp.Regexp
		fs.Validate(func() error {
			switch {
			case *depth < 0:
				return fmt.Errorf("--collector.keyspace.prefix-depth: must not be negative, got %d", *depth)
			case *pageSize <= 0:
				return fmt.Errorf("--collector.keyspace.page-size: must be positive, got %d", *pageSize)
			case *scanInterval <= 0:
				return fmt.Errorf("--collector.keyspace.scan-interval: must be positive, got %s", *scanInterval)
			case *checkInterval <= 0:
				return fmt.Errorf("--collector.keyspace.watch-check-interval: must be positive, got %s", *checkInterval)
			}
			if *allow != "" {
				re, err := regexp.Compile("^(?:" + *allow + ")$")
				if err != nil {
					return fmt.Errorf("--collector.keyspace.prefix-allow: %w", err)
				}
				allowRE = re
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			cli, err := etcdclient.FromEnv(ctx, env)
			if err != nil {
				return nil, err
			}
			return NewKeyspace(cli, KeyspaceConfig{
				Prefixer:      Prefixer{Depth: *depth, Allow: allowRE},
				PageSize:      *pageSize,
				ScanInterval:  *scanInterval,
				CheckInterval: *checkInterval,
			}, env), nil
		}
	},
}

// KeyspaceConfig configures a Keyspace collector.
type KeyspaceConfig struct {
	Prefixer      Prefixer
	PageSize      int64
	ScanInterval  time.Duration
	CheckInterval time.Duration
	// Paged reads in pages of PageSize even from a server with
	// RangeStream (the tests of the pages of older servers).
	Paged bool
}

// Keyspace is the keyspace collector. Its Runner runs the passes and the
// watch; Update serves what they last found and never touches etcd.
type Keyspace struct {
	cli  *etcdclient.Client
	cfg  KeyspaceConfig
	log  *slog.Logger
	attr *series.Attributor[string]

	kick chan struct{} // asks for a pass now

	mu       sync.Mutex
	pass     *passResult
	churn    map[string]*churn
	restarts map[string]uint64
	// watched is the revision up to which every change is counted: the
	// next watch starts after it, so a restarted watch neither skips nor
	// counts twice what the last one saw.
	watched int64
}

// passResult is one complete pass.
type passResult struct {
	revision int64
	finished time.Time
	took     time.Duration
	prefixes map[string]*prefixSize
}

type prefixSize struct {
	keys, bytes, largest uint64
}

type churn struct {
	puts, deletes uint64
	sizes         histogram.Series
}

// NewKeyspace returns the keyspace collector of cli.
func NewKeyspace(cli *etcdclient.Client, cfg KeyspaceConfig, env exporter.Env) *Keyspace {
	return &Keyspace{
		cli:      cli,
		cfg:      cfg,
		log:      env.Logger,
		attr:     series.New(series.Options[string]{Labeler: prefixLabeler{}, Self: env.Self, MaxSeries: env.MaxSeries}),
		kick:     make(chan struct{}, 1),
		churn:    make(map[string]*churn),
		restarts: make(map[string]uint64),
	}
}

// prefixLabeler labels a series with its prefix; a prefix never goes away.
type prefixLabeler struct{}

func (prefixLabeler) LabelNames() []string { return prefixKey }
func (prefixLabeler) Labels(_ context.Context, prefix string) ([]string, bool) {
	return []string{prefix}, true
}

// Run runs the passes and the watch until ctx ends; an error (etcd
// unreachable) stops both, to be retried by the scaffold, and the next Run
// starts with a fresh pass and resumes the watch where it stopped.
func (k *Keyspace) Run(parent context.Context) error {
	passed := make(chan struct{})
	return exporter.RunAll(
		exporter.RunFunc(func(ctx context.Context) error { return k.passes(ctx, passed) }),
		exporter.RunFunc(func(ctx context.Context) error { return k.watches(ctx, parent, passed) }),
	).Run(parent)
}

// passes runs a pass at once, closes passed, then runs one every
// ScanInterval and on request.
func (k *Keyspace) passes(ctx context.Context, passed chan<- struct{}) error {
	t := time.NewTicker(k.cfg.ScanInterval)
	defer t.Stop()
	for {
		if err := k.scan(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("keyspace pass: %w", err)
		}
		if passed != nil {
			close(passed)
			passed = nil
		}
		// The pass's chunks are garbage now. On a large keyspace the heap
		// they took would otherwise stay resident until the runtime's next
		// collection (it may wait for its 2-minute forced one: little is
		// allocated between passes) and its scavenger gave it back: one
		// collection per pass returns it at once.
		debug.FreeOSMemory()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-k.kick:
		}
	}
}

// scan reads the whole keyspace at one revision and keeps only sizes per
// prefix: a range request with keys_only returns no value sizes, so the
// pass reads the values, a bounded part of the keyspace at a time.
//
// On etcd 3.7 it is one RangeStream: the server sends chunks of about
// --max-request-bytes at one pinned revision, and only the chunks in flight
// are in memory. Older servers (no RangeStream) are read in pages of
// PageSize keys; etcd counts every key after a page's first for each
// unary range request, so that costs etcd O(keys²/PageSize) index steps.
func (k *Keyspace) scan(ctx context.Context) error {
	start := time.Now()
	sizes := make(map[string]*prefixSize)
	var rev int64
	err := status.Error(codes.Unimplemented, "paged passes asked for")
	if !k.cfg.Paged {
		rev, err = k.scanStream(ctx, sizes)
	}
	if status.Code(err) == codes.Unimplemented {
		clear(sizes)
		rev, err = k.scanPages(ctx, sizes)
	}
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pass = &passResult{revision: rev, finished: time.Now(), took: time.Since(start), prefixes: sizes}
	if k.watched == 0 {
		k.watched = rev // the first watch starts after the first pass
	}
	return nil
}

// add counts a pass's keys and values in sizes.
func (k *Keyspace) add(sizes map[string]*prefixSize, kvs []*mvccpb.KeyValue) {
	for _, kv := range kvs {
		p := k.cfg.Prefixer.Prefix(kv.Key)
		s := sizes[p]
		if s == nil {
			s = &prefixSize{}
			sizes[p] = s
		}
		n := uint64(len(kv.Value))
		s.keys++
		s.bytes += n
		s.largest = max(s.largest, n)
	}
}

// scanStream reads the keyspace in one RangeStream; the request timeout
// bounds the wait for each chunk, not the whole stream.
func (k *Keyspace) scanStream(ctx context.Context, sizes map[string]*prefixSize) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(k.cli.RequestTimeout, func() {
		cancel(fmt.Errorf("range stream: no chunk within %s", k.cli.RequestTimeout))
	})
	defer idle.Stop()
	stream, err := k.cli.GetStream(ctx, "\x00", clientv3.WithFromKey())
	if err != nil {
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		return 0, err
	}
	var rev int64
	for resp := range stream {
		if err := resp.Err(); err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return 0, cause
			}
			return 0, err
		}
		idle.Reset(k.cli.RequestTimeout)
		k.add(sizes, resp.Kvs)
		if resp.Header != nil && resp.Header.Revision != 0 {
			rev = resp.Header.Revision
		}
	}
	if rev == 0 {
		return 0, fmt.Errorf("range stream ended without its revision: %w", context.Cause(ctx))
	}
	return rev, nil
}

// scanPages reads the keyspace in pages of PageSize keys, each a unary
// range request under the request timeout: the first page fixes the
// revision, the next ones read at that revision from the member itself
// (serializable), which gives the same answer without a round of
// consensus per page.
func (k *Keyspace) scanPages(ctx context.Context, sizes map[string]*prefixSize) (int64, error) {
	var rev int64
	key := "\x00"
	for {
		opts := []clientv3.OpOption{clientv3.WithFromKey(), clientv3.WithLimit(k.cfg.PageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev), clientv3.WithSerializable())
		}
		rctx, cancel := context.WithTimeout(ctx, k.cli.RequestTimeout)
		resp, err := k.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		k.add(sizes, resp.Kvs)
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// watches watches the keyspace once passed is closed (so that a watch
// starts only while etcd answers, and each outage counts one restart),
// restarting the watch
// (and asking for a fresh pass) when it ends with a reason it can recover
// from; it returns when etcd cannot be reached.
func (k *Keyspace) watches(ctx, parent context.Context, passed <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return nil
	case <-passed:
	}
	for {
		reason, err := k.watch(ctx)
		if ctx.Err() != nil {
			// The pass failed first (etcd unreachable): the watch
			// stops with it and restarts with the next Run.
			if parent.Err() == nil {
				k.mu.Lock()
				k.restarts[ReasonError]++
				k.mu.Unlock()
			}
			return nil
		}
		k.mu.Lock()
		k.restarts[reason]++
		k.mu.Unlock()
		select {
		case k.kick <- struct{}{}:
		default:
		}
		k.log.Info("keyspace watch restarted", "reason", reason, "err", err)
		if reason != ReasonCompacted {
			return fmt.Errorf("keyspace watch: %w", err)
		}
	}
}

// errWatchClosed: the client closed the watch channel without an error.
var errWatchClosed = errors.New("watch channel closed")

// watch watches every key from the revision after k.watched, counting each
// change, until the watch fails; it returns the restart reason. A
// compaction past that revision moves k.watched to the compaction: the
// changes in between cannot be read any more and are not counted.
func (k *Keyspace) watch(ctx context.Context) (string, error) {
	k.mu.Lock()
	from := k.watched + 1
	k.mu.Unlock()
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := k.cli.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(from))
	// The client reconnects a broken watch stream by itself, silently: a
	// progress request every CheckInterval, answered before the next one,
	// proves that the stream still reaches a member.
	check := time.NewTicker(k.cfg.CheckInterval)
	defer check.Stop()
	awaiting := false
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-check.C:
			if awaiting {
				return ReasonError, fmt.Errorf("no watch response within %s of a progress request", k.cfg.CheckInterval)
			}
			rctx, rcancel := context.WithTimeout(wctx, k.cli.RequestTimeout)
			err := k.cli.RequestProgress(rctx)
			rcancel()
			if err != nil {
				return classify(err), fmt.Errorf("progress request: %w", err)
			}
			awaiting = true
		case resp, ok := <-wch:
			if !ok {
				return ReasonError, errWatchClosed
			}
			if resp.CompactRevision != 0 {
				k.mu.Lock()
				k.watched = resp.CompactRevision - 1
				k.mu.Unlock()
				return ReasonCompacted, fmt.Errorf("revision %d compacted up to %d", from, resp.CompactRevision)
			}
			if err := resp.Err(); err != nil {
				return classify(err), err
			}
			if resp.Canceled {
				return ReasonError, fmt.Errorf("watch canceled: %s", resp.CancelReason)
			}
			awaiting = false
			k.count(&resp)
		}
	}
}

// classify names the restart reason of a watch error.
func classify(err error) string {
	// rpctypes.Error turns a gRPC status into etcd's client error value.
	is := func(target error) bool { return errors.Is(err, target) || errors.Is(rpctypes.Error(err), target) }
	switch {
	case is(rpctypes.ErrCompacted):
		return ReasonCompacted
	case is(rpctypes.ErrNoLeader), strings.Contains(err.Error(), rpctypes.ErrNoLeader.Error()):
		return ReasonLeaderLost
	}
	return ReasonError
}

// count adds one watch response's changes and moves k.watched past them.
// A progress notification moves it to the revision it reports.
func (k *Keyspace) count(resp *clientv3.WatchResponse) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if resp.IsProgressNotify() {
		k.watched = max(k.watched, resp.Header.Revision)
		return
	}
	for _, ev := range resp.Events {
		p := k.cfg.Prefixer.Prefix(ev.Kv.Key)
		c := k.churn[p]
		if c == nil {
			c = &churn{}
			k.churn[p] = c
		}
		switch ev.Type {
		case mvccpb.PUT:
			c.puts++
			n := len(ev.Kv.Value)
			c.sizes.Add(sizeBucket(n), 1, uint64(n))
		case mvccpb.DELETE:
			c.deletes++
		}
		k.watched = max(k.watched, ev.Kv.ModRevision)
	}
}

// Update serves the last pass and the counts of the watch.
func (k *Keyspace) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	s := k.attr.Begin(ctx)
	k.mu.Lock()
	// Sorted, so that which prefixes a series cap admits first does not
	// depend on map order.
	if p := k.pass; p != nil {
		for _, prefix := range slices.Sorted(maps.Keys(p.prefixes)) {
			sz := p.prefixes[prefix]
			s.Gauge(keyspaceKeys, prefix, float64(sz.keys))
			s.Gauge(keyspaceValueBytes, prefix, float64(sz.bytes))
			// Prefixes merged into the overflow series sum up: the
			// largest value of the overflow series is not served.
			s.Gauge(keyspaceLargestValue, prefix, float64(sz.largest))
		}
		ch <- prometheus.MustNewConstMetric(keyspaceScanTimestamp.Desc(), prometheus.GaugeValue, float64(p.finished.UnixNano())/1e9)
		ch <- prometheus.MustNewConstMetric(keyspaceScanDuration.Desc(), prometheus.GaugeValue, p.took.Seconds())
		ch <- prometheus.MustNewConstMetric(keyspaceScanRevision.Desc(), prometheus.GaugeValue, float64(p.revision))
	}
	for _, prefix := range slices.Sorted(maps.Keys(k.churn)) {
		c := k.churn[prefix]
		s.Counter(keyspacePuts, prefix, c.puts)
		s.Counter(keyspaceDeletes, prefix, c.deletes)
		first := true
		for bucket, n := range c.sizes.Buckets {
			var sum uint64
			if first {
				sum, first = c.sizes.RawSum, false
			}
			s.Histogram(keyspaceValueSize, prefix, bucket, n, sum)
		}
	}
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(keyspaceWatchRestarts.Desc(), prometheus.CounterValue, float64(k.restarts[r]), r)
	}
	k.mu.Unlock()
	return s.Emit(ch, valueSizeOpts)
}
