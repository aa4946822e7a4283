package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

func TestConnectFlow(t *testing.T) {
	ts := newTestSystem(t, nil)
	fb := ts.emu.AddUser(graphtest.User{ID: "100001", Name: "Maya Chen"})

	authorize := ts.authorizeURL("m1", map[string]any{"return_to": "/account/social?tab=friends"})
	u, err := url.Parse(authorize)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"client_id":             graphtest.DefaultAppID,
		"redirect_uri":          ts.base + "/oauth/facebook/callback",
		"response_type":         "code",
		"scope":                 "user_friends publish_actions",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize_url %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("state")) < 32 || len(q.Get("code_challenge")) < 43 {
		t.Fatalf("authorize_url lacks a strong state or challenge: %s", authorize)
	}

	redirect, err := ts.emu.Approve(authorize, fb.ID)
	if err != nil {
		t.Fatal(err)
	}
	final := ts.callback(redirect)
	if final.Host != "account.example.com" || final.Path != "/account/social" || final.Query().Get("facebook") != "connected" || final.Query().Get("tab") != "friends" {
		t.Fatalf("redirect after connect = %s", final)
	}

	m := ts.member("m1")
	if m["status"] != "connected" || m["facebook_user_id"] != fb.ID || m["name"] != "Maya Chen" || m["can_publish"] != true || m["sharing_enabled"] != true {
		t.Fatalf("member = %v", m)
	}
	connected, _ := time.Parse(time.RFC3339, m["connected_at"].(string))
	expires, _ := time.Parse(time.RFC3339, m["consent_expires_at"].(string))
	if got := expires.Sub(connected); got != 17520*time.Hour {
		t.Fatalf("consent_expires_at - connected_at = %s, want 17520h", got)
	}
	if scopes := m["scopes"].([]any); len(scopes) < 2 {
		t.Fatalf("scopes = %v", scopes)
	}
	// The state is single use.
	if got := ts.callback(redirect).Query().Get("reason"); got != "invalid_state" {
		t.Fatalf("replayed callback reason = %q, want invalid_state", got)
	}

	// The token never reaches the disk in plaintext.
	if err := ts.sys.db.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	tokens := ts.emu.Tokens(fb.ID)
	if len(tokens) == 0 {
		t.Fatal("emulator issued no token")
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(ts.sys.cfg.DB + suffix)
		if err != nil {
			continue
		}
		for _, tok := range tokens {
			if bytes.Contains(data, []byte(tok.Token)) {
				t.Fatalf("plaintext token found in %s", ts.sys.cfg.DB+suffix)
			}
		}
	}
}

func TestConnectDeclinedPublishActions(t *testing.T) {
	ts := newTestSystem(t, nil)
	fb := ts.emu.AddUser(graphtest.User{ID: "100002", Name: "James O'Connor"})
	ts.mustConnect("m2", fb.ID, "public_profile", "user_friends")
	if m := ts.member("m2"); m["status"] != "connected" || m["can_publish"] != false {
		t.Fatalf("member = %v, want connected with can_publish false", m)
	}
}

