package loadgen

import (
	"math/bits"
	"time"
)

// The histogram keeps 2^subBits linear buckets per power of two of a
// latency in nanoseconds, like an HDR histogram with two significant binary
// digits more than a float16: a recorded value is reported within 1/128
// (0.8%) of what it was. Below 2^subBits ns every value has its own bucket.
const (
	subBits    = 7
	subCount   = 1 << subBits
	maxBits    = 41 // values are clamped below 2^41 ns, about 36 minutes
	maxValue   = 1<<maxBits - 1
	numBuckets = (maxBits - subBits + 1) * subCount
)

// histogram counts latencies in numBuckets buckets: its size is fixed
// (about 36 KB) whatever the number of requests.
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    int64
}

// bucketOf returns the bucket of v nanoseconds.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1 // so that v>>shift is in [subCount, 2*subCount)
	return (shift+1)<<subBits + int(v>>shift) - subCount
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i>>subBits - 1
	mantissa := int64(i&(subCount-1) + subCount)
	return (mantissa+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the latency below or at which a fraction q of the
// recorded values lie, as the upper bound of the bucket that holds it, and
// never more than the largest value recorded. It is 0 when nothing was
// recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	// The rank of the value sought, 1-based: the ceiling of q*total.
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max)
}
