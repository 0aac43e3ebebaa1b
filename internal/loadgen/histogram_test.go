package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueWithinOnePercent(t *testing.T) {
	values := []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 123456789, maxValue - 1, maxValue}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, r.Int64N(maxValue))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		hi := bucketHigh(i)
		lo := int64(0)
		if i > 0 {
			lo = bucketHigh(i-1) + 1
		}
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if float64(hi-lo) > float64(lo)/subCount+0.5 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its start", i, lo, hi, subCount)
		}
	}
	if got := bucketOf(maxValue + 1000); got != numBuckets-1 {
		t.Errorf("a value above the range went to bucket %d, want the last, %d", got, numBuckets-1)
	}
	if got := bucketOf(-5); got != 0 {
		t.Errorf("a negative value went to bucket %d, want 0", got)
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("an empty histogram has a median")
	}
	// 1 µs to 1000 µs, once each, in shuffled order.
	for _, i := range rand.Perm(1000) {
		h.record(time.Duration(i+1) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/subCount {
			t.Errorf("quantile(%v) = %v, want %v within 1/%d above", c.q, got, c.want, subCount)
		}
	}
	if h.max != int64(time.Millisecond) || h.total != 1000 {
		t.Errorf("max %v, total %d; want 1ms and 1000", time.Duration(h.max), h.total)
	}

	var other histogram
	other.record(time.Second)
	h.merge(&other)
	if h.total != 1001 || h.quantile(1) != time.Second {
		t.Errorf("after merging a 1 s value: total %d, max quantile %v", h.total, h.quantile(1))
	}
}
