package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
)

// A taken address for the embedded NATS server stops serve with exit code 2
// and one line naming the setting, as a taken HTTP address does.
func TestServeNATSListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve",
		"--facebook-app-id", "1", "--facebook-app-secret", "s",
		"--token-key", base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"--api-token", testAPIToken, "--http-addr", "127.0.0.1:0",
		"--db", dir + "/ws.db", "--nats-dir", dir + "/nats", "--nats-url", "",
		"--nats-listen", taken.Addr().String(),
	}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "WATCHSHARE_NATS_LISTEN") {
		t.Fatalf("serve with a taken NATS address: exit %d, stderr %q; want 2 naming WATCHSHARE_NATS_LISTEN", code, stderr.String())
	}
}
