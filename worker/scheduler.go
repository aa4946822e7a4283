package worker

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// item is one delivery held by this process, from the pull until it is
// settled.
type item struct {
	msg jetstream.Msg
	m   Message

	mu      sync.Mutex // orders InProgress against the settling ack
	settled bool
}

// heartbeat sends InProgress unless the item is settled or being settled
// (a DoubleAck can take a while; other items must not wait for it).
func (it *item) heartbeat() {
	if !it.mu.TryLock() {
		return
	}
	defer it.mu.Unlock()
	if !it.settled {
		_ = it.msg.InProgress() // best effort; a lost one costs a redelivery
	}
}

// settle runs f (the ack, nak or term) unless the item was settled already.
func (it *item) settle(f func()) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.settled {
		return
	}
	it.settled = true
	f()
}

// scheduler hands items to a fixed pool of goroutines so that items with the
// same key run one at a time in arrival order while different keys run in
// parallel. It holds at most cap(slots) items: the dispatcher takes a slot
// before pulling a message, so a full scheduler stops the pulling
// (back-pressure) instead of growing queues. Keys take turns round robin, so
// one busy member does not starve the others, and a slow key blocks only its
// own queue, not the other keys.
type scheduler struct {
	slots chan struct{} // one token per held item

	mu     sync.Mutex
	queues map[string][]*item // key present: queued in ready or running
	ready  chan string        // keys whose head item may run; cap = cap(slots)
	held   sync.WaitGroup     // items pushed and not yet done
}

func newScheduler(size int) *scheduler {
	return &scheduler{
		slots:  make(chan struct{}, size),
		queues: make(map[string][]*item),
		ready:  make(chan string, size),
	}
}

// push queues it behind earlier items of its key. The caller holds a slot
// for it. It never blocks: every key in ready has at least one held item, so
// ready never holds more than cap(slots) keys.
func (s *scheduler) push(key string, it *item) {
	s.held.Add(1)
	s.mu.Lock()
	q, active := s.queues[key]
	s.queues[key] = append(q, it)
	s.mu.Unlock()
	if !active {
		s.ready <- key
	}
}

// head returns the item to run for a key taken from ready.
func (s *scheduler) head(key string) *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues[key][0]
}

// items appends every held item (running, queued behind its key, or
// waiting at the pause gate) to buf.
func (s *scheduler) items(buf []*item) []*item {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		buf = append(buf, q...)
	}
	return buf
}

// done removes the key's head item, frees its slot and lets the key's next
// item run.
func (s *scheduler) done(key string) {
	s.mu.Lock()
	q := s.queues[key]
	q[0] = nil
	q = q[1:]
	if len(q) == 0 {
		delete(s.queues, key)
	} else {
		s.queues[key] = q
	}
	s.mu.Unlock()
	<-s.slots
	if len(q) > 0 {
		s.ready <- key
	}
	s.held.Done()
}

// close waits until every pushed item is done, then ends the workers' range
// over ready. No push may happen after close is called.
func (s *scheduler) close() {
	s.held.Wait()
	close(s.ready)
}
