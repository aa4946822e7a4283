package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"watchshare/worker"
	"watchshare/worker/natsembed"
	"watchshare/worker/natsembed/natstest"
)

func TestEnsureStreamsCreates(t *testing.T) {
	s := natstest.Start(t)
	js := natstest.JetStream(t, natstest.Connect(t, s))
	if err := worker.EnsureStreams(ctx(t), js); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	// A second call (another process starting) is a no-op.
	if err := worker.EnsureStreams(ctx(t), js); err != nil {
		t.Fatalf("EnsureStreams again: %v", err)
	}
	tests := []struct {
		name       string
		subject    string
		duplicates time.Duration
		maxAge     time.Duration
	}{
		{worker.StreamPlayback, "playback.watch.>", 5 * time.Minute, 7 * 24 * time.Hour},
		{worker.StreamCommands, "social.cmd.>", 5 * time.Minute, 7 * 24 * time.Hour},
		{worker.StreamDLQ, "social.dlq.>", 2 * time.Minute, 30 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := js.Stream(ctx(t), tc.name)
			if err != nil {
				t.Fatalf("Stream(%s): %v", tc.name, err)
			}
			cfg := st.CachedInfo().Config
			if len(cfg.Subjects) != 1 || cfg.Subjects[0] != tc.subject {
				t.Errorf("Subjects = %v, want [%s]", cfg.Subjects, tc.subject)
			}
			if cfg.Storage != jetstream.FileStorage {
				t.Errorf("Storage = %v, want file", cfg.Storage)
			}
			if cfg.Retention != jetstream.LimitsPolicy {
				t.Errorf("Retention = %v, want limits", cfg.Retention)
			}
			if cfg.Duplicates != tc.duplicates {
				t.Errorf("Duplicates = %v, want %v", cfg.Duplicates, tc.duplicates)
			}
			if cfg.MaxAge != tc.maxAge {
				t.Errorf("MaxAge = %v, want %v", cfg.MaxAge, tc.maxAge)
			}
			if cfg.Duplicates < 2*time.Minute {
				t.Errorf("Duplicates = %v, contract wants at least 2m", cfg.Duplicates)
			}
		})
	}
}

func TestEnsureStreamsLeavesExisting(t *testing.T) {
	s := natstest.Start(t)
	js := natstest.JetStream(t, natstest.Connect(t, s))
	custom := jetstream.StreamConfig{
		Name:       worker.StreamPlayback,
		Subjects:   []string{"playback.watch.>"},
		Storage:    jetstream.MemoryStorage,
		Duplicates: time.Minute,
		MaxAge:     time.Hour,
	}
	if _, err := js.CreateStream(ctx(t), custom); err != nil {
		t.Fatal(err)
	}
	if err := worker.EnsureStreams(ctx(t), js); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	st, err := js.Stream(ctx(t), worker.StreamPlayback)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Storage != jetstream.MemoryStorage || cfg.Duplicates != time.Minute || cfg.MaxAge != time.Hour {
		t.Errorf("existing PLAYBACK changed: storage %v duplicates %v max age %v", cfg.Storage, cfg.Duplicates, cfg.MaxAge)
	}
	for _, name := range []string{worker.StreamCommands, worker.StreamDLQ} {
		if _, err := js.Stream(ctx(t), name); err != nil {
			t.Errorf("Stream(%s) = %v, want created", name, err)
		}
	}
}

func TestHandledAndAcked(t *testing.T) {
	e := setup(t)
	rec := newRecorder(nil)
	c := startConsumer(t, e.js, rec, testConfig(t))

	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	if _, err := worker.PublishCommand(ctx(t), e.js, worker.SubjectFriendsSync, []byte(`{"member_id":"m1"}`), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two messages handled", func() bool { return rec.count() == 2 })
	waitSettled(t, e.js, worker.StreamPlayback)
	waitSettled(t, e.js, worker.StreamCommands)

	for _, m := range rec.snapshot() {
		switch m.Stream {
		case worker.StreamPlayback:
			if m.Subject != "playback.watch.m1" || m.MsgID != "ev-1" || m.NumDelivered != 1 || m.Sequence != 1 || m.Key() != "m1" {
				t.Errorf("playback message = %+v (key %q)", m, m.Key())
			}
			if m.Timestamp.IsZero() {
				t.Error("playback message without timestamp")
			}
		case worker.StreamCommands:
			if m.Subject != worker.SubjectFriendsSync || m.Key() != "m1" {
				t.Errorf("command message = %+v (key %q)", m, m.Key())
			}
		default:
			t.Errorf("unexpected stream %q", m.Stream)
		}
	}
	if st := c.Stats(); st.Acked != 2 || st.Retried != 0 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want 2 acked", st)
	}
}

