package worker

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkCall measures what the Consumer adds around a no-op handler for
// every message: the handler's context with its timeout, the in-flight and
// latency metrics, and the outcome count. No server is involved.
func BenchmarkCall(b *testing.B) {
	h := HandlerFunc(func(ctx context.Context, m Message) error {
		if ctx.Done() == nil { // what a store or HTTP call does with it
			b.Fatal("handler context without Done")
		}
		return nil
	})
	c, err := New(jsStub{}, h, Config{Streams: []string{StreamPlayback}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	it := &item{m: Message{Stream: StreamPlayback, Subject: "playback.watch.m1"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var hc *callContext
		for pb.Next() {
			if err := c.call(&hc, it); err != nil {
				b.Fatal(err)
			}
			c.count(it.m.Stream, OutcomeAcked)
		}
	})
}

// jsStub is enough of a JetStream for New.
type jsStub struct{ jetstream.JetStream }

func (jsStub) Conn() *nats.Conn { return nil }

// BenchmarkGate measures the pause gate every handler call passes through
// when nothing is paused.
func BenchmarkGate(b *testing.B) {
	g := newGate(func(bool) {})
	b.ReportAllocs()
	for b.Loop() {
		probe, _ := g.enter(nil)
		g.exit(probe, 0)
	}
}

// TestGateOpenCostsNoAllocation: a call through an open gate changes
// nothing, so it neither allocates nor wakes anyone.
func TestGateOpenCostsNoAllocation(t *testing.T) {
	g := newGate(func(bool) {})
	changed := g.changed
	if n := testing.AllocsPerRun(100, func() {
		probe, _ := g.enter(nil)
		g.exit(probe, 0)
	}); n != 0 {
		t.Errorf("enter+exit through an open gate: %v allocations, want 0", n)
	}
	if g.changed != changed {
		t.Error("a call through an open gate woke the gate's waiters")
	}
}
