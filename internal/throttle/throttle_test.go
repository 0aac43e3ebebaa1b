package throttle

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func TestFailuresAreLimitedPerKey(t *testing.T) {
	c := newClock()
	l := &Limiter{Failures: 3, Per: 3 * time.Minute, Now: c.now}
	for i := range 3 {
		a, wait := l.Begin("ana")
		if a == nil {
			t.Fatalf("attempt %d refused (wait %v); the first 3 failures must be allowed", i+1, wait)
		}
		a.Fail()
	}
	a, wait := l.Begin("ana")
	if a != nil {
		t.Fatal("a 4th attempt after 3 failures was allowed")
	}
	// One failure comes back every Per/Failures = 1 minute.
	if wait <= 0 || wait > time.Minute {
		t.Errorf("wait = %v, want (0, 1m]", wait)
	}
	if a, _ := l.Begin("bob"); a == nil {
		t.Error("another key was limited by ana's failures")
	} else {
		a.Succeed()
	}
	c.add(wait)
	a, _ = l.Begin("ana")
	if a == nil {
		t.Fatalf("still refused after waiting the announced %v", wait)
	}
	a.Fail()
	if a, _ := l.Begin("ana"); a != nil {
		t.Error("only one failure should have come back after one interval")
	}
}

func TestSuccessesAreFree(t *testing.T) {
	l := &Limiter{Failures: 2, Per: time.Hour, Now: newClock().now}
	for i := range 50 {
		a, _ := l.Begin("ana")
		if a == nil {
			t.Fatalf("success %d was refused: successes must not count", i)
		}
		a.Succeed()
	}
}

func TestAttemptsInFlightHoldTheBudget(t *testing.T) {
	l := &Limiter{Failures: 5, Per: time.Hour, Now: newClock().now}
	var started []*Attempt
	for range 20 {
		if a, _ := l.Begin("ana"); a != nil {
			started = append(started, a)
		}
	}
	if len(started) != 5 {
		t.Fatalf("%d parallel attempts began, want 5: a burst must not outrun the limit", len(started))
	}
	for _, a := range started {
		a.Succeed()
		a.Succeed() // a second end is ignored
	}
	if a, _ := l.Begin("ana"); a == nil {
		t.Error("ended successful attempts still hold the budget")
	}
}

func TestConcurrentFailuresNeverExceedTheBudget(t *testing.T) {
	l := &Limiter{Failures: 10, Per: time.Hour}
	var mu sync.Mutex
	began := 0
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if a, _ := l.Begin("ana"); a != nil {
				mu.Lock()
				began++
				mu.Unlock()
				a.Fail()
			}
		})
	}
	wg.Wait()
	if began > 10 {
		t.Errorf("%d attempts began, want at most 10", began)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	c := newClock()
	l := &Limiter{Failures: 2, Per: time.Hour, MaxKeys: 100, Now: c.now}
	// Keys that failed stay remembered until the map is full, then the
	// oldest make room; the newest failures are kept.
	for i := range 1000 {
		a, _ := l.Begin(fmt.Sprint("k", i))
		a.Fail()
		a2, _ := l.Begin(fmt.Sprint("k", i))
		a2.Fail()
		c.add(time.Millisecond)
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d keys remembered, want at most MaxKeys=100", n)
	}
	if a, _ := l.Begin("k999"); a != nil {
		t.Error("the most recent key was forgotten")
	}
}

func TestIdleKeysAreForgottenFirst(t *testing.T) {
	c := newClock()
	l := &Limiter{Failures: 2, Per: time.Minute, MaxKeys: 10, Now: c.now}
	a, _ := l.Begin("victim")
	a.Fail()
	a, _ = l.Begin("victim")
	a.Fail()
	for i := range 9 {
		a, _ := l.Begin(fmt.Sprint("ok", i))
		a.Succeed() // budget still full: forgetting it loses nothing
	}
	for i := range 5 {
		a, _ := l.Begin(fmt.Sprint("new", i))
		a.Succeed()
	}
	if a, _ := l.Begin("victim"); a != nil {
		t.Error("a limited key was forgotten while idle keys could have been")
	}
}

func TestMisconfiguredPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a Limiter without Failures did not panic")
		}
	}()
	(&Limiter{}).Begin("x")
}

func TestAccountKey(t *testing.T) {
	if AccountKey("Ana") != AccountKey("ana") {
		t.Error("the key is case-sensitive: Ana and ana would have two budgets")
	}
	long := strings.Repeat("a", 1000)
	if got := AccountKey(long); len(got) > len("user:")+128 || got != AccountKey(long+"b") {
		t.Errorf("an overlong username is not bounded: %d bytes", len(got))
	}
}