func TestPermanentDeadLettersOnce(t *testing.T) {
	e := setup(t)
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		if m.Key() == "bad" {
			return worker.Permanent("invalid watch event: title.type", errors.New("unknown type"))
		}
		return nil
	})
	c := startConsumer(t, e.js, rec, testConfig(t))

	payload := []byte(`{"member_id":"bad","title":{"type":"opera"}}`)
	msg := &nats.Msg{Subject: "playback.watch.bad", Data: payload, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "ev-bad")
	msg.Header.Set("X-Trace", "t-123")
	msg.Header.Add("X-Multi", "a")
	msg.Header.Add("X-Multi", "b")
	if _, err := e.js.PublishMsg(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	// A good message after it: once it is handled and the consumer is
	// settled, the bad one was terminated, not left for redelivery.
	publishWatch(t, e.js, "good", "ev-good", watchPayload("good", 1))

	waitFor(t, 10*time.Second, "two handled", func() bool { return rec.count() == 2 })
	d := waitDeadLetters(t, e.js, worker.StreamPlayback, 1)[0]
	if string(d.Data) != string(payload) {
		t.Errorf("dead letter data = %q, want %q", d.Data, payload)
	}
	want := map[string]string{
		"Nats-Msg-Id":           "ev-bad",
		"X-Trace":               "t-123",
		"Watchshare-Error":      "invalid watch event: title.type",
		"Watchshare-Stream":     "PLAYBACK",
		"Watchshare-Subject":    "playback.watch.bad",
		"Watchshare-Sequence":   "1",
		"Watchshare-Deliveries": "1",
	}
	for k, v := range want {
		if got := d.Header.Get(k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	if got := d.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("dead letter header X-Multi = %v, want [a b]", got)
	}
	info := consumerInfo(t, e.js, worker.StreamPlayback)
	if info.NumRedelivered != 0 {
		t.Errorf("NumRedelivered = %d, want 0", info.NumRedelivered)
	}
	if st := c.Stats(); st.DeadLettered != 1 || st.Acked != 1 {
		t.Errorf("Stats = %+v, want 1 dead-lettered, 1 acked", st)
	}
	for _, m := range rec.snapshot() {
		if m.Key() == "bad" && m.NumDelivered != 1 {
			t.Errorf("bad message delivered %d times", m.NumDelivered)
		}
	}
}

func TestRetryThenDeadLetter(t *testing.T) {
	e := setup(t)
	cfg := testConfig(t)
	cfg.MaxDeliver = 3
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		switch m.Key() {
		case "flaky": // fails twice, then works
			if n < 3 {
				return worker.RetryAfter(20*time.Millisecond, errors.New("graph 503"))
			}
			return nil
		case "down": // always fails, backoff from the delivery count
			return fmt.Errorf("graph timeout %d", n)
		}
		return nil
	})
	c := startConsumer(t, e.js, rec, cfg)
	publishWatch(t, e.js, "flaky", "ev-flaky", watchPayload("flaky", 1))
	publishWatch(t, e.js, "down", "ev-down", watchPayload("down", 1))

	waitFor(t, 10*time.Second, "six calls", func() bool { return rec.count() == 6 })
	dl := waitDeadLetters(t, e.js, worker.StreamPlayback, 1)
	if got, want := dl[0].Header.Get(worker.HeaderError), "retries exhausted: graph timeout 3"; got != want {
		t.Errorf("Watchshare-Error = %q, want %q", got, want)
	}
	if got := dl[0].Header.Get(worker.HeaderDeliveries); got != "3" {
		t.Errorf("Watchshare-Deliveries = %q, want 3", got)
	}
	if got := dl[0].Header.Get(jetstream.MsgIDHeader); got != "ev-down" {
		t.Errorf("dead letter Nats-Msg-Id = %q, want ev-down", got)
	}
	for _, k := range []string{"flaky", "down"} {
		if got := rec.deliveries(k); fmt.Sprint(got) != "[1 2 3]" {
			t.Errorf("%s deliveries = %v, want [1 2 3]", k, got)
		}
	}
	if st := c.Stats(); st.DeadLettered != 1 || st.Acked != 1 || st.Retried != 4 {
		t.Errorf("Stats = %+v, want 1 dead-lettered, 1 acked, 4 retried", st)
	}
}

