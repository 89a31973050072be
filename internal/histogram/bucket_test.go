package histogram

import (
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
)

// exceeds reports whether t > floor(2^(i/8) * 1e9), exactly: whether
// t^8 > 2^i * 1e72, both sides scaled by 2^-i when i < 0.
func exceeds(t uint64, i int) bool {
	lhs := new(big.Int).Exp(new(big.Int).SetUint64(t), big.NewInt(8), nil)
	rhs := new(big.Int).Exp(big.NewInt(10), big.NewInt(72), nil)
	if i < 0 {
		lhs.Lsh(lhs, uint(-i))
	} else {
		rhs.Lsh(rhs, uint(i))
	}
	return lhs.Cmp(rhs) > 0
}

func TestThresholdsAreExactFloors(t *testing.T) {
	if KernelSchema != 3 {
		t.Fatalf("KernelSchema = %d, this test checks schema 3", KernelSchema)
	}
	for j, th := range thresholds {
		i := minBucket + j
		if th == math.MaxUint64 {
			// Saturated: the true floor is at least 2^64-1.
			if exceeds(th, i) {
				t.Errorf("bucket %d: saturated, but floor(B_i) < 2^64-1", i)
			}
			continue
		}
		if exceeds(th, i) || !exceeds(th+1, i) {
			t.Errorf("bucket %d: threshold %d is not floor(2^(%d/8) * 1e9)", i, th, i)
		}
	}
}

func TestTableRange(t *testing.T) {
	if got := len(thresholds); got != maxBucket-minBucket+1 {
		t.Errorf("table holds %d buckets, want %d..%d", got, minBucket, maxBucket)
	}
	// Bucket minBucket is the first to hold 1 ns: its predecessor ends below 1.
	if thresholds[0] != 1 || !exceeds(1, minBucket-1) {
		t.Errorf("bucket %d is not the bucket of 1 ns", minBucket)
	}
	// Bucket maxBucket is the first to hold 2^64-1 ns.
	if thresholds[maxBucket-minBucket] != math.MaxUint64 || thresholds[maxBucket-minBucket-1] == math.MaxUint64 {
		t.Errorf("bucket %d is not the bucket of 2^64-1 ns", maxBucket)
	}
}

func TestStartOffsets(t *testing.T) {
	for msb, off := range startOffsets {
		low := uint64(1) << msb
		if thresholds[off] < low || off > 0 && thresholds[off-1] >= low {
			t.Errorf("startOffsets[%d] = %d, not the first threshold >= 2^%d", msb, off, msb)
		}
		// The window reaches the bucket of the largest value with this msb.
		high := low<<1 - 1
		if end := int(off) + lookupSteps; end >= len(thresholds) || thresholds[end] < high {
			t.Errorf("window of 2^%d at offset %d does not reach the bucket of %d", msb, off, high)
		}
	}
	if lookupSteps > 1<<KernelSchema+1 {
		t.Errorf("lookupSteps = %d, more than 2^%d+1", lookupSteps, KernelSchema)
	}
}

// bruteBucket returns the first bucket whose threshold is at least v >= 1.
func bruteBucket(v uint64) int32 {
	return int32(minBucket + sort.Search(len(thresholds), func(j int) bool { return thresholds[j] >= v }))
}

func TestBucketOfNanosKnownValues(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want int32
	}{
		{0, ZeroBucket},
		{1, -239},         // 2^(-239/8) s = 1.016 ns
		{2, -231},         // log2(2e-9)*8 = -231.2
		{3, -226},         // log2(3e-9)*8 = -226.5
		{976_562, -80},    // 2^-10 s = 976562.5 ns
		{976_563, -79},    // 2^(-79/8) s = 1061670.9 ns
		{1_000_000, -79},  // 1 ms
		{500_000_000, -8}, // 2^-1 s, exactly
		{500_000_001, -7},
		{999_999_999, 0},
		{1_000_000_000, 0}, // 1 s is the upper bound of bucket 0
		{1_000_000_001, 1},
		{1_090_507_732, 1}, // floor(2^(1/8) * 1e9)
		{1_090_507_733, 2},
		{2_000_000_000, 8},
		{math.MaxUint64, 273}, // 2^(272/8) s = 1.718e19 ns < 2^64-1
	} {
		if got := BucketOfNanos(tc.v); got != tc.want {
			t.Errorf("BucketOfNanos(%d) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestBucketOfNanosSeams checks both sides of every bucket boundary. Among
// the lowest buckets some are empty (2^(1/8) of a nanosecond is less than
// one): there T_(i-1) == T_i, and T_i belongs to the first bucket with that
// threshold.
func TestBucketOfNanosSeams(t *testing.T) {
	empty := 0
	for j, th := range thresholds {
		i := int32(minBucket + j)
		if j > 0 && thresholds[j-1] == th {
			empty++
			continue
		}
		if got := BucketOfNanos(th); got != i {
			t.Errorf("BucketOfNanos(T_%d = %d) = %d, want %d", i, th, got, i)
		}
		if th == math.MaxUint64 {
			continue
		}
		next := bruteBucket(th + 1)
		if got := BucketOfNanos(th + 1); got != next {
			t.Errorf("BucketOfNanos(T_%d+1 = %d) = %d, want %d", i, th+1, got, next)
		}
		if next != i+1 && thresholds[j+1] != th {
			t.Errorf("T_%d+1 = %d skips bucket %d, which is not empty", i, th+1, i+1)
		}
		if th > 1 {
			want := i
			if j == 0 || thresholds[j-1] == th-1 {
				want = bruteBucket(th - 1)
			}
			if got := BucketOfNanos(th - 1); got != want || got > i {
				t.Errorf("BucketOfNanos(T_%d-1 = %d) = %d, want %d", i, th-1, got, want)
			}
		}
	}
	// Bucket i is empty iff floor(B_i) == floor(B_(i-1)): 1 ns has 7 empty
	// buckets above it, 2 ns 4, 3 ns 2, 4 ns 2, 5, 6 and 8 ns one each.
	if empty != 18 {
		t.Errorf("%d empty buckets, want 18", empty)
	}
}

func TestBucketOfNanosRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		v := rng.Uint64()>>rng.IntN(64) | 1
		if got, want := BucketOfNanos(v), bruteBucket(v); got != want {
			t.Fatalf("BucketOfNanos(%d) = %d, want %d", v, got, want)
		}
	}
}

func BenchmarkBucketOfNanos(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	values := make([]uint64, 1024)
	for k := range values {
		values[k] = rng.Uint64() >> rng.IntN(64)
	}
	var sink int32
	for k := 0; b.Loop(); k++ {
		sink += BucketOfNanos(values[k%len(values)])
	}
	_ = sink
}
