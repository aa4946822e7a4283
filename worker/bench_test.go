package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"watchshare/worker"
)

// BenchmarkConsume measures the bare path: b.N watch events published, then
// consumed with a no-op handler (double acks, and plain acks with FastAck).
func BenchmarkConsume(b *testing.B) {
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("FastAck=%v", fast), func(b *testing.B) {
			e := setup(b)
			for i := range b.N {
				member := fmt.Sprintf("m%d", i%100)
				if _, err := e.js.PublishAsync("playback.watch."+member, []byte(`{}`)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-e.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish did not complete")
			}
			var n atomic.Int64
			done := make(chan struct{})
			h := worker.HandlerFunc(func(context.Context, worker.Message) error {
				if n.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			})
			cfg := testConfig(b)
			cfg.Concurrency = 16
			cfg.FastAck = fast
			b.ResetTimer()
			start := time.Now()
			startConsumer(b, e.js, h, cfg)
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("handled %d of %d", n.Load(), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
