package graphtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

func TestInjectedFaults(t *testing.T) {
	srv := start(t, nil)
	uid := addUser(srv, "Fran Fault")
	tok := srv.AuthorizeApp(uid, "user_friends", "publish_actions")

	tests := []struct {
		name      string
		route     string
		fault     graphtest.Fault
		status    int
		code      int
		subcode   int
		msg       string
		transient bool
		ctype     string // for bare failures
	}{
		{"app limit", "GET /me", graphtest.Fault{Code: 4}, 400, 4, 0, "(#4) Application request limit reached", true, ""},
		{"user limit", "GET /me", graphtest.Fault{Code: 17}, 400, 17, 0, "(#17) User request limit reached", true, ""},
		{"page limit", "*", graphtest.Fault{Code: 32}, 400, 32, 0, "(#32) Page request limit reached", true, ""},
		{"custom limit", "GET /me", graphtest.Fault{Code: 613}, 400, 613, 0, "(#613) Calls to this api have exceeded the rate limit.", true, ""},
		{"unknown", "GET /me", graphtest.Fault{Code: 1}, 500, 1, 0, "An unknown error occurred", true, ""},
		{"service", "GET /me", graphtest.Fault{Code: 2}, 500, 2, 0, "An unexpected error has occurred. Please retry your request later.", true, ""},
		{"BUC", "GET /me", graphtest.Fault{Code: 80001}, 400, 80001, 0, "", true, ""},
		{"blocked", "GET /me", graphtest.Fault{Code: 368}, 400, 368, 0, "(#368) The action attempted has been deemed abusive or is otherwise disallowed", false, ""},
		{"duplicate", "GET /me", graphtest.Fault{Code: 506}, 400, 506, 0, "(#506) Duplicate status message", false, ""},
		{"token", "GET /me", graphtest.Fault{Code: 190, Subcode: 460}, 400, 190, 460, "", false, ""},
		{"permission", "GET /me", graphtest.Fault{Code: 10}, 403, 10, 0, "", false, ""},
		{"bare 503 html", "GET /me", graphtest.Fault{Status: 503, Body: graphtest.HTMLErrorPage}, 503, 0, 0, "", false, "text/html"},
		{"bare 500 empty", "GET /me", graphtest.Fault{}, 500, 0, 0, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.FailNext(tc.route, 1, tc.fault)
			r := userCall(t, srv, http.MethodGet, "/me", tok, nil)
			if tc.code == 0 {
				if r.Status != tc.status || r.Body != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) {
					t.Fatalf("HTTP %d %q %q, want bare %d", r.Status, r.Header.Get("Content-Type"), r.Raw, tc.status)
				}
				if tc.ctype == "" && r.Raw != "" {
					t.Fatalf("body = %q, want empty", r.Raw)
				}
			} else {
				wantError(t, r, tc.status, tc.code, tc.subcode)
				e := r.Body["error"].(map[string]any)
				if tc.msg != "" && e["message"] != tc.msg {
					t.Fatalf("message = %q, want %q", e["message"], tc.msg)
				}
				if got, _ := e["is_transient"].(bool); got != tc.transient {
					t.Fatalf("is_transient = %v, want %v", got, tc.transient)
				}
				if e["type"] != "OAuthException" {
					t.Fatalf("type = %v", e["type"])
				}
			}
			// One shot: the next call succeeds.
			wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
		})
	}

	t.Run("next N of one route only", func(t *testing.T) {
		srv.ResetCalls()
		srv.FailNext("POST /me/video.watches", 2, graphtest.Fault{Code: 2})
		wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
		for range 2 {
			wantError(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {"https://www.example.com/m/1"}}), 500, 2, 0)
		}
		wantOK(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {"https://www.example.com/m/1"}}))
		injected := 0
		for _, c := range srv.Calls() {
			if c.Injected {
				injected++
				if c.Code != 2 || c.Status != 500 || c.Route != "POST /me/video.watches" {
					t.Fatalf("injected call = %+v", c)
				}
			}
		}
		if injected != 2 || len(srv.Actions(uid)) != 1 {
			t.Fatalf("injected = %d, actions = %d", injected, len(srv.Actions(uid)))
		}
	})

	t.Run("close connection", func(t *testing.T) {
		srv.FailNext("GET /me", 1, graphtest.Fault{CloseConn: true})
		// A fresh connection: Go's transport retries idempotent requests
		// that fail on a reused one.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		_, err := c.Get(srv.GraphURL() + "/me?access_token=" + tok + "&appsecret_proof=" + proof(secret, tok))
		if err == nil {
			t.Fatal("no error from a closed connection")
		}
	})
}

