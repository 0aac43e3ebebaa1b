package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// fakeClients is a backing store that counts reads; block, when set, holds
// a Get until it is closed (after signalling entered).
type fakeClients struct {
	mu      sync.Mutex
	m       map[string]valet.Client
	gets    int
	block   chan struct{}
	entered chan struct{}
}

func newFake(ids ...string) *fakeClients {
	f := &fakeClients{m: map[string]valet.Client{}}
	for _, id := range ids {
		f.m[id] = valet.Client{ID: id, Name: "v1", Scopes: []string{"read"}}
	}
	return f
}

func (f *fakeClients) Get(_ context.Context, id string) (*valet.Client, error) {
	f.mu.Lock()
	f.gets++
	c, ok := f.m[id]
	block, entered := f.block, f.entered
	f.mu.Unlock()
	if block != nil {
		entered <- struct{}{}
		<-block
	}
	if !ok {
		return nil, fmt.Errorf("get client: %w", valet.ErrNotFound)
	}
	return c.Clone(), nil
}

func (f *fakeClients) Create(_ context.Context, c *valet.Client) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[c.ID]; ok {
		return valet.ErrExists
	}
	f.m[c.ID] = *c.Clone()
	return nil
}

func (f *fakeClients) List(context.Context) ([]*valet.Client, error) { return nil, nil }

func (f *fakeClients) Update(_ context.Context, id string, fn func(*valet.Client) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[id]
	if !ok {
		return valet.ErrNotFound
	}
	if err := fn(&c); err != nil {
		return err
	}
	f.m[id] = c
	return nil
}

func (f *fakeClients) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, id)
	return nil
}

func (f *fakeClients) reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// rename changes a client in the backing store only, as another node would.
func (f *fakeClients) rename(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.m[id]
	c.Name = name
	f.m[id] = c
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) add(d time.Duration)       { c.t = c.t.Add(d) }
func newClock() *clock                     { return &clock{t: time.Unix(1_800_000_000, 0)} }
func name(t *testing.T, s *Clients) string { return mustGet(t, s, "a").Name }

func mustGet(t *testing.T, s *Clients, id string) *valet.Client {
	t.Helper()
	c, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return c
}

func TestReadsWithinTTLComeFromMemory(t *testing.T) {
	f, clk := newFake("a"), newClock()
	s := &Clients{Store: f, TTL: 2 * time.Second, Now: clk.now}
	mustGet(t, s, "a")
	mustGet(t, s, "a")
	if n := f.reads(); n != 1 {
		t.Fatalf("two Gets within the TTL read the store %d times, want 1", n)
	}
	// Another node renames the client: this node sees it once the TTL ends.
	f.rename("a", "v2")
	clk.add(time.Second)
	if got := name(t, s); got != "v1" {
		t.Fatalf("within the TTL: name %q, want the remembered v1", got)
	}
	clk.add(time.Second)
	if got := name(t, s); got != "v2" {
		t.Fatalf("after the TTL: name %q, want v2 from the store", got)
	}
	if n := f.reads(); n != 2 {
		t.Fatalf("store read %d times, want 2", n)
	}
}

func TestZeroTTLReadsTheStoreEveryTime(t *testing.T) {
	f := newFake("a")
	s := &Clients{Store: f}
	mustGet(t, s, "a")
	mustGet(t, s, "a")
	if n := f.reads(); n != 2 || s.Len() != 0 {
		t.Fatalf("TTL 0: %d reads and %d entries, want 2 and 0", n, s.Len())
	}
}

