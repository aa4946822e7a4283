package worker

import (
	"context"
	"sync"
	"time"
)

// callContext is the context a handler goroutine gives its handler calls,
// one call after another. A context.WithTimeout per message costs a timer,
// a registration with the parent and several allocations, for a deadline
// that is almost never reached; a callContext is made once and reused for
// as long as it is not cancelled.
//
// During a call it behaves as context.WithTimeout(parent, timeout) made when
// the call began: Deadline is that time, Done is closed and Err is
// context.DeadlineExceeded when it passes, context.Canceled when the parent
// ends. It carries no values (the parent is the Consumer's, made from
// context.Background). Between calls the clock does not run. Done is not
// closed when a call returns: a handler must not leave work behind that
// waits for it. Contexts derived from it attach through AfterFunc, without a
// goroutine, like those derived from the standard library's contexts.
//
// The one timer is not stopped and started for every call: while it is
// armed, a new call only moves the deadline, and when the timer fires early
// it re-arms itself for the current deadline (or disarms, between calls).
type callContext struct {
	timeout    time.Duration
	done       chan struct{}
	timer      *time.Timer
	stopParent func() bool

	mu       sync.Mutex
	deadline time.Time
	active   bool // a call is running
	armed    bool // timer is pending
	err      error
	afters   map[*func()]struct{}
}

var _ context.Context = (*callContext)(nil)

// newCallContext returns a callContext cancelled when parent ends.
func newCallContext(parent context.Context, timeout time.Duration) *callContext {
	c := &callContext{timeout: timeout, done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	c.stopParent = context.AfterFunc(parent, func() { c.cancel(context.Canceled) })
	if parent.Err() != nil { // AfterFunc would cancel c, but not before returning
		c.cancel(context.Canceled)
	}
	return c
}

// begin starts a call at now (the caller's clock reading, time.Now is not
// free): the deadline is timeout from then.
func (c *callContext) begin(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = now.Add(c.timeout)
	c.active = true
	if !c.armed {
		c.armed = true
		c.timer.Reset(c.timeout)
	}
}

// end ends a call. It reports whether c can serve the next call (it was
// not cancelled); if not, c is released.
func (c *callContext) end() bool {
	c.mu.Lock()
	c.active = false
	ok := c.err == nil
	c.mu.Unlock()
	if !ok {
		c.release()
	}
	return ok
}

// release lets the parent and the timer forget c.
func (c *callContext) release() {
	c.stopParent()
	c.timer.Stop()
}

func (c *callContext) expire() {
	c.mu.Lock()
	if !c.active {
		c.armed = false
		c.mu.Unlock()
		return
	}
	if d := time.Until(c.deadline); d > 0 {
		c.timer.Reset(d)
		c.mu.Unlock()
		return
	}
	fs := c.cancelLocked(context.DeadlineExceeded)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (c *callContext) cancel(err error) {
	c.mu.Lock()
	fs := c.cancelLocked(err)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// cancelLocked cancels c with err unless it is cancelled already, and
// returns the functions to run (outside the lock).
func (c *callContext) cancelLocked(err error) []func() {
	if c.err != nil {
		return nil
	}
	c.err = err
	close(c.done)
	fs := make([]func(), 0, len(c.afters))
	for f := range c.afters {
		fs = append(fs, *f)
	}
	c.afters = nil
	return fs
}

// Deadline returns the current call's deadline.
func (c *callContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

// Done is closed when c is cancelled.
func (c *callContext) Done() <-chan struct{} { return c.done }

// Err returns nil, context.DeadlineExceeded or context.Canceled.
func (c *callContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns nil: a callContext carries no values.
func (c *callContext) Value(any) any { return nil }

// AfterFunc runs f once c is cancelled (at once, in its own goroutine, if
// it is already) and returns a stop function that reports whether it
// prevented that. context.WithCancel, WithTimeout and AfterFunc use it to
// attach derived contexts to c without a goroutine.
func (c *callContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	if c.afters == nil {
		c.afters = make(map[*func()]struct{})
	}
	p := &f
	c.afters[p] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afters[p]
		delete(c.afters, p)
		return ok
	}
}
