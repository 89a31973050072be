package histogram

import (
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Native histogram schemas Prometheus accepts.
const (
	minSchema = -4
	maxSchema = 8
)

// maxSpanGap is the longest run of empty buckets that is written as zero
// deltas inside a span instead of opening a new span, as client_golang does.
const maxSpanGap = 2

// Series is one histogram read from a map of struct hist_key to struct
// hist_value: the observations per native bucket and their raw sum. The zero
// value is empty and ready to use.
type Series struct {
	// Count is the number of observations, the sum of Buckets.
	Count uint64
	// RawSum is the sum of the observations in the kernel's unit.
	RawSum uint64
	// Buckets holds the observations per native bucket index; ZeroBucket
	// holds those of value 0.
	Buckets map[int32]uint64
}

// Add accumulates one map row: count observations in bucket with raw sum
// rawSum. Rows of one bucket, such as the per-CPU values of one key, add up.
// Sums wrap modulo 2^64 like the kernel's.
func (s *Series) Add(bucket int32, count, rawSum uint64) {
	if s.Buckets == nil {
		s.Buckets = make(map[int32]uint64)
	}
	s.Count += count
	s.RawSum += rawSum
	s.Buckets[bucket] += count
}

// Opts says how to expose a Series.
type Opts struct {
	// Schema is the schema of the Series' bucket indices: KernelSchema for
	// buckets from hist_bucket_ns.
	Schema int32
	// Scale converts RawSum to the base unit: 1e-9 for nanoseconds.
	Scale float64
	// Classic are the upper bounds of the classic buckets, ascending. Each
	// must be a native bucket boundary 2^(j/2^Schema) (to within float64
	// rounding), so that a classic bucket is an exact sum of native ones.
	Classic []float64
}

// ClassicPowersOfTwo returns the classic bounds 2^minExp, 2^(minExp+1), ...,
// 2^maxExp, native boundaries of every schema. It returns nil if maxExp < minExp.
func ClassicPowersOfTwo(minExp, maxExp int) []float64 {
	var bounds []float64
	for e := minExp; e <= maxExp; e++ {
		bounds = append(bounds, math.Ldexp(1, e))
	}
	return bounds
}

// NewConstMetric returns a throw-away metric for a Collector's Collect: a
// histogram with count s.Count, sum s.RawSum*o.Scale, classic cumulative
// buckets at o.Classic (+Inf is implicitly s.Count: observations above the
// top bound are in no finite bucket) and the native buckets of s. It returns
// an error if desc is invalid, labelValues do not match desc, o is invalid,
// a bucket index is outside the float64 range of o.Schema, or the buckets do
// not sum to s.Count. The metric shares nothing with s. A Batch makes many
// with fewer allocations.
func NewConstMetric(desc *prometheus.Desc, s *Series, o Opts, labelValues ...string) (prometheus.Metric, error) {
	// The descriptor's own error and the label values' count, as
	// client_golang checks them.
	if _, err := prometheus.NewConstMetric(desc, prometheus.UntypedValue, 0, labelValues...); err != nil {
		return nil, err
	}
	b, err := NewBatch(o)
	if err != nil {
		return nil, err
	}
	return b.Metric(desc, prometheus.MakeLabelPairs(desc, labelValues), s)
}

// nativeBound returns the upper bound 2^(i/2^schema) of native bucket i.
func nativeBound(schema int32, i int32) float64 {
	return math.Exp2(float64(i) / math.Ldexp(1, int(schema)))
}

// classicIndices returns the native bucket index of each bound.
func classicIndices(schema int32, bounds []float64) ([]int32, error) {
	indices := make([]int32, len(bounds))
	for k, b := range bounds {
		if !(b > 0) || math.IsInf(b, 1) {
			return nil, fmt.Errorf("classic bound %g is not a positive number", b)
		}
		if k > 0 && b <= bounds[k-1] {
			return nil, fmt.Errorf("classic bound %g does not exceed %g", b, bounds[k-1])
		}
		j := math.Round(math.Log2(b) * math.Ldexp(1, int(schema)))
		if math.Abs(nativeBound(schema, int32(j))/b-1) > 1e-12 {
			return nil, fmt.Errorf("classic bound %g is not a native bucket boundary of schema %d", b, schema)
		}
		indices[k] = int32(j)
	}
	return indices, nil
}

// sortedIndices returns the indices of the non-empty buckets of s in
// ascending order (ZeroBucket first), and checks them against s.Count.
func sortedIndices(schema int32, s *Series) ([]int32, error) {
	return appendSortedIndices(nil, schema, s)
}

// appendSortedIndices is sortedIndices appending to indices.
func appendSortedIndices(indices []int32, schema int32, s *Series) ([]int32, error) {
	var total uint64
	for i, c := range s.Buckets {
		if c == 0 {
			continue
		}
		if b := nativeBound(schema, i); i != ZeroBucket && (b == 0 || math.IsInf(b, 1)) {
			return nil, fmt.Errorf("bucket %d outside the float64 range of schema %d", i, schema)
		}
		indices = append(indices, i)
		total += c
	}
	if total != s.Count {
		return nil, fmt.Errorf("buckets hold %d observations, count is %d", total, s.Count)
	}
	slices.Sort(indices)
	return indices, nil
}
