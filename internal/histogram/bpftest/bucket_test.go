//go:build linux

package bpftest

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfleet/bpfleet/internal/histogram"
)

// loadObjects loads the test programs, or skips the test where it cannot.
func loadObjects(t *testing.T) *bucketObjects {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	var objs bucketObjects
	if err := loadBucketObjects(&objs, nil); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("kernel lacks a feature: %v", err)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("verifier: %+v", ve)
		}
		t.Fatalf("loading objects: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return &objs
}

// upperBound returns the largest v with histogram.BucketOfNanos(v) <= i: the
// threshold T_i of bucket i (BucketOfNanos grows with v, as package
// histogram's tests show).
func upperBound(i int32) uint64 {
	lo, hi := uint64(0), uint64(math.MaxUint64)
	for lo < hi {
		mid := lo + (hi-lo)/2 + 1
		if histogram.BucketOfNanos(mid) <= i {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// testValues returns T_i-1, T_i and T_i+1 of every bucket, 0, 1, 2^64-1
// and 4096 pseudo-random values of every magnitude.
func testValues() []uint64 {
	values := []uint64{0, 1, math.MaxUint64}
	for i := histogram.BucketOfNanos(1); i <= histogram.BucketOfNanos(math.MaxUint64); i++ {
		t := upperBound(i)
		values = append(values, t-1, t, t+1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4096 {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	return values
}

func TestKernelBucketsMatchReference(t *testing.T) {
	objs := loadObjects(t)
	values := testValues()
	for start := 0; start < len(values); start += len(bucketBatch{}.In) {
		var in, out bucketBatch
		n := copy(in.In[:], values[start:])
		ret, err := objs.BucketBatch.Run(&ebpf.RunOptions{Context: &in, ContextOut: &out})
		if err != nil {
			t.Fatalf("running bucket_batch: %v", err)
		}
		if ret != 0 {
			t.Fatalf("bucket_batch returned %d, want 0", ret)
		}
		for k, v := range in.In[:n] {
			if got, want := out.Out[k], histogram.BucketOfNanos(v); got != want {
				t.Errorf("hist_bucket_ns(%d) = %d, BucketOfNanos = %d", v, got, want)
			}
		}
	}
}

func TestKernelZeroBucket(t *testing.T) {
	objs := loadObjects(t)
	var in, out bucketBatch
	in.In[0] = 0
	if _, err := objs.BucketBatch.Run(&ebpf.RunOptions{Context: &in, ContextOut: &out}); err != nil {
		t.Fatalf("running bucket_batch: %v", err)
	}
	if out.Out[0] != histogram.ZeroBucket {
		t.Errorf("hist_bucket_ns(0) = %#x, want ZeroBucket %#x", out.Out[0], histogram.ZeroBucket)
	}
}

// TestSchedSwitchRecords runs hist_bucket_ns and hist_add on sched_switch and
// checks every row: the mean of the observations in bucket i lies in
// (T_(i-1), T_i], zeros sum to 0, and no row was lost.
func TestSchedSwitchRecords(t *testing.T) {
	objs := loadObjects(t)
	l, err := link.AttachTracing(link.TracingOptions{Program: objs.RecordSwitch})
	if err != nil {
		t.Fatalf("attaching record_switch: %v", err)
	}
	for range 100 {
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("detaching: %v", err)
	}

	var (
		key   bucketHistKey
		value bucketHistValue
		rows  int
	)
	iter := objs.SwitchHist.Iterate()
	for iter.Next(&key, &value) {
		rows++
		count, sum := value.Count, value.Sum
		if key.Bucket == histogram.ZeroBucket {
			if count == 0 || sum != 0 {
				t.Errorf("zero bucket holds %d observations summing to %d", count, sum)
			}
			continue
		}
		lo, hi := upperBound(key.Bucket-1), upperBound(key.Bucket)
		if count == 0 || sum <= lo*count || sum > hi*count {
			t.Errorf("bucket %d (%d, %d] holds %d observations summing to %d", key.Bucket, lo, hi, count, sum)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("reading switch_hist: %v", err)
	}
	// Values span 2^0 to 2^40 ns: 8 buckets per power of two.
	if rows < 100 {
		t.Errorf("%d buckets recorded, want at least 100", rows)
	}
	var lost []uint64
	if err := objs.LostEvents.Lookup(uint32(0), &lost); err != nil {
		t.Fatalf("reading lost_events: %v", err)
	}
	for cpu, n := range lost {
		if n != 0 {
			t.Errorf("CPU %d lost %d rows", cpu, n)
		}
	}
}
