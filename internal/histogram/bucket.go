package histogram

import (
	"math"
	"math/bits"
)

// ZeroBucket is the bucket index of the value 0 (HIST_BUCKET_ZERO in
// bpf/include/bpfleet/histogram.h): the native histogram's zero bucket.
const ZeroBucket int32 = math.MinInt32

// BucketOfNanos returns the native bucket index of schema KernelSchema, over
// seconds, of v nanoseconds: the i with floor(2^((i-1)/8)*1e9) < v <=
// floor(2^(i/8)*1e9), or ZeroBucket for v == 0. It is the reference of the
// kernel's hist_bucket_ns and performs the same lookup on the same table.
func BucketOfNanos(v uint64) int32 {
	if v == 0 {
		return ZeroBucket
	}
	off := int(startOffsets[bits.Len64(v)-1])
	n := 0
	for _, t := range thresholds[off : off+lookupSteps] {
		if v > t {
			n++
		}
	}
	return int32(minBucket + off + n)
}
