package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestDemo runs the demo's story and asserts on its checks, not its wording.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	d, err := startDemo(context.Background(), t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	err = d.story(context.Background())
	t.Log(out.String())
	if err != nil {
		t.Fatalf("story: %v", err)
	}
	if len(d.failed) != 0 || d.checks < 20 {
		t.Fatalf("%d checks, failed: %v", d.checks, d.failed)
	}
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "watchshare") {
		t.Fatalf("version: code %d, out %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"nope"}, &stdout, &stderr); code != 2 {
		t.Fatalf("unknown command: code %d, want 2", code)
	}
	if code := run(context.Background(), nil, &stdout, &stderr); code != 2 {
		t.Fatalf("no command: code %d, want 2", code)
	}
}