func TestPausePausesConsumption(t *testing.T) {
	e := setup(t)
	const pause = 500 * time.Millisecond
	var (
		mu       sync.Mutex
		pausedAt time.Time
		during   []string // handler calls that started before the pause ended
	)
	paused := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		mu.Lock()
		defer mu.Unlock()
		if m.Key() == "first" && n == 1 {
			pausedAt = time.Now()
			defer close(paused)
			return worker.Pause(pause, errors.New("store: database is locked"))
		}
		if time.Since(pausedAt) < pause {
			during = append(during, m.Key())
		}
		return nil
	})
	c := startConsumer(t, e.js, rec, testConfig(t))
	publishWatch(t, e.js, "first", "ev-first", watchPayload("first", 1))
	<-paused
	for i := range 5 {
		member := fmt.Sprintf("other%d", i)
		publishWatch(t, e.js, member, "ev-"+member, watchPayload(member, i))
	}
	waitFor(t, 10*time.Second, "all handled", func() bool { return rec.count() == 7 })
	waitSettled(t, e.js, worker.StreamPlayback)

	mu.Lock()
	if len(during) > 0 {
		t.Errorf("handled during the pause: %v", during)
	}
	mu.Unlock()
	for _, m := range rec.snapshot() {
		if m.Key() != "first" && m.NumDelivered != 1 {
			t.Errorf("%s delivered %d times; a pause must not burn other messages' deliveries", m.Key(), m.NumDelivered)
		}
	}
	// 1 then 2: the paused message was redelivered once.
	if firsts := rec.deliveries("first"); fmt.Sprint(firsts) != "[1 2]" {
		t.Errorf("paused message deliveries = %v, want [1 2]", firsts)
	}
	if st := c.Stats(); st.Paused != 1 || st.Acked != 6 {
		t.Errorf("Stats = %+v, want 1 paused, 6 acked", st)
	}
	if len(dlqMessages(t, e.js, "social.dlq.PLAYBACK")) != 0 {
		t.Error("a paused message was dead-lettered")
	}
}

func TestPauseOnLastDeliveryHolds(t *testing.T) {
	e := setup(t)
	cfg := testConfig(t)
	cfg.MaxDeliver = 2
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		if n <= 3 { // pauses on delivery 1, then twice on delivery 2 (last)
			return worker.Pause(50*time.Millisecond, errors.New("store down"))
		}
		return nil
	})
	c := startConsumer(t, e.js, rec, cfg)
	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	waitFor(t, 10*time.Second, "handled", func() bool { return c.Stats().Acked == 1 })
	waitSettled(t, e.js, worker.StreamPlayback)
	if got := rec.deliveries("m1"); fmt.Sprint(got) != "[1 2 2 2]" {
		t.Errorf("deliveries = %v, want [1 2 2 2]", got)
	}
	if len(dlqMessages(t, e.js, "social.dlq.PLAYBACK")) != 0 {
		t.Error("a paused message was dead-lettered")
	}
}

func TestPerKeyOrdering(t *testing.T) {
	e := setup(t)
	const keys, perKey = 20, 50
	cfg := testConfig(t)
	cfg.Concurrency = 8
	var (
		mu      sync.Mutex
		next    = map[string]int{}
		running = map[string]bool{}
		errs    []string
		total   atomic.Int64
	)
	h := worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		var p struct{ I int }
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return worker.Permanent("bad json", err)
		}
		k := m.Key()
		mu.Lock()
		if running[k] {
			errs = append(errs, "concurrent handling of "+k)
		}
		running[k] = true
		if p.I != next[k] {
			errs = append(errs, fmt.Sprintf("%s: got %d, want %d", k, p.I, next[k]))
		}
		next[k] = p.I + 1
		mu.Unlock()
		for range p.I % 3 { // a little uneven work
			time.Sleep(100 * time.Microsecond)
		}
		mu.Lock()
		running[k] = false
		mu.Unlock()
		total.Add(1)
		return nil
	})
	startConsumer(t, e.js, h, cfg)

	var futures []jetstream.PubAckFuture
	for i := range perKey {
		for k := range keys {
			member := fmt.Sprintf("m%02d", k)
			data, _ := json.Marshal(map[string]any{"i": i})
			f, err := e.js.PublishAsync("playback.watch."+member, data, jetstream.WithMsgID(fmt.Sprintf("%s-%d", member, i)))
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("publish did not complete")
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			t.Fatalf("publish: %v", err)
		default:
		}
	}
	waitFor(t, 30*time.Second, "all handled", func() bool { return total.Load() == keys*perKey })
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	for k := range keys {
		if got := next[fmt.Sprintf("m%02d", k)]; got != perKey {
			t.Errorf("m%02d handled up to %d, want %d", k, got, perKey)
		}
	}
}

