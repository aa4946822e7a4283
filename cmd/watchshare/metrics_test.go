package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

// scrape reads /metrics as text.
func (ts *testSystem) scrape() string {
	ts.t.Helper()
	resp, err := ts.client.Get(ts.base + "/metrics")
	if err != nil {
		ts.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		ts.t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	return string(data)
}

// metricValue returns the value of the sample of name carrying every label
// pair (k="v") of labels, and whether there is one.
func metricValue(text, name string, labels ...string) (float64, bool) {
	for line := range strings.Lines(text) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(series, name+"{") && series != name {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		return v, err == nil
	}
	return 0, false
}

func TestMetricsGraphLatencyAndOutbox(t *testing.T) {
	ts := newTestSystem(t, nil)
	// The first post attempt fails with a transient Graph error (code 2),
	// the redelivery posts.
	ts.emu.FailNext("POST /me/video.watches", 1, graphtest.Fault{Code: 2})
	ts.seedMember("m1", "730001", "Metrics Person")
	ts.seedMember("m2", "730002", "Other Person")

	// Facebook goes down: a hide leaves a deletion in the outbox, a
	// disconnect leaves a revocation.
	ts.emu.SetOutage(graphtest.Outage503)
	if status, out := ts.api("PUT", "/v1/members/m1/hidden-titles/p-m1", nil); status != http.StatusOK || out["pending_deletions"] != float64(1) {
		t.Fatalf("hide during outage = %d %v", status, out)
	}
	if status, out := ts.api("POST", "/v1/members/m2/disconnect", nil); status != http.StatusOK || out["revocation"] != "pending" {
		t.Fatalf("disconnect during outage = %d %v", status, out)
	}

	text := ts.scrape()
	cases := []struct {
		name   string
		metric string
		labels []string
		want   func(float64) bool
	}{
		{"pending deletions", "watchshare_outbox_pending", []string{`kind="delete_action"`}, func(v float64) bool { return v == 1 }},
		{"pending revocations", "watchshare_outbox_pending", []string{`kind="revoke"`}, func(v float64) bool { return v == 1 }},
		{"posts timed", "watchshare_graph_request_duration_seconds_count", []string{`op="publish"`, `status="200"`}, func(v float64) bool { return v >= 2 }},
		{"failed post timed with its Graph code", "watchshare_graph_request_duration_seconds_count", []string{`op="publish"`, `status="500"`, `code="2"`}, func(v float64) bool { return v == 1 }},
		{"token exchange timed", "watchshare_graph_request_duration_seconds_count", []string{`op="token"`, `status="200"`}, func(v float64) bool { return v >= 2 }},
		{"deletion during the outage timed", "watchshare_graph_request_duration_seconds_count", []string{`op="delete"`, `status="503"`}, func(v float64) bool { return v >= 1 }},
		{"revocation during the outage timed", "watchshare_graph_request_duration_seconds_count", []string{`op="revoke"`, `status="503"`}, func(v float64) bool { return v >= 1 }},
		{"friend syncs counted", "watchshare_friend_syncs_total", []string{`outcome="ok"`}, func(v float64) bool { return v >= 2 }},
		{"purges counted", "watchshare_purges_total", nil, func(v float64) bool { return v == 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := metricValue(text, tc.metric, tc.labels...)
			if !ok || !tc.want(v) {
				t.Errorf("%s%v = %v (present %v)", tc.metric, tc.labels, v, ok)
			}
		})
	}

	// Back up: the outbox drains and the gauges follow.
	ts.emu.SetOutage(graphtest.OutageNone)
	ts.clock.Advance(time.Minute) // past the retries' backoff
	waitFor(t, "the outbox to drain", func() bool {
		text := ts.scrape()
		d, _ := metricValue(text, "watchshare_outbox_pending", `kind="delete_action"`)
		r, _ := metricValue(text, "watchshare_outbox_pending", `kind="revoke"`)
		return d == 0 && r == 0
	})
}