func TestChangesThroughTheCacheApplyAtOnce(t *testing.T) {
	ctx := context.Background()
	f, clk := newFake("a"), newClock()
	s := &Clients{Store: f, TTL: time.Hour, Now: clk.now}
	mustGet(t, s, "a")
	if err := s.Update(ctx, "a", func(c *valet.Client) error { c.Name = "v2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := name(t, s); got != "v2" {
		t.Fatalf("after Update through the cache: name %q, want v2", got)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, valet.ErrNotFound) {
		t.Fatalf("after Delete through the cache: %v, want ErrNotFound", err)
	}
	// A client deleted and registered again under its ID is the new one.
	if err := s.Create(ctx, &valet.Client{ID: "a", Name: "v3"}); err != nil {
		t.Fatal(err)
	}
	if got := name(t, s); got != "v3" {
		t.Fatalf("after Create: name %q, want v3", got)
	}
}

func TestUnknownClientsAreNotRemembered(t *testing.T) {
	ctx := context.Background()
	f, clk := newFake(), newClock()
	s := &Clients{Store: f, TTL: time.Hour, Now: clk.now}
	for i := range 3 {
		if _, err := s.Get(ctx, "b"); !errors.Is(err, valet.ErrNotFound) {
			t.Fatalf("Get %d: %v, want ErrNotFound", i, err)
		}
	}
	if s.Len() != 0 || f.reads() != 3 {
		t.Fatalf("unknown ID: %d entries, %d reads; want 0 and 3", s.Len(), f.reads())
	}
	// Registered on another node: works here at once.
	f.mu.Lock()
	f.m["b"] = valet.Client{ID: "b"}
	f.mu.Unlock()
	mustGet(t, s, "b")
}

func TestCallersCannotChangeTheCachedRegistration(t *testing.T) {
	f, clk := newFake("a"), newClock()
	s := &Clients{Store: f, TTL: time.Hour, Now: clk.now}
	c := mustGet(t, s, "a")
	c.Name, c.Scopes[0] = "mutated", "admin"
	c = mustGet(t, s, "a")
	c.Scopes[0] = "admin"
	got := mustGet(t, s, "a")
	if got.Name != "v1" || got.Scopes[0] != "read" {
		t.Fatalf("a caller changed the cached registration: %+v", got)
	}
}

// A read that began before an Update and returns after it holds the old
// registration; it must not be remembered.
func TestReadRacingAChangeIsNotKept(t *testing.T) {
	ctx := context.Background()
	f, clk := newFake("a"), newClock()
	s := &Clients{Store: f, TTL: time.Hour, Now: clk.now}
	block, entered := make(chan struct{}), make(chan struct{})
	f.block, f.entered = block, entered
	done := make(chan *valet.Client)
	go func() {
		c, _ := s.Get(ctx, "a")
		done <- c
	}()
	<-entered // the read holds its copy of v1
	f.mu.Lock()
	f.block, f.entered = nil, nil
	f.mu.Unlock()
	if err := s.Update(ctx, "a", func(c *valet.Client) error { c.Name = "v2"; return nil }); err != nil {
		t.Fatal(err)
	}
	close(block)
	if old := <-done; old.Name != "v1" {
		t.Fatalf("the racing read returned %q, want v1 (it asked before the change)", old.Name)
	}
	if got := name(t, s); got != "v2" {
		t.Fatalf("after the race: name %q, want v2 (the stale read was kept)", got)
	}
}

func TestTheBoundHolds(t *testing.T) {
	f, clk := newFake(), newClock()
	for i := range 50 {
		f.m[fmt.Sprint(i)] = valet.Client{ID: fmt.Sprint(i)}
	}
	s := &Clients{Store: f, TTL: time.Hour, MaxEntries: 8, Now: clk.now}
	for i := range 50 {
		mustGet(t, s, fmt.Sprint(i))
		if s.Len() > 8 {
			t.Fatalf("after %d clients the cache holds %d, more than its bound 8", i+1, s.Len())
		}
	}
	// Expired entries go before live ones: within MaxEntries inserts a scan
	// has dropped every entry read before the TTL passed.
	clk.add(2 * time.Hour)
	for i := 100; i < 109; i++ {
		f.m[fmt.Sprint(i)] = valet.Client{ID: fmt.Sprint(i)}
		mustGet(t, s, fmt.Sprint(i))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, e := range s.m {
		if !clk.now().Before(e.until) {
			t.Errorf("expired entry %s still held after MaxEntries inserts", id)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	f := newFake("a", "b")
	s := &Clients{Store: f, TTL: time.Millisecond}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				id := []string{"a", "b"}[(i+j)%2]
				if j%50 == 0 {
					_ = s.Update(ctx, id, func(c *valet.Client) error { c.Name = fmt.Sprint(j); return nil })
				}
				if _, err := s.Get(ctx, id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