func TestTwoConsumersShareWork(t *testing.T) {
	s := natstest.Start(t)
	js1 := natstest.JetStream(t, natstest.Connect(t, s))
	js2 := natstest.JetStream(t, natstest.Connect(t, s))
	if err := worker.EnsureStreams(ctx(t), js1); err != nil {
		t.Fatal(err)
	}
	const n = 300
	var mu sync.Mutex
	seen := map[uint64]int{}
	by := [2]int{}
	handler := func(idx int) worker.Handler {
		return worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
			mu.Lock()
			seen[m.Sequence]++
			by[idx]++
			mu.Unlock()
			time.Sleep(time.Millisecond) // some work, so both get a share
			return nil
		})
	}
	cfg := testConfig(t)
	cfg.Concurrency = 2
	startConsumer(t, js1, handler(0), cfg)
	startConsumer(t, js2, handler(1), cfg)
	for i := range n {
		member := fmt.Sprintf("m%d", i%10)
		publishWatch(t, js1, member, fmt.Sprintf("ev-%d", i), watchPayload(member, i))
	}
	waitFor(t, 30*time.Second, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	waitSettled(t, js1, worker.StreamPlayback)
	mu.Lock()
	defer mu.Unlock()
	for seq, k := range seen {
		if k != 1 {
			t.Errorf("seq %d handled %d times", seq, k)
		}
	}
	if by[0] == 0 || by[1] == 0 {
		t.Errorf("work split %v, want both consumers to get some", by)
	}
	if by[0]+by[1] != n {
		t.Errorf("handled %d, want %d", by[0]+by[1], n)
	}
}

func TestSlowHandlerNotRedelivered(t *testing.T) {
	e := setup(t)
	cfg := testConfig(t)
	cfg.AckWait = time.Second
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		select {
		case <-time.After(2500 * time.Millisecond): // a slow Graph call
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	c := startConsumer(t, e.js, rec, cfg)
	publishWatch(t, e.js, "slow", "ev-slow", watchPayload("slow", 1))
	waitFor(t, 10*time.Second, "acked", func() bool { return c.Stats().Acked == 1 })
	info := consumerInfo(t, e.js, worker.StreamPlayback)
	if info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Errorf("NumRedelivered = %d, NumAckPending = %d, want 0, 0", info.NumRedelivered, info.NumAckPending)
	}
	if rec.count() != 1 {
		t.Errorf("handler called %d times, want 1", rec.count())
	}
}

func TestGracefulStopWaitsForHandlers(t *testing.T) {
	e := setup(t)
	release := make(chan struct{})
	var started, ctxErrs atomic.Int64
	h := worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		started.Add(1)
		<-release
		if ctx.Err() != nil {
			ctxErrs.Add(1)
		}
		return nil
	})
	c := startConsumer(t, e.js, h, testConfig(t))
	for i := range 3 {
		member := fmt.Sprintf("m%d", i)
		publishWatch(t, e.js, member, "ev-"+member, watchPayload(member, i))
	}
	waitFor(t, 10*time.Second, "three in flight", func() bool { return started.Load() == 3 })

	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(context.Background()) }()
	waitFor(t, 10*time.Second, "stop begun", func() bool { return c.Ready() != nil })
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v with handlers in flight", err)
	case <-c.Done():
		t.Fatal("Done closed with handlers in flight")
	case <-time.After(100 * time.Millisecond): // the handlers are still blocked
	}
	close(release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	if st := c.Stats(); st.Acked != 3 || st.InFlight != 0 || st.Held != 0 {
		t.Errorf("Stats = %+v, want 3 acked, none held", st)
	}
	if ctxErrs.Load() != 0 {
		t.Errorf("%d handlers saw a cancelled context in a graceful stop", ctxErrs.Load())
	}
	if !settled(t, e.js, worker.StreamPlayback)() {
		t.Error("messages unsettled after a graceful stop")
	}
	// Idempotent.
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Ready(); err == nil {
		t.Error("Ready() = nil after Stop")
	}
}

