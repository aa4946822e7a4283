package worker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitDone waits for ctx to end, failing after 5 s.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled within 5s")
	}
}

func TestCallContextDeadline(t *testing.T) {
	c := newCallContext(context.Background(), 20*time.Millisecond)
	start := time.Now()
	c.begin(start)
	if d, ok := c.Deadline(); !ok || !d.Equal(start.Add(20*time.Millisecond)) {
		t.Fatalf("Deadline() = %v, %v, want %v, true", d, ok, start.Add(20*time.Millisecond))
	}
	child, cancel := context.WithCancel(c)
	defer cancel()
	timed, cancelTimed := context.WithTimeout(c, time.Hour)
	defer cancelTimed()
	if d, _ := timed.Deadline(); !d.Equal(start.Add(20 * time.Millisecond)) {
		t.Fatalf("derived Deadline() = %v, want the parent's %v", d, start.Add(20*time.Millisecond))
	}
	waitDone(t, child)
	if time.Now().Before(start.Add(20 * time.Millisecond)) {
		t.Fatal("cancelled before the deadline")
	}
	for _, ctx := range []context.Context{c, child, timed} {
		waitDone(t, ctx)
		if err := ctx.Err(); err != context.DeadlineExceeded {
			t.Errorf("Err() = %v, want %v", err, context.DeadlineExceeded)
		}
		if err := context.Cause(ctx); err != context.DeadlineExceeded {
			t.Errorf("Cause() = %v, want %v", err, context.DeadlineExceeded)
		}
	}
	if c.end() {
		t.Fatal("end() = true for a cancelled context, want false")
	}
}

// TestCallContextReuse: calls that end in time leave the context usable,
// also when the timer of an earlier call fires during a later one or
// between calls.
func TestCallContextReuse(t *testing.T) {
	const timeout = 30 * time.Millisecond
	c := newCallContext(context.Background(), timeout)
	defer c.release()
	for range 3 {
		c.begin(time.Now())
		child, cancel := context.WithCancel(c)
		cancel()
		if !c.end() {
			t.Fatal("end() = false, want true")
		}
		if n := len(c.afters); n != 0 {
			t.Fatalf("%d derived contexts still attached after their cancel", n)
		}
		if child.Err() != context.Canceled {
			t.Fatalf("child Err() = %v", child.Err())
		}
	}
	// Idle: the timer fires and disarms; nothing is cancelled.
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		armed := c.armed
		c.mu.Unlock()
		if !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timer still armed 5s after the last call")
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err() between calls = %v, want nil", err)
	}
	// A call that began just before the timer of the previous one fires
	// gets its own full timeout.
	c.begin(time.Now())
	c.end()
	start := time.Now().Add(timeout / 2)
	for time.Now().Before(start) {
		time.Sleep(time.Millisecond)
	}
	c.begin(start)
	waitDone(t, c)
	if time.Now().Before(start.Add(timeout)) {
		t.Fatalf("cancelled %v after the call began, want %v or more", time.Since(start), timeout)
	}
	if c.end() {
		t.Fatal("end() = true after the deadline passed")
	}
}

func TestCallContextParentCancelled(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := newCallContext(parent, time.Hour)
	c.begin(time.Now())
	stopped := make(chan struct{})
	context.AfterFunc(c, func() { close(stopped) })
	cancel()
	waitDone(t, c)
	<-stopped
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err() = %v, want %v", c.Err(), context.Canceled)
	}
	if c.end() {
		t.Fatal("end() = true after the parent ended")
	}
	late := newCallContext(parent, time.Hour)
	if late.Err() != context.Canceled {
		t.Fatalf("Err() of a context made after the parent ended = %v, want %v", late.Err(), context.Canceled)
	}
}