func TestCommitThenDrop(t *testing.T) {
	srv := start(t, nil)
	uid := addUser(srv, "Gil Drop")
	tok := srv.AuthorizeApp(uid, "publish_actions")
	srv.DropNext("POST /me/video.watches", 1)

	p := url.Values{"movie": {"https://www.example.com/title/9"}, "access_token": {tok}, "appsecret_proof": {proof(secret, tok)}}
	resp, err := srv.Client().PostForm(srv.GraphURL()+"/me/video.watches", p)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered HTTP %d", resp.StatusCode)
	}
	acts := srv.Actions(uid)
	if len(acts) != 1 || acts[0].ObjectURL != "https://www.example.com/title/9" {
		t.Fatalf("Actions = %+v, want the committed action", acts)
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; !last.Dropped || last.Status != 0 {
		t.Fatalf("call = %+v, want Dropped", last)
	}
	// The next post answers normally.
	wantOK(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {"https://www.example.com/title/9"}}))
}

func TestLatencyHonoursCancellation(t *testing.T) {
	srv := start(t, nil)
	uid := addUser(srv, "Hana Slow")
	tok := srv.AuthorizeApp(uid, "publish_actions")
	srv.SetLatency("POST /me/video.watches", time.Minute)

	// The slow call goes through a front server that signals when the
	// emulator's handler has returned, i.e. when it has dealt with the
	// cancellation.
	served := make(chan struct{}, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { served <- struct{}{} }()
		srv.ServeHTTP(w, r)
	}))
	defer front.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	p := url.Values{"movie": {"https://www.example.com/title/5"}, "access_token": {tok}, "appsecret_proof": {proof(secret, tok)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/v21.0/me/video.watches", strings.NewReader(p.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := front.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("slow call answered before the deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	// The server notices the cancellation and does not execute the call.
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("canceled call never finished at the emulator")
	}
	calls := srv.Calls()
	if len(calls) == 0 {
		t.Fatal("canceled call never logged")
	}
	if c := calls[len(calls)-1]; c.Err == "" || c.Status != 0 {
		t.Fatalf("call = %+v, want a canceled call", c)
	}
	if n := len(srv.Actions(uid)); n != 0 {
		t.Fatalf("%d actions stored by a canceled call", n)
	}
	srv.SetLatency("POST /me/video.watches", 0)
	t0 := time.Now()
	wantOK(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {"https://www.example.com/title/5"}}))
	if d := time.Since(t0); d >= time.Second {
		t.Fatalf("SetLatency(route, 0) left the latency: %v", d)
	}
	srv.SetLatency(graphtest.AnyRoute, 20*time.Millisecond)
	t0 = time.Now()
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Fatalf("AnyRoute latency not applied: %v", d)
	}
}

