package natsembed_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/worker/natsembed"
	"watchshare/worker/natsembed/natstest"
)

func TestInProcess(t *testing.T) {
	s := natstest.Start(t)
	if got := s.ClientURL(); got != "" {
		t.Errorf("ClientURL() = %q, want empty for an in-process server", got)
	}
	nc := natstest.Connect(t, s)
	js := natstest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	s.Shutdown()
	s.Shutdown() // idempotent
}

func TestTCPAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := natstest.StartWith(t, natsembed.Options{Listen: "127.0.0.1:0", StoreDir: dir, SyncAlways: true})
	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":-1") {
		t.Fatalf("ClientURL() = %q", url)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("Connect(%s): %v", url, err)
	}
	t.Cleanup(nc.Close) // closed early below; Close is idempotent
	js := natstest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s.Shutdown()

	// Same store: the stream and its message survive.
	s2 := natstest.StartWith(t, natsembed.Options{StoreDir: dir})
	js2 := natstest.JetStream(t, natstest.Connect(t, s2))
	st, err := js2.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("Stream after restart: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("messages after restart = %d, want 1", n)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := natsembed.Start(ctx, natsembed.Options{}); err == nil {
		t.Error("Start without StoreDir = nil error")
	}
	if _, err := natsembed.Start(ctx, natsembed.Options{StoreDir: t.TempDir(), Listen: "nonsense"}); err == nil {
		t.Error("Start with a bad address = nil error")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = natsembed.Start(ctx, natsembed.Options{StoreDir: t.TempDir(), Listen: taken.Addr().String()})
	var le *natsembed.ListenError
	if !errors.As(err, &le) || le.Addr != taken.Addr().String() {
		t.Errorf("Start on a taken port = %v, want a *ListenError naming it", err)
	}
}