func TestStopDeadlineGivesMessagesBack(t *testing.T) {
	e := setup(t)
	var started atomic.Int64
	h := worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		started.Add(1)
		<-ctx.Done() // stuck until cancelled
		return ctx.Err()
	})
	c := startConsumer(t, e.js, h, testConfig(t))
	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	waitFor(t, 10*time.Second, "in flight", func() bool { return started.Load() == 1 })
	sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want deadline exceeded", err)
	}
	if st := c.Stats(); st.InFlight != 0 || st.Held != 0 || st.DeadLettered != 0 || st.Retried != 1 {
		t.Errorf("Stats = %+v after hard stop, want the message given back (1 retried)", st)
	}
	// The message comes back to the next worker.
	rec := newRecorder(nil)
	startConsumer(t, e.js, rec, testConfig(t))
	waitFor(t, 10*time.Second, "redelivered", func() bool { return rec.count() == 1 })
	if m := rec.snapshot()[0]; m.NumDelivered != 2 {
		t.Errorf("NumDelivered = %d, want 2", m.NumDelivered)
	}
}

func TestServerRestart(t *testing.T) {
	addr := natstest.FreeAddr(t)
	dir := t.TempDir()
	s1 := natstest.StartWith(t, natsembed.Options{Listen: addr, StoreDir: dir})
	opts := append(worker.ConnectOptions(natstest.Logger(t, 0)), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0))
	nc := natstest.Connect(t, s1, opts...)
	js := natstest.JetStream(t, nc)
	if err := worker.EnsureStreams(ctx(t), js); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	h := worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		mu.Lock()
		seen[m.MsgID]++
		mu.Unlock()
		return nil
	})
	c := startConsumer(t, js, h, testConfig(t))
	handled := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n }
	}
	for i := range 5 {
		publishWatch(t, js, "m1", fmt.Sprintf("before-%d", i), watchPayload("m1", i))
	}
	waitFor(t, 10*time.Second, "5 handled before restart", handled(5))
	waitFor(t, 10*time.Second, "settled before restart", settled(t, js, worker.StreamPlayback))

	s1.Shutdown()
	waitFor(t, 10*time.Second, "disconnect seen", func() bool { return !nc.IsConnected() })
	if c.Ready() == nil {
		t.Error("Ready() = nil while the server is down")
	}
	natstest.StartWith(t, natsembed.Options{Listen: addr, StoreDir: dir})
	waitFor(t, 15*time.Second, "reconnected", nc.IsConnected)

	const after = 20
	for i := range after {
		id := fmt.Sprintf("after-%d", i)
		// The first publishes may race JetStream's recovery; retry with the
		// same event id (deduplicated).
		deadline := time.Now().Add(10 * time.Second)
		for {
			pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := worker.PublishWatch(pctx, js, fmt.Sprintf("m%d", i%3), id, []byte(`{}`))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish after restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // an error can come at once (no responders)
		}
	}
	waitFor(t, 20*time.Second, "all handled after restart", handled(5+after))
	waitFor(t, 10*time.Second, "Ready after restart", func() bool { return c.Ready() == nil })
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Logf("%s handled %d times (a duplicate across the restart is allowed)", id, n)
		}
	}
}

func TestPanicIsRetried(t *testing.T) {
	e := setup(t)
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		if m.Key() == "boom" && n == 1 {
			panic("nil map write")
		}
		return nil
	})
	c := startConsumer(t, e.js, rec, testConfig(t))
	publishWatch(t, e.js, "boom", "ev-boom", watchPayload("boom", 1))
	publishWatch(t, e.js, "fine", "ev-fine", watchPayload("fine", 1))
	waitFor(t, 10*time.Second, "handled", func() bool { return c.Stats().Acked == 2 })
	waitSettled(t, e.js, worker.StreamPlayback)
	if st := c.Stats(); st.Panics != 1 || st.Retried != 1 {
		t.Errorf("Stats = %+v, want 1 panic retried", st)
	}
	if err := c.Ready(); err != nil {
		t.Errorf("Ready() = %v after a panic", err)
	}
}

