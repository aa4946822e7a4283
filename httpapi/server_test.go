package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"watchshare/graph"
	"watchshare/graph/graphtest"
	"watchshare/oauth"
	"watchshare/service"
	"watchshare/store"
)

const testToken = "test-api-token-0123456789"

type bundle struct {
	srv *httptest.Server
	emu *graphtest.Server
	api *Server
}

// setup starts the API over a real service: SQLite under t.TempDir() and
// the Graph emulator.
func setup(t *testing.T) *bundle {
	t.Helper()
	emu := graphtest.NewServer()
	t.Cleanup(emu.Close)
	key := make([]byte, 32)
	rand.Read(key)
	db, err := store.Open(context.Background(), t.TempDir()+"/api.db", store.Options{TokenKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &bundle{emu: emu}
	b.srv = httptest.NewUnstartedServer(nil)
	flow, err := oauth.New(oauth.Config{AppID: graphtest.DefaultAppID, AppSecret: graphtest.DefaultAppSecret,
		DialogURL: emu.DialogURL(), TokenURL: emu.TokenURL(), RedirectURL: "http://" + b.srv.Listener.Addr().String() + "/oauth/facebook/callback"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Config{
		DB: db, Flow: flow, AccountURL: "https://www.example.com/account",
		Graph: &graph.Client{AppID: graphtest.DefaultAppID, AppSecret: graphtest.DefaultAppSecret, BaseURL: emu.GraphURL()},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.api = &Server{Service: svc, APIToken: testToken}
	b.srv.Config.Handler = b.api.Handler()
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

// do sends a request (with the bearer token when auth) and returns the
// status, the headers and the decoded JSON body.
func (b *bundle) do(t *testing.T, method, path, contentType, body string, auth bool) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(data, &out) != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
	}
	return resp.StatusCode, resp.Header, out
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	if e == nil || e["message"] == "" {
		return ""
	}
	code, _ := e["code"].(string)
	return code
}

// The failure paths not driven by cmd/watchshare's TestAPIBadInput.
func TestBadInput(t *testing.T) {
	b := setup(t)
	cases := []struct {
		name, method, path, contentType, body string
		auth                                  bool
		status                                int
		code                                  string
	}{
		{"body not JSON typed", "POST", "/v1/members/m1/connect", "text/plain", `{"return_to":"/x"}`, true, 415, "unsupported_media_type"},
		{"absolute return_to", "POST", "/v1/members/m1/connect", "application/json", `{"return_to":"https://evil.example/"}`, true, 400, "invalid_return_to"},
		{"two JSON values", "POST", "/v1/members/m1/connect", "", `{} {}`, true, 400, "invalid_json"},
		{"sharing without enabled", "PUT", "/v1/members/m1/sharing", "application/json", `{}`, true, 400, "invalid_body"},
		{"limit not a number", "GET", "/v1/members/m1/friends/activity?limit=ten", "", "", true, 400, "invalid_limit"},
		{"limit out of range", "GET", "/v1/members/m1/friends/activity?limit=201", "", "", true, 400, "invalid_limit"},
		{"before not a time", "GET", "/v1/members/m1/friends/activity?before=yesterday", "", "", true, 400, "invalid_before"},
		{"title out of alphabet", "PUT", "/v1/members/m1/hidden-titles/t%20x", "", "", true, 400, "invalid_title_id"},
		{"sync of a member never connected", "POST", "/v1/members/m1/friends/sync", "", "", true, 409, "not_connected"},
		{"/v1 without bearer", "GET", "/v1/nope", "", "", false, 401, "unauthorized"},
		{"unknown public route", "GET", "/nope", "", "", false, 404, "not_found"},
		{"unsigned deauthorize", "POST", "/facebook/deauthorize", "application/x-www-form-urlencoded", "signed_request=abc.def", false, 400, "invalid_signed_request"},
		{"deauthorize without a form", "POST", "/facebook/deauthorize", "application/x-www-form-urlencoded", "%zz", false, 400, "invalid_signed_request"},
		{"unsigned data deletion", "POST", "/facebook/data-deletion", "application/x-www-form-urlencoded", "", false, 400, "invalid_signed_request"},
		{"unknown deletion code", "GET", "/facebook/data-deletion/nope", "", "", false, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := b.do(t, tc.method, tc.path, tc.contentType, tc.body, tc.auth)
			if status != tc.status || errorCode(out) != tc.code {
				t.Fatalf("%s %s = %d %v, want %d with code %q", tc.method, tc.path, status, out, tc.status, tc.code)
			}
		})
	}
}

// TestSyncRateLimited: a rate limit on the friend list is 503 rate_limited
// with a Retry-After.
func TestSyncRateLimited(t *testing.T) {
	b := setup(t)
	u := b.emu.AddUser(graphtest.User{ID: "750001", Name: "Rae Limit"})
	status, _, out := b.do(t, "POST", "/v1/members/m1/connect", "", "", true)
	if status != 200 {
		t.Fatalf("connect = %d %v", status, out)
	}
	cb, err := b.emu.Approve(out["authorize_url"].(string), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	status, hdr, _ := b.do(t, "GET", "/oauth/facebook/callback?"+cb.RawQuery, "", "", false)
	if loc, _ := url.Parse(hdr.Get("Location")); status != http.StatusFound || loc.Query().Get("facebook") != "connected" {
		t.Fatalf("callback = %d to %q, want 302 with facebook=connected", status, hdr.Get("Location"))
	}

	b.emu.FailNext("GET /me/friends", 1, graphtest.Fault{Code: 4})
	status, hdr, out = b.do(t, "POST", "/v1/members/m1/friends/sync", "", "", true)
	if status != 503 || errorCode(out) != "rate_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("sync = %d %v (Retry-After %q), want 503 rate_limited with a Retry-After", status, out, hdr.Get("Retry-After"))
	}
}

func TestReadyz(t *testing.T) {
	b := setup(t)
	b.api.Ready = func(context.Context) error { return errors.New("nats: no servers") }
	if status, _, out := b.do(t, "GET", "/readyz", "", "", false); status != 503 || out["status"] != "unready" {
		t.Fatalf("/readyz = %d %v, want 503 unready", status, out)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"conflict", &service.Error{Kind: service.KindConflict, Code: "sync_in_progress", Message: "busy"}, 409, "sync_in_progress"},
		{"store down", &service.Error{Kind: service.KindUnavailable, Code: "store_unavailable", Message: "down"}, 503, "store_unavailable"},
		{"facebook refused", &service.Error{Kind: service.KindUpstream, Code: "facebook_error", Message: "refused"}, 502, "facebook_error"},
		{"unknown kind", &service.Error{Code: "odd", Message: "odd"}, 500, "odd"},
		{"internal", errors.New("secret detail"), 500, "internal_error"},
	}
	s := &Server{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.Error(w, httptest.NewRequest("GET", "/v1/x", nil), tc.err)
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || errorCode(out) != tc.code {
				t.Fatalf("Error(%v) = %d %v, want %d with code %q", tc.err, w.Code, out, tc.status, tc.code)
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("Error(%v) shows the cause: %s", tc.err, w.Body)
			}
		})
	}
	t.Run("client gone", func(t *testing.T) {
		w := httptest.NewRecorder()
		s.Error(w, httptest.NewRequest("GET", "/v1/x", nil), context.Canceled)
		if w.Body.Len() != 0 {
			t.Fatalf("Error(context.Canceled) wrote %q, want nothing", w.Body)
		}
	})
}

