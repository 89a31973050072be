package histogram

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// maxChunk is the most buckets, spans or deltas a Batch allocates at once
// when it was not told how many it needs; it starts from minChunk and
// doubles, so that a scrape with few histograms allocates little.
const (
	minChunk = 16
	maxChunk = 4096
)

// Batch makes the histograms of one scrape that share Opts, as
// NewConstMetric does but without allocating per bucket: each histogram is
// written once, when it is made, into blocks shared by the batch, and its
// Write hands out pointers to them. A Batch is used by one goroutine; the
// metrics it made stay valid after it is dropped.
type Batch struct {
	o       Opts
	classic []int32 // native index of each classic bound

	// Scratch, reused from one histogram to the next.
	indices []int32
	spanBuf []spanRange
	deltas  []int64

	// Blocks handed out to histograms.
	buckets  []dto.Bucket
	bucketPs []*dto.Bucket
	counts   []uint64
	spans    []dto.BucketSpan
	spanPs   []*dto.BucketSpan
	offsets  []int32
	lengths  []uint32
	deltaOut []int64
	metrics  []batchMetric
	next     int // the size of the next block, without Reserve
}

type spanRange struct {
	offset int32
	length uint32
}

// NewBatch returns a Batch for o, or an error if o is invalid (as
// NewConstMetric would return for every histogram).
func NewBatch(o Opts) (*Batch, error) {
	if o.Schema < minSchema || o.Schema > maxSchema {
		return nil, fmt.Errorf("schema %d out of range [%d, %d]", o.Schema, minSchema, maxSchema)
	}
	if !(o.Scale > 0) || math.IsInf(o.Scale, 1) {
		return nil, fmt.Errorf("scale %g is not a positive number", o.Scale)
	}
	classic, err := classicIndices(o.Schema, o.Classic)
	if err != nil {
		return nil, err
	}
	return &Batch{o: o, classic: classic, next: minChunk}, nil
}

// Reserve makes room for n more histograms in one allocation of each kind
// sized for them (the spans and deltas excepted, which depend on the
// buckets): a caller that knows how many it will make calls it first.
func (b *Batch) Reserve(n int) {
	if n <= 0 {
		return
	}
	c := len(b.classic)
	b.metrics = make([]batchMetric, n)
	b.buckets = make([]dto.Bucket, n*c)
	b.bucketPs = make([]*dto.Bucket, n*c)
	b.counts = make([]uint64, n*c)
}

// take returns the next n elements of *block, allocating a new block of
// at least b.next elements when it has fewer left (b.next doubles each
// time, up to maxChunk).
func take[T any](b *Batch, block *[]T, n int) []T {
	if len(*block) < n {
		*block = make([]T, max(n, b.next))
		b.next = min(2*b.next, maxChunk)
	}
	s := (*block)[:n:n]
	*block = (*block)[n:]
	return s
}

// batchMetric is a histogram made by a Batch.
type batchMetric struct {
	desc          *prometheus.Desc
	pairs         []*dto.LabelPair
	h             dto.Histogram
	count         uint64
	sum           float64
	schema        int32
	zeroThreshold float64
	zeroCount     uint64
	emptySpan     dto.BucketSpan
	emptySpanP    [1]*dto.BucketSpan
	zeroOffset    int32
	zeroLength    uint32
}

func (m *batchMetric) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric without allocating.
func (m *batchMetric) Write(out *dto.Metric) error {
	out.Label = m.pairs
	out.Histogram = &m.h
	return nil
}

// Metric returns the histogram of s, with label pairs pairs (as
// prometheus.MakeLabelPairs makes them for desc) and what NewConstMetric
// would write for it. It returns an error if a bucket index is outside the
// float64 range of the schema or the buckets do not sum to s.Count. The
// metric shares nothing with s.
func (b *Batch) Metric(desc *prometheus.Desc, pairs []*dto.LabelPair, s *Series) (prometheus.Metric, error) {
	indices, err := appendSortedIndices(b.indices[:0], b.o.Schema, s)
	b.indices = indices[:0]
	if err != nil {
		return nil, err
	}
	m := &take(b, &b.metrics, 1)[0]
	m.desc, m.pairs = desc, pairs
	m.count = s.Count
	m.sum = float64(s.RawSum) * b.o.Scale
	m.schema = b.o.Schema
	m.zeroCount = s.Buckets[ZeroBucket]

	// Classic buckets: cumulative counts at each bound.
	n := len(b.classic)
	buckets, ptrs, counts := take(b, &b.buckets, n), take(b, &b.bucketPs, n), take(b, &b.counts, n)
	var cum uint64
	next := 0
	for k, j := range b.classic {
		for ; next < len(indices) && indices[next] <= j; next++ {
			cum += s.Buckets[indices[next]]
		}
		counts[k] = cum
		buckets[k] = dto.Bucket{CumulativeCount: &counts[k], UpperBound: &b.o.Classic[k]}
		ptrs[k] = &buckets[k]
	}

	// Native buckets: spans and deltas, as nativeSpans makes them.
	spans, deltas := b.spanBuf[:0], b.deltas[:0]
	var prev int64
	var nextIndex int32
	for _, i := range indices {
		if i == ZeroBucket {
			continue
		}
		gap := i - nextIndex
		if len(spans) == 0 || gap > maxSpanGap {
			spans = append(spans, spanRange{offset: gap})
			gap = 0
		}
		for range gap {
			deltas = append(deltas, -prev)
			prev = 0
		}
		count := int64(s.Buckets[i])
		deltas = append(deltas, count-prev)
		prev = count
		spans[len(spans)-1].length += uint32(gap) + 1
		nextIndex = i + 1
	}
	b.spanBuf, b.deltas = spans[:0], deltas[:0]

	m.h = dto.Histogram{
		SampleCount:   &m.count,
		SampleSum:     &m.sum,
		Bucket:        ptrs,
		Schema:        &m.schema,
		ZeroThreshold: &m.zeroThreshold,
		ZeroCount:     &m.zeroCount,
	}
	if len(deltas) > 0 {
		out := take(b, &b.deltaOut, len(deltas))
		copy(out, deltas)
		m.h.PositiveDelta = out
	}
	switch {
	case len(spans) > 0:
		blk, ps := take(b, &b.spans, len(spans)), take(b, &b.spanPs, len(spans))
		offsets, lengths := take(b, &b.offsets, len(spans)), take(b, &b.lengths, len(spans))
		for k, r := range spans {
			offsets[k], lengths[k] = r.offset, r.length
			blk[k] = dto.BucketSpan{Offset: &offsets[k], Length: &lengths[k]}
			ps[k] = &blk[k]
		}
		m.h.PositiveSpan = ps
	case m.zeroCount == 0:
		// Without any native field set, a scraper would take the
		// histogram for a classic one: an empty span marks it native.
		m.emptySpan = dto.BucketSpan{Offset: &m.zeroOffset, Length: &m.zeroLength}
		m.emptySpanP[0] = &m.emptySpan
		m.h.PositiveSpan = m.emptySpanP[:]
	}
	return m, nil
}