func TestDuplicatePublishDropped(t *testing.T) {
	e := setup(t)
	rec := newRecorder(nil)
	startConsumer(t, e.js, rec, testConfig(t))
	dup, err := worker.PublishWatch(ctx(t), e.js, "m1", "ev-same", []byte(`{"n":1}`))
	if err != nil || dup {
		t.Fatalf("first PublishWatch = %v, %v; want false, nil", dup, err)
	}
	dup, err = worker.PublishWatch(ctx(t), e.js, "m1", "ev-same", []byte(`{"n":2}`))
	if err != nil || !dup {
		t.Fatalf("second PublishWatch = %v, %v; want true, nil", dup, err)
	}
	publishWatch(t, e.js, "m1", "ev-other", watchPayload("m1", 3))
	waitFor(t, 10*time.Second, "handled", func() bool { return rec.count() >= 2 })
	waitSettled(t, e.js, worker.StreamPlayback)
	calls := rec.snapshot()
	if len(calls) != 2 || calls[0].MsgID != "ev-same" || calls[1].MsgID != "ev-other" || string(calls[0].Data) != `{"n":1}` {
		t.Errorf("handled %d messages: %+v", len(calls), calls)
	}
	st, err := e.js.Stream(ctx(t), worker.StreamPlayback)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want 2", info.State.Msgs)
	}
	// Commands are deduplicated too when given an id.
	if _, err := worker.PublishCommand(ctx(t), e.js, worker.SubjectDisconnect, []byte(`{"member_id":"m1"}`), "cmd-1"); err != nil {
		t.Fatal(err)
	}
	if dup, err := worker.PublishCommand(ctx(t), e.js, worker.SubjectDisconnect, []byte(`{"member_id":"m1"}`), "cmd-1"); err != nil || !dup {
		t.Errorf("second PublishCommand = %v, %v; want true, nil", dup, err)
	}
}

func TestReadyAndMetrics(t *testing.T) {
	e := setup(t)
	reg := prometheus.NewRegistry()
	cfg := testConfig(t)
	cfg.Registerer = reg
	c, err := worker.New(e.js, worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		if m.Key() == "bad" {
			return worker.Permanent("bad", nil)
		}
		return nil
	}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ready() == nil {
		t.Error("Ready() = nil before Start")
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	if err := c.Ready(); err != nil {
		t.Errorf("Ready() = %v", err)
	}
	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	publishWatch(t, e.js, "bad", "ev-2", watchPayload("bad", 1))
	waitFor(t, 10*time.Second, "settled", func() bool { st := c.Stats(); return st.Acked == 1 && st.DeadLettered == 1 })

	// A second Consumer on the same registry shares the collectors.
	if _, err := worker.New(e.js, worker.HandlerFunc(func(context.Context, worker.Message) error { return nil }), cfg); err != nil {
		t.Errorf("second New on the same registry: %v", err)
	}

	value := func(name string, labels map[string]string) (float64, bool) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metric:
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
						continue metric
					}
				}
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue(), true
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue(), true
				case m.GetHistogram() != nil:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
		return 0, false
	}
	if v, _ := value("watchshare_worker_messages_total", map[string]string{"stream": "PLAYBACK", "outcome": "acked"}); v != 1 {
		t.Errorf("acked = %v, want 1", v)
	}
	if v, _ := value("watchshare_worker_messages_total", map[string]string{"stream": "PLAYBACK", "outcome": "dead_lettered"}); v != 1 {
		t.Errorf("dead_lettered = %v, want 1", v)
	}
	if v, _ := value("watchshare_worker_handler_duration_seconds", map[string]string{"stream": "PLAYBACK"}); v != 2 {
		t.Errorf("latency samples = %v, want 2", v)
	}
	waitFor(t, 10*time.Second, "lag gauge", func() bool {
		_, ok := value("watchshare_worker_consumer_pending", map[string]string{"stream": "PLAYBACK"})
		return ok
	})
}

