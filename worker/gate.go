package worker

import (
	"errors"
	"sync"
	"time"
)

var errStopping = errors.New("worker: stopping")

// gate pauses handling while a dependency is down. It is a small circuit
// breaker: Pause opens it until a deadline; after the deadline one handler
// call (the probe) runs alone; if the probe pauses again the gate opens
// again, otherwise every handler resumes. Messages waiting at the gate are
// kept alive with InProgress, so they do not burn deliveries.
type gate struct {
	now func() time.Time

	mu       sync.Mutex
	until    time.Time
	halfOpen bool // paused before; the next call is a probe
	probing  bool
	changed  chan struct{} // closed and replaced on every change
	onChange func(paused bool)
}

func newGate(now func() time.Time, onChange func(bool)) *gate {
	return &gate{now: now, changed: make(chan struct{}), onChange: onChange}
}

func (g *gate) broadcastLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// pausedFor returns how much of the current pause is left (0 if none).
func (g *gate) pausedFor() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.until.Sub(g.now()), 0)
}

// waitOpen blocks until no pause deadline is pending or stop is closed. It
// ignores the probe state: the dispatcher uses it to stop pulling only while
// paused.
func (g *gate) waitOpen(stop <-chan struct{}) {
	for {
		g.mu.Lock()
		left := g.until.Sub(g.now())
		ch := g.changed
		g.mu.Unlock()
		if left <= 0 {
			return
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-ch:
		case <-stop:
			t.Stop()
			return
		}
		t.Stop()
	}
}

// enter blocks until the caller may call the handler. probe reports that the
// caller is the probe and must report its result with exit. It returns
// errStopping if stop is closed first.
func (g *gate) enter(stop <-chan struct{}) (probe bool, err error) {
	for {
		g.mu.Lock()
		left := g.until.Sub(g.now())
		ch := g.changed
		switch {
		case left > 0:
		case g.probing:
			left = 0 // wait for the probe's result
		case g.halfOpen:
			g.probing = true
			g.mu.Unlock()
			return true, nil
		default:
			g.mu.Unlock()
			return false, nil
		}
		g.mu.Unlock()

		var timer <-chan time.Time
		var t *time.Timer
		if left > 0 {
			t = time.NewTimer(left)
			timer = t.C
		}
		select {
		case <-timer:
		case <-ch:
		case <-stop:
			if t != nil {
				t.Stop()
			}
			return false, errStopping
		}
		if t != nil {
			t.Stop()
		}
	}
}

// exit reports the result of a handler call that entered the gate. pause > 0
// means the handler asked for a pause that long.
func (g *gate) exit(probe bool, pause time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	wasPaused := g.halfOpen
	if pause > 0 {
		if until := g.now().Add(pause); until.After(g.until) {
			g.until = until
		}
		g.halfOpen = true
	} else if probe {
		g.halfOpen = false
	}
	if probe {
		g.probing = false
	}
	if g.onChange != nil && wasPaused != g.halfOpen {
		g.onChange(g.halfOpen)
	}
	g.broadcastLocked()
}

// release is exit for a probe that did not call the handler.
func (g *gate) release(probe bool) {
	if !probe {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	g.broadcastLocked()
}
