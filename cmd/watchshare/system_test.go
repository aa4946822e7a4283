package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/worker"
)

const testAPIToken = "test-api-token-0123456789"

// testClock is a settable clock shared by the store, the flow and the service.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// testSystem is serve's whole system on loopback: the Graph emulator, an
// embedded NATS server, a SQLite file and the HTTP API.
type testSystem struct {
	t      testing.TB
	emu    *graphtest.Server
	sys    *system
	base   string
	clock  *testClock
	client *http.Client // does not follow redirects
	vals   map[string]string
}

// newTestSystem starts a system; env overrides settings (e.g.
// WATCHSHARE_SHARE_AFTER).
func newTestSystem(t testing.TB, env map[string]string) *testSystem {
	t.Helper()
	emu := &graphtest.Server{Logf: t.Logf}
	emu.Start()
	t.Cleanup(emu.Close)
	return startTestSystem(t, emu, nil, env)
}

// newSecondSystem starts another serve process on the same emulator, with
// first's settings (same token key) overridden by env.
func newSecondSystem(t testing.TB, first *testSystem, env map[string]string) *testSystem {
	t.Helper()
	return startTestSystem(t, first.emu, first.vals, env)
}

func startTestSystem(t testing.TB, emu *graphtest.Server, base, env map[string]string) *testSystem {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	vals := map[string]string{
		"FACEBOOK_APP_ID":          graphtest.DefaultAppID,
		"FACEBOOK_APP_SECRET":      graphtest.DefaultAppSecret,
		"WATCHSHARE_TOKEN_KEY":     base64.StdEncoding.EncodeToString(key),
		"WATCHSHARE_API_TOKEN":     testAPIToken,
		"WATCHSHARE_GRAPH_URL":     emu.GraphURL(),
		"WATCHSHARE_DIALOG_URL":    emu.DialogURL(),
		"WATCHSHARE_DB":            dir + "/watchshare.db",
		"WATCHSHARE_NATS_DIR":      dir + "/nats",
		"WATCHSHARE_HTTP_ADDR":     "127.0.0.1:0",
		"WATCHSHARE_ACCOUNT_URL":   "https://account.example.com/account",
		"WATCHSHARE_LOG_LEVEL":     "debug",
		"WATCHSHARE_SHARE_AFTER":   "5m",
		"WATCHSHARE_RESHARE_AFTER": "24h",
	}
	for k, v := range base {
		vals[k] = v
	}
	vals["WATCHSHARE_NATS_DIR"] = dir + "/nats"
	for k, v := range env {
		vals[k] = v
	}
	cfg, err := parseConfig("serve", nil, func(k string) string { return vals[k] }, true, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	clock := &testClock{}
	cfg.now = clock.Now
	cfg.pendingStaleAfter = 3 * time.Second
	cfg.rateLimitBackoff = 2 * time.Second
	log := slog.New(slog.NewJSONHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sys, err := startSystem(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("startSystem: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := sys.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ts := &testSystem{
		t: t, emu: emu, sys: sys, base: "http://" + sys.addr(), clock: clock, vals: vals,
		client: &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return ts
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// api calls the HTTP API with the bearer token and decodes a JSON answer.
func (ts *testSystem) api(method, path string, body any) (int, map[string]any) {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, ts.base+path, r)
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return ts.do(req)
}

// mustAPI calls the API and fails the test unless the status is want.
func (ts *testSystem) mustAPI(want int, method, path string, body any) map[string]any {
	ts.t.Helper()
	status, out := ts.api(method, path, body)
	if status != want {
		ts.t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
	}
	return out
}

func (ts *testSystem) do(req *http.Request) (int, map[string]any) {
	ts.t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out); err != nil {
			ts.t.Fatalf("%s %s: decoding %q: %v", req.Method, req.URL.Path, data, err)
		}
	}
	if out == nil {
		out = map[string]any{}
	}
	if resp.StatusCode == http.StatusFound {
		out["location"] = resp.Header.Get("Location")
	}
	return resp.StatusCode, out
}

// authorizeURL starts the connect flow for member.
func (ts *testSystem) authorizeURL(member string, body any) string {
	ts.t.Helper()
	status, out := ts.api("POST", "/v1/members/"+member+"/connect", body)
	if status != http.StatusOK {
		ts.t.Fatalf("connect %s: status %d %v", member, status, out)
	}
	return out["authorize_url"].(string)
}

// callback follows Facebook's redirect to our callback and returns where the
// browser is sent next.
func (ts *testSystem) callback(redirect *url.URL) *url.URL {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", redirect.String(), nil)
	status, out := ts.do(req)
	if status != http.StatusFound {
		ts.t.Fatalf("callback: status %d, want 302 (%v)", status, out)
	}
	u, err := url.Parse(out["location"].(string))
	if err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// connect runs the whole connect dance for member as Facebook user fbUser
// (granting grant, or every requested scope) and returns the final redirect.
func (ts *testSystem) connect(member, fbUser string, grant ...string) *url.URL {
	ts.t.Helper()
	redirect, err := ts.emu.Approve(ts.authorizeURL(member, nil), fbUser, grant...)
	if err != nil {
		ts.t.Fatalf("approve: %v", err)
	}
	return ts.callback(redirect)
}

// mustConnect connects and checks the outcome.
func (ts *testSystem) mustConnect(member, fbUser string, grant ...string) {
	ts.t.Helper()
	u := ts.connect(member, fbUser, grant...)
	if got := u.Query().Get("facebook"); got != "connected" {
		ts.t.Fatalf("connect %s as %s: facebook=%q reason=%q", member, fbUser, got, u.Query().Get("reason"))
	}
}

// member reads GET /v1/members/{member}.
func (ts *testSystem) member(member string) map[string]any {
	ts.t.Helper()
	status, out := ts.api("GET", "/v1/members/"+member, nil)
	if status != http.StatusOK {
		ts.t.Fatalf("get member %s: %d %v", member, status, out)
	}
	return out
}

// publishWatch publishes a watch event on playback.watch.<member>.
func (ts *testSystem) publishWatch(ev map[string]any) {
	ts.t.Helper()
	data, _ := json.Marshal(ev)
	member, _ := ev["member_id"].(string)
	id, _ := ev["event_id"].(string)
	if _, err := worker.PublishWatch(context.Background(), ts.sys.msg.js, member, id, data); err != nil {
		ts.t.Fatalf("publish: %v", err)
	}
}

var eventSeq struct {
	sync.Mutex
	n int
}

// watchEvent returns a valid event that crosses the share threshold.
func watchEvent(member, session, title string, watched int) map[string]any {
	eventSeq.Lock()
	eventSeq.n++
	n := eventSeq.n
	eventSeq.Unlock()
	return map[string]any{
		"event_id":     fmt.Sprintf("ev-%s-%s-%d", member, session, n),
		"member_id":    member,
		"profile_id":   "p1",
		"kids_profile": false,
		"session_id":   session,
		"title": map[string]any{
			"id": title, "type": "movie",
			"url":  "https://www.example.com/title/" + title,
			"name": "Title " + title,
		},
		"watched_seconds":  watched,
		"duration_seconds": 5400,
		"state":            "playing",
		"occurred_at":      time.Now().UTC().Format(time.RFC3339),
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