func TestAnnouncer(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	sub, err := nc.SubscribeSync("social.event.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.FixedZone("X", 3600))
	a := worker.NewAnnouncer(nc, natstest.Logger(t, 0), func() time.Time { return now })
	if err := a.Announce(ctx(t), worker.EventShared, "m1", map[string]any{"title_id": "70143836", "member_id": "ignored"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Announce(ctx(t), worker.EventDisconnected, "m2", map[string]any{"deleted_posts": 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.Announce(ctx(t), "exploded", "m1", nil); err == nil {
		t.Error("Announce(unknown kind) = nil")
	}
	if err := a.Announce(ctx(t), worker.EventConnected, "", nil); err == nil {
		t.Error("Announce(no member) = nil")
	}
	if err := a.Announce(ctx(t), worker.EventShared, "m1", map[string]any{"bad": make(chan int)}); err == nil {
		t.Error("Announce(fields that do not marshal) = nil")
	}
	// None of the rejected announcements was published: the next two
	// messages are the good ones.
	tests := []struct {
		subject string
		want    map[string]any
	}{
		{"social.event.shared", map[string]any{"member_id": "m1", "at": "2026-11-28T11:00:00Z", "title_id": "70143836"}},
		{"social.event.disconnected", map[string]any{"member_id": "m2", "at": "2026-11-28T11:00:00Z", "deleted_posts": 3.0}},
	}
	for _, tc := range tests {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("NextMsg: %v", err)
		}
		if msg.Subject != tc.subject {
			t.Errorf("subject = %s, want %s", msg.Subject, tc.subject)
		}
		var got map[string]any
		if err := json.Unmarshal(msg.Data, &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s payload = %v, want %v", tc.subject, got, tc.want)
		}
		if _, err := time.Parse(time.RFC3339, got["at"].(string)); err != nil {
			t.Errorf("at: %v", err)
		}
	}
}

func TestMessageKey(t *testing.T) {
	tests := []struct {
		name, subject, data, want string
	}{
		{"watch", "playback.watch.m123", `{}`, "m123"},
		{"watch with dots", "playback.watch.m.1", `{}`, "m.1"},
		{"sync one", "social.cmd.friends.sync", `{"member_id":"m1"}`, "m1"},
		{"sync due", "social.cmd.friends.sync", `{}`, "social.cmd.friends.sync"},
		{"sync all", "social.cmd.friends.sync", `{"all":true}`, "social.cmd.friends.sync"},
		{"disconnect", "social.cmd.disconnect", `{"member_id":"m9","delete_posts":false}`, "m9"},
		{"garbage", "social.cmd.disconnect", `not json`, "social.cmd.disconnect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := worker.Message{Subject: tc.subject, Data: []byte(tc.data)}
			if got := m.Key(); got != tc.want {
				t.Errorf("Key(%s, %s) = %q, want %q", tc.subject, tc.data, got, tc.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	js := natstest.JetStream(t, natstest.Connect(t, natstest.Start(t)))
	h := worker.HandlerFunc(func(context.Context, worker.Message) error { return nil })
	bad := []worker.Config{
		{MaxDeliver: 1},
		{AckWait: time.Second, BackOff: []time.Duration{2 * time.Second}},
		{AckWait: 2 * time.Second, BackOff: []time.Duration{2 * time.Second, time.Second}},
		{MaxDeliver: 2, AckWait: time.Second, BackOff: []time.Duration{time.Second, time.Second, time.Second}},
		{PullExpiry: 500 * time.Millisecond},
		{Streams: []string{worker.StreamDLQ}},
	}
	for i, cfg := range bad {
		if _, err := worker.New(js, h, cfg); err == nil {
			t.Errorf("New(bad config %d) = nil error", i)
		}
	}
	if _, err := worker.New(js, h, worker.Config{AckWait: time.Second, BackOff: []time.Duration{time.Second, 5 * time.Second}}); err != nil {
		t.Errorf("New(valid BackOff) = %v", err)
	}
	if _, err := worker.New(nil, h, worker.Config{}); err == nil {
		t.Error("New(nil JetStream) = nil error")
	}
	c, err := worker.New(js, h, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	if got.Concurrency != 16 || got.MaxDeliver != 10 || got.AckWait != 30*time.Second ||
		len(got.BackOff) != 0 || got.MaxAckPending != 1000 {
		t.Errorf("defaults = %+v", got)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after Stop = nil")
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	e := setup(t)
	rec := newRecorder(nil)
	c, err := worker.New(e.js, rec, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(rctx) }()
	publishWatch(t, e.js, "m1", "ev-1", watchPayload("m1", 1))
	waitFor(t, 10*time.Second, "handled", func() bool { return rec.count() == 1 })
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if c.Stats().Acked != 1 {
		t.Errorf("Stats = %+v", c.Stats())
	}
}
