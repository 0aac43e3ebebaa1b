// Package cache keeps recently read registrations in memory in front of a
// valet.Store, for the hot path: every request to /token, /introspect and
// /revoke starts by reading its client, and the registration changes
// rarely.
package cache

import (
	"context"
	"sync"
	"time"

	"github.com/valetauth/valet"
)

// DefaultMaxClients bounds the cached registrations when MaxEntries is zero.
const DefaultMaxClients = 10000

// Clients is a valet.ClientStore that remembers what Get read for TTL.
//
// A change made through this store (Create, Update, Delete) takes effect at
// once on this node: the entry is dropped, and a read that raced with the
// change is not kept. A change made on another node, which shares the
// database but not this memory, takes effect here within TTL. Unknown IDs
// are never cached, so a client registered on another node works at once,
// and guessing IDs cannot fill the cache.
//
// Get returns a copy (valet.Client.Clone): no caller can change what
// another reads.
type Clients struct {
	Store      valet.ClientStore
	TTL        time.Duration    // how long a read is trusted; zero or less disables the cache
	MaxEntries int              // zero means DefaultMaxClients
	Now        func() time.Time // nil means time.Now

	mu sync.RWMutex
	m  map[string]entry
	// gen counts the changes made through this store. A read that started
	// before a change finishes after it may hold the old registration; it
	// is returned to its caller (who asked before the change) but not kept.
	gen uint64
	// sweepIn counts inserts down to the next scan for expired entries.
	sweepIn int
}

type entry struct {
	c     *valet.Client
	until time.Time
}

var _ valet.ClientStore = (*Clients)(nil)

// Get returns the client from memory when a read of it is younger than
// TTL, else from the store.
func (s *Clients) Get(ctx context.Context, id string) (*valet.Client, error) {
	if s.TTL <= 0 {
		return s.Store.Get(ctx, id)
	}
	now := s.now()
	s.mu.RLock()
	e, ok := s.m[id]
	gen := s.gen
	s.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e.c.Clone(), nil
	}
	c, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.gen == gen {
		if s.m == nil {
			s.m = make(map[string]entry)
		}
		if _, present := s.m[id]; !present && len(s.m) >= s.max() {
			s.evict(now)
		}
		s.sweepIn--
		s.m[id] = entry{c: c.Clone(), until: now.Add(s.TTL)}
	}
	s.mu.Unlock()
	return c, nil
}

// evict makes room for one entry, with mu held and the map full: the
// expired entries go, in a scan run at most once per MaxEntries inserts,
// and if that freed nothing (or it is not yet time for a scan) an
// arbitrary entry goes, at O(1).
func (s *Clients) evict(now time.Time) {
	if s.sweepIn <= 0 {
		s.sweepIn = s.max()
		for id, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, id)
			}
		}
		if len(s.m) < s.max() {
			return
		}
	}
	for id := range s.m {
		delete(s.m, id)
		return
	}
}

// Create, List, Update and Delete go to the store; the three that change
// a client drop what this node remembers of it.
func (s *Clients) Create(ctx context.Context, c *valet.Client) error {
	defer s.forget(c.ID)
	return s.Store.Create(ctx, c)
}

func (s *Clients) List(ctx context.Context) ([]*valet.Client, error) { return s.Store.List(ctx) }

func (s *Clients) Update(ctx context.Context, id string, fn func(*valet.Client) error) error {
	defer s.forget(id)
	return s.Store.Update(ctx, id, fn)
}

func (s *Clients) Delete(ctx context.Context, id string) error {
	defer s.forget(id)
	return s.Store.Delete(ctx, id)
}

// forget drops id and voids the reads in flight, after the change is
// written (deferred), so that no read started before it is kept.
func (s *Clients) forget(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.gen++
	s.mu.Unlock()
}

// Len reports how many registrations are remembered.
func (s *Clients) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

func (s *Clients) max() int {
	if s.MaxEntries > 0 {
		return s.MaxEntries
	}
	return DefaultMaxClients
}

func (s *Clients) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
