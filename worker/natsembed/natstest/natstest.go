// Package natstest starts embedded NATS servers for tests.
//
// Every helper takes a testing.TB, fails the test on error and registers its
// cleanup with tb.Cleanup:
//
//	s := natstest.Start(t)            // in-process server, store in t.TempDir()
//	nc := natstest.Connect(t, s)      // closed at cleanup
//	js := natstest.JetStream(t, nc)
//
// For restart tests, pick an address once with FreeAddr and start servers
// with StartWith(t, natsembed.Options{Listen: addr, StoreDir: dir}); shut one
// down with s.Shutdown() and start the next on the same address and dir.
package natstest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/worker/natsembed"
)

// Start starts an in-process-only server whose store is in tb.TempDir(); its
// warnings go to tb.Log. It is shut down at cleanup.
func Start(tb testing.TB) *natsembed.Server {
	tb.Helper()
	return StartWith(tb, natsembed.Options{})
}

// StartWith starts a server with o, filling an empty StoreDir with
// tb.TempDir() and a nil Logger with Logger(tb, slog.LevelWarn). It is shut
// down at cleanup (Shutdown is idempotent, so tests may shut it down earlier).
func StartWith(tb testing.TB, o natsembed.Options) *natsembed.Server {
	tb.Helper()
	if o.StoreDir == "" {
		o.StoreDir = tb.TempDir()
	}
	if o.Logger == nil {
		o.Logger = Logger(tb, slog.LevelWarn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := natsembed.Start(ctx, o)
	if err != nil {
		tb.Fatalf("natstest: start server: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// Connect connects to s (see natsembed.Server.Connect) and closes the
// connection at cleanup.
func Connect(tb testing.TB, s *natsembed.Server, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := s.Connect(opts...)
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on nc.
func JetStream(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}

// FreeAddr returns a "127.0.0.1:port" address that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("natstest: free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Logger returns a text logger writing to tb.Log at level and above. It goes
// quiet once the test's cleanups have run, so late log calls from background
// goroutines do not panic.
func Logger(tb testing.TB, level slog.Level) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.close) // registered early, so it runs late
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

var _ io.Writer = (*tbWriter)(nil)

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
