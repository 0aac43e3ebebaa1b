package sqlstore

import (
	"sync"
	"time"
)

// periodic runs one task every interval on a goroutine of its own, until
// stop: the checkpointer, the deny-list mirror's refresh and the migration
// lock's heartbeat. A task's failure is its own business: it runs again at
// the next tick.
type periodic struct {
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startPeriodic calls fn every interval, the first time one interval from now.
func startPeriodic(every time.Duration, fn func()) *periodic {
	p := &periodic{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return p
}

// stop ends the loop and waits for a call of fn in progress; stopping again
// does nothing more.
func (p *periodic) stop() {
	p.once.Do(func() { close(p.stopc) })
	<-p.done
}
