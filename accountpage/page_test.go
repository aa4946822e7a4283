package accountpage

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const testToken = "test-api-token-0123456789"

// seen is what the API behind the proxy received.
type seen struct {
	method, path, query string
	header              http.Header
	body                string
	readErr             error
}

// apiRecorder is a stand-in for the /v1 API: it records each request and
// answers 200 {"ok":true}, or 413 when the body could not be read.
type apiRecorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (a *apiRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	a.mu.Lock()
	a.reqs = append(a.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body), err})
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

func (a *apiRecorder) requests() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.reqs...)
}

func setup(t *testing.T) (*httptest.Server, *apiRecorder) {
	t.Helper()
	api := &apiRecorder{}
	page := &Page{API: api, APIToken: testToken}
	srv := httptest.NewServer(page.Handler())
	t.Cleanup(srv.Close)
	return srv, api
}

// noRedirects is a client that reports redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestProxy(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		path       string
		body       io.Reader
		header     map[string]string
		wantStatus int
		wantCode   string // error code when refused
		wantPath   string // forwarded path; "" = not forwarded
		wantBody   string
	}{
		{name: "get member", method: "GET", path: "/account/api/v1/members/m1", wantStatus: 200, wantPath: "/v1/members/m1"},
		{name: "query kept", method: "GET", path: "/account/api/v1/members/m1/friends/activity?limit=5", wantStatus: 200, wantPath: "/v1/members/m1/friends/activity"},
		{name: "post with body", method: "POST", path: "/account/api/v1/members/m1/connect", body: strings.NewReader(`{"return_to":"/account?member=m1"}`),
			header: map[string]string{"Content-Type": "application/json"}, wantStatus: 200, wantPath: "/v1/members/m1/connect", wantBody: `{"return_to":"/account?member=m1"}`},
		{name: "put", method: "PUT", path: "/account/api/v1/members/m1/hidden-titles/t1", wantStatus: 200, wantPath: "/v1/members/m1/hidden-titles/t1"},
		{name: "delete", method: "DELETE", path: "/account/api/v1/members/m1/hidden-titles/t1", wantStatus: 200, wantPath: "/v1/members/m1/hidden-titles/t1"},
		{name: "browser's credentials replaced", method: "GET", path: "/account/api/v1/members/m1",
			header: map[string]string{"Authorization": "Bearer someone-else", "Cookie": "session=abc"}, wantStatus: 200, wantPath: "/v1/members/m1"},
		{name: "same-origin write", method: "POST", path: "/account/api/v1/members/m1/disconnect",
			header: map[string]string{"Sec-Fetch-Site": "same-origin"}, wantStatus: 200, wantPath: "/v1/members/m1/disconnect"},
		{name: "patch refused", method: "PATCH", path: "/account/api/v1/members/m1/sharing", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "head refused", method: "HEAD", path: "/account/api/v1/members/m1", wantStatus: 405},
		{name: "not v1", method: "GET", path: "/account/api/healthz", wantStatus: 404, wantCode: "not_found"},
		{name: "v1 root without slash", method: "GET", path: "/account/api/v1", wantStatus: 404, wantCode: "not_found"},
		{name: "facebook callbacks not reachable", method: "POST", path: "/account/api/facebook/deauthorize", wantStatus: 404, wantCode: "not_found"},
		{name: "encoded slash", method: "GET", path: "/account/api/v1/members/m1%2F..%2F..%2Fmetrics", wantStatus: 404, wantCode: "not_found"},
		{name: "trailing slash", method: "GET", path: "/account/api/v1/members/m1/", wantStatus: 404, wantCode: "not_found"},
		{name: "dot segments", method: "GET", path: "/account/api/v1/../../metrics", wantStatus: http.StatusTemporaryRedirect}, // to /account/metrics: not found,
		{name: "body over the limit", method: "POST", path: "/account/api/v1/members/m1/disconnect",
			body: strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)), wantStatus: 413, wantCode: "body_too_large"},
		{name: "cross-site write", method: "POST", path: "/account/api/v1/members/m1/disconnect",
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantCode: "cross_origin"},
		{name: "foreign origin write", method: "DELETE", path: "/account/api/v1/members/m1/hidden-titles/t1",
			header: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403, wantCode: "cross_origin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, api := setup(t)
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantStatus)
			}
			if tc.wantCode != "" {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != tc.wantCode || e.Error.Message == "" {
					t.Errorf("error body = %+v (%v), want code %q", e, err, tc.wantCode)
				}
			}
			reqs := api.requests()
			if tc.wantPath == "" {
				if len(reqs) != 0 {
					t.Fatalf("forwarded %+v, want nothing forwarded", reqs)
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("forwarded %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != tc.method || got.path != tc.wantPath || got.body != tc.wantBody {
				t.Errorf("forwarded %s %s %q, want %s %s %q", got.method, got.path, got.body, tc.method, tc.wantPath, tc.wantBody)
			}
			if _, q, _ := strings.Cut(tc.path, "?"); got.query != q {
				t.Errorf("forwarded query %q, want %q", got.query, q)
			}
			if a := got.header.Get("Authorization"); a != "Bearer "+testToken {
				t.Errorf("forwarded Authorization = %q, want the API token", a)
			}
			if c := got.header.Get("Cookie"); c != "" {
				t.Errorf("forwarded Cookie = %q, want none", c)
			}
			if ct := tc.header["Content-Type"]; got.header.Get("Content-Type") != ct {
				t.Errorf("forwarded Content-Type = %q, want %q", got.header.Get("Content-Type"), ct)
			}
		})
	}
}

// A body without Content-Length cannot be read past the limit by the API.
func TestProxyStreamedBodyLimited(t *testing.T) {
	srv, api := setup(t)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("x", MaxBodyBytes+10)))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/account/api/v1/members/m1/disconnect", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := api.requests()
	var mbe *http.MaxBytesError
	if len(reqs) != 1 || !errors.As(reqs[0].readErr, &mbe) || len(reqs[0].body) > MaxBodyBytes {
		t.Fatalf("API read %d bytes, error %v; want at most %d and a MaxBytesError", len(reqs[0].body), reqs[0].readErr, MaxBodyBytes)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", resp.StatusCode)
	}
}

func TestPageAndAssets(t *testing.T) {
	cases := []struct {
		path, wantType, wantText string
		wantStatus               int
	}{
		{"/account", "text/html", "Connect with Facebook", 200},
		{"/account?member=m1&facebook=connected", "text/html", `aria-live="polite"`, 200},
		{"/account/", "text/html", `name="viewport"`, 200},
		{"/account/static/app.js", "text/javascript", "/account/api/v1", 200},
		{"/account/static/style.css", "text/css", "@media", 200},
		{"/account/static/nope.js", "", "", 404},
		{"/account/settings", "", "", 404},
	}
	srv, api := setup(t)
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := noRedirects.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("Content-Type = %q, want %s", ct, tc.wantType)
			}
			if !strings.Contains(string(body), tc.wantText) {
				t.Errorf("body does not contain %q", tc.wantText)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			if strings.Contains(string(body), testToken) {
				t.Error("the API token reached the browser")
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Fatalf("page requests reached the API %d times", n)
	}
}
