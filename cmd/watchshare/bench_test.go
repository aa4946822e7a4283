package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCorrectness runs short benches and checks only that the posts
// on the emulator are exactly the model's: the figures are not asserted.
// The worker is the real binary, built once (a test binary cannot be run as
// `watchshare serve`).
func TestBenchCorrectness(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "watchshare")
	// go test puts its own Go first on PATH.
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/watchshare: %v\n%s", err, out)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"playback", []string{"-members", "400", "-connected", "0.5", "-events", "6000", "-cross", "0.3"}},
		{"skip only", []string{"-members", "400", "-connected", "0", "-events", "2000"}},
		{"posts", []string{"-mix", "posts", "-members", "200", "-connected", "1", "-events", "600", "-concurrency", "8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"bench", "-worker-binary", bin, "-http-requests", "50", "-probes", "5", "-probe-rate", "1000"}, tc.args...)
			code := run(context.Background(), args, &out, &errOut)
			t.Log(errOut.String())
			var res benchResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("exit %d, output not JSON: %v\n%s", code, err, out.String())
			}
			c := res.Correctness
			if code != 0 || !c.OK {
				t.Fatalf("exit %d, correctness = %+v", code, c)
			}
			if strings.Contains(tc.name, "skip") {
				if c.Expected != 0 {
					t.Fatalf("expected posts = %d with nobody connected", c.Expected)
				}
			} else if c.Expected == 0 {
				t.Fatal("the model expects no post: the check proves nothing")
			}
			if res.Events.WorkerPerS <= 0 || res.Events.CeilingPerS <= 0 {
				t.Fatalf("events = %+v", res.Events)
			}
			if res.PeakRSSMB <= 0 || res.BenchProcessPeakRSSMB <= 0 {
				t.Fatalf("peak_rss_mb = %v, bench_process_peak_rss_mb = %v: the worker's figures are missing", res.PeakRSSMB, res.BenchProcessPeakRSSMB)
			}
		})
	}
}
