package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/worker"
	"watchshare/worker/natsembed"
	"watchshare/worker/natsembed/natstest"
)

type env struct {
	s  *natsembed.Server
	nc *nats.Conn
	js jetstream.JetStream
}

// setup starts an in-process server with the streams created.
func setup(tb testing.TB) env {
	tb.Helper()
	s := natstest.Start(tb)
	nc := natstest.Connect(tb, s)
	js := natstest.JetStream(tb, nc)
	if err := worker.EnsureStreams(ctx(tb), js); err != nil {
		tb.Fatalf("EnsureStreams: %v", err)
	}
	return env{s: s, nc: nc, js: js}
}

// ctx returns a context for a test's calls, cancelled at cleanup. Helpers
// that run in a waitFor poll use opCtx instead, so that the polls do not pile
// up cleanups.
func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return c
}

// opCtx bounds one server round trip of a helper.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// testConfig is a fast configuration for tests.
func testConfig(tb testing.TB) worker.Config {
	return worker.Config{
		Streams:         []string{worker.StreamPlayback, worker.StreamCommands},
		Concurrency:     4,
		AckWait:         3 * time.Second,
		MaxDeliver:      5,
		RetryMin:        10 * time.Millisecond,
		RetryMax:        50 * time.Millisecond,
		PullExpiry:      time.Second,
		InfoInterval:    200 * time.Millisecond,
		PauseDefault:    200 * time.Millisecond,
		Logger:          natstest.Logger(tb, slog.LevelWarn),
		ShutdownTimeout: 5 * time.Second,
	}
}

// startConsumer starts a Consumer and stops it at cleanup.
func startConsumer(tb testing.TB, js jetstream.JetStream, h worker.Handler, cfg worker.Config) *worker.Consumer {
	tb.Helper()
	c, err := worker.New(js, h, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(sctx); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	return c
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func publishWatch(tb testing.TB, js jetstream.JetStream, member, eventID string, payload any) {
	tb.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := worker.PublishWatch(ctx(tb), js, member, eventID, data); err != nil {
		tb.Fatalf("PublishWatch: %v", err)
	}
}

func consumerInfo(tb testing.TB, js jetstream.JetStream, stream string) *jetstream.ConsumerInfo {
	tb.Helper()
	octx, cancel := opCtx()
	defer cancel()
	c, err := js.Consumer(octx, stream, worker.DurableName)
	if err != nil {
		tb.Fatalf("consumer %s: %v", stream, err)
	}
	info, err := c.Info(octx)
	if err != nil {
		tb.Fatalf("consumer info %s: %v", stream, err)
	}
	return info
}

// settled reports whether the durable consumer on stream has delivered and
// settled every message (see Drained).
func settled(tb testing.TB, js jetstream.JetStream, stream string) func() bool {
	return func() bool {
		done, _, err := worker.Drained(context.Background(), js, stream, worker.DurableName)
		return err == nil && done
	}
}

// waitSettled waits until the durable consumer on stream is settled.
func waitSettled(tb testing.TB, js jetstream.JetStream, stream string) {
	tb.Helper()
	waitFor(tb, 10*time.Second, stream+" settled", settled(tb, js, stream))
}

// waitDeadLetters waits until the durable consumer on stream is settled and
// social.dlq.<stream> holds n messages, and returns them.
func waitDeadLetters(tb testing.TB, js jetstream.JetStream, stream string, n int) []*jetstream.RawStreamMsg {
	tb.Helper()
	waitSettled(tb, js, stream)
	var dl []*jetstream.RawStreamMsg
	waitFor(tb, 10*time.Second, fmt.Sprintf("%d dead letters on social.dlq.%s", n, stream), func() bool {
		dl = dlqMessages(tb, js, "social.dlq."+stream)
		return len(dl) == n
	})
	return dl
}

// dlqMessages returns every message on SOCIAL_DLQ with subject subj.
func dlqMessages(tb testing.TB, js jetstream.JetStream, subj string) []*jetstream.RawStreamMsg {
	tb.Helper()
	octx, cancel := opCtx()
	defer cancel()
	s, err := js.Stream(octx, worker.StreamDLQ)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(octx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(octx, seq)
		if err != nil {
			continue // deleted
		}
		if m.Subject == subj {
			out = append(out, m)
		}
	}
	return out
}

// recorder is a Handler that records calls and delegates to fn.
type recorder struct {
	mu    sync.Mutex
	calls []worker.Message
	fn    func(ctx context.Context, m worker.Message, n int) error // n: calls for this Sequence so far, this one included
	per   map[uint64]int
}

func newRecorder(fn func(ctx context.Context, m worker.Message, n int) error) *recorder {
	return &recorder{fn: fn, per: map[uint64]int{}}
}

func (r *recorder) HandleMessage(ctx context.Context, m worker.Message) error {
	r.mu.Lock()
	r.calls = append(r.calls, m)
	key := m.Sequence
	if m.Stream == worker.StreamCommands {
		key |= 1 << 62
	}
	r.per[key]++
	n := r.per[key]
	r.mu.Unlock()
	if r.fn == nil {
		return nil
	}
	return r.fn(ctx, m, n)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) snapshot() []worker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]worker.Message(nil), r.calls...)
}

// deliveries returns NumDelivered of every call for messages with key, in
// call order.
func (r *recorder) deliveries(key string) []uint64 {
	var out []uint64
	for _, m := range r.snapshot() {
		if m.Key() == key {
			out = append(out, m.NumDelivered)
		}
	}
	return out
}

func watchPayload(member string, i int) map[string]any {
	return map[string]any{"member_id": member, "event_id": fmt.Sprintf("%s-%d", member, i), "i": i}
}
