package graph

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAppID  = "1234567890"
	testSecret = "s3cr3t-app-secret-value"
	// canary is a user token that must never show up in URLs, errors or logs.
	canary = "EAACANARYTOKENxyz987654321"
)

// fixture bundles a fake Graph server, a Client pointing at it and what the
// server saw.
type fixture struct {
	srv    *httptest.Server
	client *Client
	logs   *syncBuffer

	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct {
	Method string
	Path   string
	URL    string // request URI as received
	Query  map[string][]string
	Form   map[string][]string // POST body
	Auth   string
	UA     string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup starts a fake Graph at srv.URL+"/v21.0" served by h and returns a
// fixture whose Client logs at debug level into f.logs.
func setup(tb testing.TB, h http.HandlerFunc) *fixture {
	tb.Helper()
	f := &fixture{logs: &syncBuffer{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := r.Header.Get("Content-Type") == "application/x-www-form-urlencoded"
		if body {
			if err := r.ParseForm(); err != nil {
				tb.Errorf("ParseForm: %v", err)
			}
		}
		sr := seenRequest{
			Method: r.Method, Path: r.URL.Path, URL: r.RequestURI, Query: r.URL.Query(),
			Auth: r.Header.Get("Authorization"), UA: r.Header.Get("User-Agent"),
		}
		if body {
			sr.Form = r.PostForm
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, sr)
		f.mu.Unlock()
		h(w, r)
	}))
	tb.Cleanup(f.srv.Close)
	f.client = &Client{
		AppID:      testAppID,
		AppSecret:  testSecret,
		BaseURL:    f.srv.URL + "/v21.0",
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Logger:     slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        func() time.Time { return time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC) },
	}
	tb.Cleanup(func() {
		if strings.Contains(f.logs.String(), canary) || strings.Contains(f.logs.String(), testSecret) {
			tb.Errorf("logs contain a secret:\n%s", f.logs.String())
		}
	})
	return f
}

func (f *fixture) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.reqs...)
}

func (f *fixture) last(tb testing.TB) seenRequest {
	tb.Helper()
	rs := f.requests()
	if len(rs) == 0 {
		tb.Fatal("server saw no request")
	}
	return rs[len(rs)-1]
}

// jsonHandler answers every request with status and body.
func jsonHandler(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// assertNoSecret fails if s holds the canary token or the app secret.
func assertNoSecret(tb testing.TB, what, s string) {
	tb.Helper()
	if strings.Contains(s, canary) {
		tb.Fatalf("%s contains the token: %s", what, s)
	}
	if strings.Contains(s, testSecret) {
		tb.Fatalf("%s contains the app secret: %s", what, s)
	}
}
