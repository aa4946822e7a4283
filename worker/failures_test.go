package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"watchshare/worker"
)

// The dead letter cannot be stored (SOCIAL_DLQ is gone): the message is
// nak'd instead of lost, and dead-lettered on a later delivery once the
// stream is back.
func TestDeadLetterFailureRetriesUntilStored(t *testing.T) {
	e := setup(t)
	cfg := testConfig(t)
	cfg.PublishTimeout = 500 * time.Millisecond
	dlqBack := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		if n == 2 {
			select { // hold the second delivery until SOCIAL_DLQ exists again
			case <-dlqBack:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return worker.Permanent("invalid watch event", nil)
	})
	c := startConsumer(t, e.js, rec, cfg)
	// After Start, which creates missing streams.
	if err := e.js.DeleteStream(ctx(t), worker.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	publishWatch(t, e.js, "bad", "ev-bad", watchPayload("bad", 1))
	waitFor(t, 10*time.Second, "second delivery", func() bool { return rec.count() == 2 })
	if st := c.Stats(); st.Retried != 1 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v after a failed dead letter, want 1 retried, none dead-lettered", st)
	}
	if err := worker.EnsureStreams(ctx(t), e.js); err != nil {
		t.Fatal(err)
	}
	close(dlqBack)
	dl := waitDeadLetters(t, e.js, worker.StreamPlayback, 1)
	if got := dl[0].Header.Get(worker.HeaderDeliveries); got != "2" {
		t.Errorf("Watchshare-Deliveries = %q, want 2", got)
	}
	if got := dl[0].Header.Get(worker.HeaderError); got != "invalid watch event" {
		t.Errorf("Watchshare-Error = %q, want %q", got, "invalid watch event")
	}
	if st := c.Stats(); st.Retried != 1 || st.DeadLettered != 1 {
		t.Errorf("Stats = %+v, want 1 retried, 1 dead-lettered", st)
	}
}

// On the last delivery a dead letter that cannot be stored leaves the
// message in its stream; nothing is counted as dead-lettered.
func TestDeadLetterFailureOnLastDelivery(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"permanent", worker.Permanent("invalid watch event", nil)},
		{"retries exhausted", errors.New("graph 503")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			cfg := testConfig(t)
			cfg.MaxDeliver = 2
			cfg.PublishTimeout = 500 * time.Millisecond
			rec := newRecorder(func(context.Context, worker.Message, int) error { return tc.err })
			c := startConsumer(t, e.js, rec, cfg)
			if err := e.js.DeleteStream(ctx(t), worker.StreamDLQ); err != nil {
				t.Fatal(err)
			}
			publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
			waitFor(t, 10*time.Second, "two deliveries settled", func() bool { return c.Stats().Retried == 2 })
			if st := c.Stats(); st.DeadLettered != 0 || st.Held != 0 {
				t.Errorf("Stats = %+v, want none dead-lettered, none held", st)
			}
			if got := rec.deliveries("m1"); len(got) != 2 || got[0] != 1 || got[1] != 2 {
				t.Errorf("deliveries = %v, want [1 2]", got)
			}
		})
	}
}

// A durable consumer deleted under a running Consumer is recreated.
func TestConsumerRecreatedAfterDelete(t *testing.T) {
	e := setup(t)
	rec := newRecorder(nil)
	startConsumer(t, e.js, rec, testConfig(t))
	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	waitFor(t, 10*time.Second, "first handled", func() bool { return rec.count() == 1 })
	waitSettled(t, e.js, worker.StreamPlayback)

	if err := e.js.DeleteConsumer(ctx(t), worker.StreamPlayback, worker.DurableName); err != nil {
		t.Fatal(err)
	}
	publishWatch(t, e.js, "m1", "ev-2", watchPayload("m1", 2))
	// The new durable starts at the beginning of the stream, so ev-1 may come
	// again (handlers are idempotent); ev-2 must come.
	waitFor(t, 15*time.Second, "ev-2 handled after the consumer was deleted", func() bool {
		for _, m := range rec.snapshot() {
			if m.MsgID == "ev-2" {
				return true
			}
		}
		return false
	})
	waitSettled(t, e.js, worker.StreamPlayback)
}

// A graceful Stop does not wait for a pause to end: the messages waiting at
// the gate are given back at once.
func TestStopWhilePausedGivesBack(t *testing.T) {
	e := setup(t)
	cfg := testConfig(t)
	cfg.Concurrency = 1 // the second message queues behind the first
	cfg.AckWait = 30 * time.Second
	const pause = 15 * time.Second // PauseMax = AckWait/2
	// Both are pulled before the first is handled.
	publishWatch(t, e.js, "first", "ev-first", watchPayload("first", 1))
	publishWatch(t, e.js, "second", "ev-second", watchPayload("second", 1))

	var c *worker.Consumer
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		for c.Stats().Held < 2 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond) // until the second message is held too
		}
		return worker.Pause(pause, errors.New("store down"))
	})
	c, err := worker.New(e.js, rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	waitFor(t, 10*time.Second, "paused", func() bool { return c.Stats().Paused == 1 })

	sctx, cancel := context.WithTimeout(context.Background(), pause/3)
	defer cancel()
	if err := c.Stop(sctx); err != nil {
		t.Fatalf("Stop = %v, want a graceful stop well before the pause ends", err)
	}
	if got := rec.count(); got != 1 {
		t.Errorf("handler called %d times, want 1 (the second message waits at the gate)", got)
	}
	if st := c.Stats(); st.Paused != 1 || st.Retried != 1 || st.Held != 0 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want 1 paused, 1 given back (retried), none held", st)
	}
}

func TestStartErrors(t *testing.T) {
	e := setup(t)
	c, err := worker.New(e.js, newRecorder(nil), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Start(cancelled); err == nil {
		t.Fatal("Start(cancelled context) = nil")
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after a failed Start")
	}
	if c.Ready() == nil {
		t.Error("Ready() = nil after a failed Start")
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after a failed Start = nil")
	}

	running := startConsumer(t, e.js, newRecorder(nil), testConfig(t))
	if err := running.Start(context.Background()); err == nil {
		t.Error("second Start = nil")
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	e := setup(t)
	for _, member := range []string{"", "a.>", "a b", "a..b", ".a", "a.", "*"} {
		if _, err := worker.PublishWatch(ctx(t), e.js, member, "ev-1", []byte(`{}`)); err == nil {
			t.Errorf("PublishWatch(member %q) = nil error", member)
		}
	}
	if _, err := worker.PublishWatch(ctx(t), e.js, "m1", "", []byte(`{}`)); err == nil {
		t.Error("PublishWatch(empty event id) = nil error")
	}
	for _, subject := range []string{"social.cmd.", "social.cmd.>", "social.cmdx", "playback.watch.m1", "social.dlq.PLAYBACK"} {
		if _, err := worker.PublishCommand(ctx(t), e.js, subject, []byte(`{}`), ""); err == nil {
			t.Errorf("PublishCommand(%q) = nil error", subject)
		}
	}
	st, err := e.js.Stream(ctx(t), worker.StreamPlayback)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("PLAYBACK holds %d messages after rejected publishes", n)
	}
}