func TestConnectOutcomes(t *testing.T) {
	ts := newTestSystem(t, nil)
	fb := ts.emu.AddUser(graphtest.User{ID: "100003", Name: "Aiko Tanaka"})
	other := ts.emu.AddUser(graphtest.User{ID: "100004", Name: "Tom Walsh"})

	t.Run("denied", func(t *testing.T) {
		redirect, err := ts.emu.Deny(ts.authorizeURL("m3", nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.callback(redirect).Query().Get("facebook"); got != "denied" {
			t.Fatalf("facebook = %q, want denied", got)
		}
		if m := ts.member("m3"); m["status"] != "not_connected" {
			t.Fatalf("member = %v", m)
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		u, _ := url.Parse(ts.base + "/oauth/facebook/callback?code=abc&state=forged-state")
		if got := ts.callback(u).Query().Get("reason"); got != "invalid_state" {
			t.Fatalf("reason = %q, want invalid_state", got)
		}
		u, _ = url.Parse(ts.base + "/oauth/facebook/callback?code=abc")
		if got := ts.callback(u).Query().Get("reason"); got != "invalid_state" {
			t.Fatalf("missing state: reason = %q, want invalid_state", got)
		}
	})
	t.Run("expired state", func(t *testing.T) {
		redirect, err := ts.emu.Approve(ts.authorizeURL("m3", nil), fb.ID)
		if err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(11 * time.Minute)
		defer ts.clock.Advance(-11 * time.Minute)
		if got := ts.callback(redirect).Query().Get("reason"); got != "invalid_state" {
			t.Fatalf("reason = %q, want invalid_state", got)
		}
		if m := ts.member("m3"); m["status"] != "not_connected" {
			t.Fatalf("member = %v", m)
		}
	})
	t.Run("code rejected", func(t *testing.T) {
		redirect, err := ts.emu.Approve(ts.authorizeURL("m3", nil), fb.ID)
		if err != nil {
			t.Fatal(err)
		}
		q := redirect.Query()
		q.Set("code", q.Get("code")+"x")
		redirect.RawQuery = q.Encode()
		if got := ts.callback(redirect).Query().Get("reason"); got != "exchange_failed" {
			t.Fatalf("reason = %q, want exchange_failed", got)
		}
	})
	t.Run("graph outage", func(t *testing.T) {
		redirect, err := ts.emu.Approve(ts.authorizeURL("m3", nil), fb.ID)
		if err != nil {
			t.Fatal(err)
		}
		ts.emu.SetOutage(graphtest.Outage503)
		defer ts.emu.SetOutage(graphtest.OutageNone)
		if got := ts.callback(redirect).Query().Get("reason"); got != "facebook_unavailable" {
			t.Fatalf("reason = %q, want facebook_unavailable", got)
		}
		if m := ts.member("m3"); m["status"] != "not_connected" {
			t.Fatalf("member after outage = %v", m)
		}
	})
	t.Run("facebook account in use", func(t *testing.T) {
		ts.mustConnect("m4", other.ID)
		if got := ts.connect("m5", other.ID).Query().Get("reason"); got != "facebook_account_in_use" {
			t.Fatalf("reason = %q, want facebook_account_in_use", got)
		}
		if m := ts.member("m5"); m["status"] != "not_connected" {
			t.Fatalf("member = %v", m)
		}
	})
	t.Run("reconnect replaces the token", func(t *testing.T) {
		ts.mustConnect("m6", fb.ID)
		first, _ := ts.sys.db.MemberToken(t.Context(), "m6")
		ts.mustConnect("m6", fb.ID)
		second, _ := ts.sys.db.MemberToken(t.Context(), "m6")
		if first == "" || first == second {
			t.Fatal("reconnecting did not replace the token")
		}
	})
}

func TestConnectConcurrentCallbacks(t *testing.T) {
	ts := newTestSystem(t, nil)
	fb := ts.emu.AddUser(graphtest.User{ID: "100005", Name: "Priya Raman"})
	redirect, err := ts.emu.Approve(ts.authorizeURL("m7", nil), fb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", redirect.String(), nil)
			resp, err := ts.client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			u, _ := url.Parse(resp.Header.Get("Location"))
			results[i] = u.Query().Get("facebook") + ":" + u.Query().Get("reason")
		}()
	}
	wg.Wait()
	connected := 0
	for _, r := range results {
		switch r {
		case "connected:":
			connected++
		case "error:invalid_state":
		default:
			t.Errorf("unexpected outcome %q", r)
		}
	}
	if connected != 1 {
		t.Fatalf("%d callbacks connected, want exactly 1 (%v)", connected, results)
	}
	if n := ts.emu.CallCount("POST", "/oauth/access_token") + ts.emu.CallCount("GET", "/oauth/access_token"); n > 2 {
		t.Fatalf("%d token endpoint calls, want at most 2 (code + long-lived exchange)", n)
	}
}

func TestAPIBadInput(t *testing.T) {
	ts := newTestSystem(t, nil)
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
	}{
		{"missing bearer", "GET", "/v1/members/m1", "", "", 401, "unauthorized"},
		{"wrong bearer", "GET", "/v1/members/m1", "Bearer nope", "", 401, "unauthorized"},
		{"member out of alphabet", "GET", "/v1/members/m%20x", "ok", "", 400, "invalid_member_id"},
		{"member too long", "GET", "/v1/members/" + strings.Repeat("m", 65), "ok", "", 400, "invalid_member_id"},
		{"absolute return_to", "POST", "/v1/members/m1/connect", "ok", `{"return_to":"https://evil.example/"}`, 400, "invalid_return_to"},
		{"protocol-relative return_to", "POST", "/v1/members/m1/connect", "ok", `{"return_to":"//evil.example/"}`, 400, "invalid_return_to"},
		{"backslash return_to", "POST", "/v1/members/m1/connect", "ok", `{"return_to":"/\\evil.example/"}`, 400, "invalid_return_to"},
		{"body not json", "POST", "/v1/members/m1/connect", "ok", `return_to=/x`, 400, "invalid_json"},
		{"body wrong type", "PUT", "/v1/members/m1/sharing", "ok", `{"enabled":"no"}`, 400, "invalid_json"},
		{"body over 64 KiB", "POST", "/v1/members/m1/connect", "ok", `{"return_to":"/` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large"},
		{"unknown route", "GET", "/v1/nope", "ok", "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.base+tc.path, strings.NewReader(tc.body))
			switch tc.auth {
			case "ok":
				req.Header.Set("Authorization", "Bearer "+testAPIToken)
			case "":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			status, out := ts.do(req)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, out)
			}
			e, _ := out["error"].(map[string]any)
			if e == nil || e["code"] != tc.code || e["message"] == "" {
				t.Fatalf("error = %v, want code %q", out, tc.code)
			}
		})
	}
	// Nothing was stored for the bad requests.
	if m := ts.member("m1"); m["status"] != "not_connected" {
		t.Fatalf("member = %v", m)
	}
}

func TestHealthAndReady(t *testing.T) {
	ts := newTestSystem(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequest("GET", ts.base+path, nil)
		if status, out := ts.do(req); status != 200 {
			t.Fatalf("%s = %d %v", path, status, out)
		}
	}
	req, _ := http.NewRequest("GET", ts.base+"/metrics", nil)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
}