// TestCallbackFailures: the callback's failures after the code exchange,
// each answered with a reason and nothing stored.
func TestCallbackFailures(t *testing.T) {
	b := setup(t)
	u := b.emu.AddUser(graphtest.User{ID: "750002", Name: "Cal Back"})
	cases := []struct {
		name  string
		route string // failed once; empty: the code is left out
		fault graphtest.Fault
		want  string
	}{
		{"long-lived exchange down", "GET /oauth/access_token", graphtest.Fault{Code: 2}, "facebook_unavailable"},
		{"/me refused", "GET /me", graphtest.Fault{Code: 200}, "exchange_failed"},
		{"/me/permissions bad gateway", "GET /me/permissions", graphtest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, "facebook_unavailable"},
		{"no code", "", graphtest.Fault{}, "exchange_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := b.do(t, "POST", "/v1/members/m2/connect", "", "", true)
			if status != 200 {
				t.Fatalf("connect = %d %v", status, out)
			}
			cb, err := b.emu.Approve(out["authorize_url"].(string), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			q := cb.Query()
			if tc.route != "" {
				b.emu.FailNext(tc.route, 1, tc.fault)
				defer b.emu.ClearFaults()
			} else {
				q.Del("code")
			}
			status, hdr, _ := b.do(t, "GET", "/oauth/facebook/callback?"+q.Encode(), "", "", false)
			loc, _ := url.Parse(hdr.Get("Location"))
			if status != http.StatusFound || loc.Query().Get("facebook") != "error" || loc.Query().Get("reason") != tc.want {
				t.Fatalf("callback = %d to %q, want 302 with facebook=error&reason=%s", status, hdr.Get("Location"), tc.want)
			}
			if _, _, m := b.do(t, "GET", "/v1/members/m2", "", "", true); m["status"] != "not_connected" {
				t.Fatalf("member after a failed connect = %v", m)
			}
		})
	}
}
