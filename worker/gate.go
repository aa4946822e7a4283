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
	onChange func(paused bool) // called, with mu held, when halfOpen changes

	mu       sync.Mutex
	until    time.Time
	halfOpen bool // paused before; the next call is a probe
	probing  bool
	changed  chan struct{} // closed and replaced on every change
}

func newGate(onChange func(paused bool)) *gate {
	return &gate{changed: make(chan struct{}), onChange: onChange}
}

// state returns how much of the current pause is left (<= 0 if none) and
// the channel closed at the next change.
func (g *gate) state() (left time.Duration, changed <-chan struct{}) {
	return time.Until(g.until), g.changed
}

// pausedFor returns how much of the current pause is left (0 if none).
func (g *gate) pausedFor() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	left, _ := g.state()
	return max(left, 0)
}

// waitOpen blocks until no pause deadline is pending or stop is closed. It
// ignores the probe state: the dispatcher uses it to stop pulling only while
// paused.
func (g *gate) waitOpen(stop <-chan struct{}) {
	for {
		g.mu.Lock()
		left, changed := g.state()
		g.mu.Unlock()
		if left <= 0 || !wait(left, changed, stop) {
			return
		}
	}
}

// enter blocks until the caller may call the handler. probe reports that the
// caller is the probe and must report its result with exit. It returns
// errStopping if stop is closed first.
func (g *gate) enter(stop <-chan struct{}) (probe bool, err error) {
	for {
		g.mu.Lock()
		left, changed := g.state()
		if left <= 0 && !g.probing {
			probe = g.halfOpen
			g.probing = probe
			g.mu.Unlock()
			return probe, nil
		}
		g.mu.Unlock()
		// Paused (wait for the deadline), or a probe is running (wait for
		// its result).
		if !wait(left, changed, stop) {
			return false, errStopping
		}
	}
}

// exit reports the result of a handler call that entered the gate. pause > 0
// means the handler asked for a pause that long.
func (g *gate) exit(probe bool, pause time.Duration) {
	if pause <= 0 && !probe {
		return // the usual call: nothing changes, no one to wake
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	wasPaused := g.halfOpen
	if pause > 0 {
		if until := time.Now().Add(pause); until.After(g.until) {
			g.until = until
		}
		g.halfOpen = true
	} else if probe {
		g.halfOpen = false
	}
	if probe {
		g.probing = false
	}
	if wasPaused != g.halfOpen {
		g.onChange(g.halfOpen)
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// wait blocks until d has passed (d <= 0: no deadline), changed is closed or
// stop is closed; it reports false for stop.
func wait(d time.Duration, changed, stop <-chan struct{}) bool {
	var deadline <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-deadline:
	case <-changed:
	case <-stop:
		return false
	}
	return true
}