// TestReplyLatency: the call is executed at once and only its reply is held
// back, so a caller that gives up (or dies) meanwhile leaves the action
// stored: the window between Facebook's commit and the caller's.
func TestReplyLatency(t *testing.T) {
	srv := start(t, nil)
	uid := addUser(srv, "Rhea Reply")
	tok := srv.AuthorizeApp(uid, "publish_actions")
	srv.SetReplyLatency("POST /me/video.watches", time.Minute)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	p := url.Values{"movie": {"https://www.example.com/title/6"}, "access_token": {tok}, "appsecret_proof": {proof(secret, tok)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.GraphURL()+"/me/video.watches", strings.NewReader(p.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("delayed reply arrived before the deadline")
	}
	if n := len(srv.Actions(uid)); n != 1 {
		t.Fatalf("%d actions stored, want 1: the call must be executed before the reply waits", n)
	}
	if c := srv.Calls(); len(c) != 1 || c[0].Status != 200 {
		t.Fatalf("calls = %+v, want one successful call", c)
	}

	srv.SetReplyLatency("POST /me/video.watches", 0)
	t0 := time.Now()
	wantOK(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {"https://www.example.com/title/7"}}))
	if d := time.Since(t0); d >= time.Second {
		t.Fatalf("SetReplyLatency(route, 0) left the reply latency: %v", d)
	}
	srv.SetReplyLatency(graphtest.AnyRoute, 20*time.Millisecond)
	t0 = time.Now()
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Fatalf("AnyRoute reply latency not applied: %v", d)
	}
	srv.ClearFaults()
	t0 = time.Now()
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
	if d := time.Since(t0); d >= time.Second {
		t.Fatalf("ClearFaults left the reply latency: %v", d)
	}
}

func TestOutage(t *testing.T) {
	srv := start(t, nil)
	tok := srv.AuthorizeApp(addUser(srv, "Ivo Outage"))
	srv.SetOutage(graphtest.Outage503)
	r := userCall(t, srv, http.MethodGet, "/me", tok, nil)
	if r.Status != 503 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("outage: HTTP %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	if _, err := srv.Approve(authorizeURL(srv, nil), srv.Users()[0].ID); err == nil {
		t.Fatal("dialog works during an outage")
	}
	srv.SetOutage(graphtest.OutageClose)
	if resp, err := srv.Client().Get(srv.GraphURL() + "/me"); err == nil {
		resp.Body.Close()
		t.Fatalf("OutageClose answered HTTP %d", resp.StatusCode)
	}
	srv.SetOutage(graphtest.OutageNone)
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))
}

func TestCallBudgetsAndUsage(t *testing.T) {
	srv := start(t, &graphtest.Server{AppCallsPerHour: 4, UserCallsPerHour: 3})
	a := srv.AuthorizeApp(addUser(srv, "Jin Budget"))
	b := srv.AuthorizeApp(addUser(srv, "Kai Budget"))

	r := userCall(t, srv, http.MethodGet, "/me", a, nil)
	wantOK(t, r)
	if got := r.Header.Get("X-App-Usage"); got != `{"call_count":25,"total_time":25,"total_cputime":25}` {
		t.Fatalf("X-App-Usage = %q", got)
	}
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", a, nil))
	wantOK(t, userCall(t, srv, http.MethodGet, "/me", a, nil))
	wantError(t, userCall(t, srv, http.MethodGet, "/me", a, nil), http.StatusBadRequest, 17, 0)
	wantError(t, userCall(t, srv, http.MethodGet, "/me", b, nil), http.StatusBadRequest, 4, 0)

	srv.SetAppUsage(&graphtest.Usage{CallCount: 95, TotalTime: 10, TotalCPUTime: 12})
	r = do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {a}, "access_token": {srv.AppAccessToken()}})
	if got := r.Header.Get("X-App-Usage"); got != `{"call_count":95,"total_time":10,"total_cputime":12}` {
		t.Fatalf("X-App-Usage = %q", got)
	}

	srv2 := start(t, nil)
	tok := srv2.AuthorizeApp(addUser(srv2, "Lea Quiet"))
	if got := userCall(t, srv2, http.MethodGet, "/me", tok, nil).Header.Get("X-App-Usage"); got != "" {
		t.Fatalf("X-App-Usage at ~0%% = %q, want absent", got)
	}
}

func TestZeroValueHandler(t *testing.T) {
	var srv graphtest.Server // not started: used as a plain http.Handler
	uid := srv.AddUser(graphtest.User{Name: "Mo Zero"}).ID
	tok := srv.AuthorizeApp(uid)
	req := httptest.NewRequest(http.MethodGet, "/v21.0/me?access_token="+tok+"&appsecret_proof="+proof(secret, tok), nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), uid) {
		t.Fatalf("zero-value Server: HTTP %d %s", rec.Code, rec.Body.String())
	}
}
