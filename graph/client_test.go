package graph

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRequestCarriesProofAndBearer(t *testing.T) {
	wantProof := AppsecretProof(testSecret, canary)
	if len(wantProof) != 64 || strings.ToLower(wantProof) != wantProof {
		t.Fatalf("AppsecretProof = %q, want 64 lowercase hex chars", wantProof)
	}
	tests := []struct {
		name   string
		method string
		call   func(ctx context.Context, s *Session) error
	}{
		{"get", http.MethodGet, func(ctx context.Context, s *Session) error {
			_, err := s.Get(ctx, "/me", url.Values{"fields": {"id"}, "access_token": {canary}}, nil)
			return err
		}},
		{"post", http.MethodPost, func(ctx context.Context, s *Session) error {
			_, err := s.Post(ctx, "me/video.watches?x=1", url.Values{"movie": {"https://example.com/m/1"}}, nil)
			return err
		}},
		{"delete", http.MethodDelete, func(ctx context.Context, s *Session) error {
			_, err := s.Delete(ctx, "/123", nil, nil)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, jsonHandler(200, `{"success":true}`))
			if err := tc.call(t.Context(), f.client.Session(canary)); err != nil {
				t.Fatalf("call: %v", err)
			}
			r := f.last(t)
			if r.Method != tc.method {
				t.Fatalf("method = %s, want %s", r.Method, tc.method)
			}
			if !strings.HasPrefix(r.Path, "/v21.0/") {
				t.Fatalf("path = %q, want under /v21.0/", r.Path)
			}
			if r.Auth != "Bearer "+canary {
				t.Fatalf("Authorization = %q, want Bearer token", r.Auth)
			}
			if r.UA != UserAgent {
				t.Fatalf("User-Agent = %q, want %q", r.UA, UserAgent)
			}
			if strings.Contains(r.URL, canary) {
				t.Fatalf("token in URL %q", r.URL)
			}
			params := r.Query
			if tc.method == http.MethodPost {
				params = r.Form
			}
			if got := first(params, "appsecret_proof"); got != wantProof {
				t.Fatalf("appsecret_proof = %q, want %q", got, wantProof)
			}
			if got := first(params, "format"); got != "json" {
				t.Fatalf("format = %q, want json", got)
			}
			if _, ok := params["access_token"]; ok {
				t.Fatalf("access_token parameter sent: %v", params)
			}
			if _, ok := r.Form["access_token"]; ok {
				t.Fatalf("access_token in form: %v", r.Form)
			}
		})
	}
}

func first(m map[string][]string, k string) string {
	if len(m[k]) == 0 {
		return ""
	}
	return m[k][0]
}

func TestAppSession(t *testing.T) {
	f := setup(t, jsonHandler(200, `{"id":"1"}`))
	s := f.client.AppSession()
	if !s.IsApp() {
		t.Fatal("IsApp = false, want true")
	}
	if _, err := s.Get(t.Context(), "/app", nil, nil); err != nil {
		t.Fatal(err)
	}
	r := f.last(t)
	if want := "Bearer " + testAppID + "|" + testSecret; r.Auth != want {
		t.Fatalf("Authorization = %q, want %q", r.Auth, want)
	}
	if got, want := first(r.Query, "appsecret_proof"), AppsecretProof(testSecret, testAppID+"|"+testSecret); got != want {
		t.Fatalf("appsecret_proof = %q, want %q", got, want)
	}

	if _, err := (&Client{AppID: "1"}).AppSession().Get(t.Context(), "/app", nil, nil); !errors.Is(err, ErrNoAppSecret) {
		t.Fatalf("no secret: err = %v, want ErrNoAppSecret", err)
	}
	if _, err := (&Client{AppSecret: "x"}).AppSession().Get(t.Context(), "/app", nil, nil); !errors.Is(err, ErrNoAppID) {
		t.Fatalf("no app id: err = %v, want ErrNoAppID", err)
	}
	if _, err := f.client.Session("").Get(t.Context(), "/me", nil, nil); !errors.Is(err, ErrNoToken) {
		t.Fatalf("empty token: err = %v, want ErrNoToken", err)
	}
}

func TestBadPath(t *testing.T) {
	f := setup(t, jsonHandler(200, `{}`))
	for _, p := range []string{"https://evil.example/me", "//evil.example/me", "/me#x"} {
		if _, err := f.client.Session(canary).Get(t.Context(), p, nil, nil); !errors.Is(err, ErrBadPath) {
			t.Fatalf("Get(%q) err = %v, want ErrBadPath", p, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("server saw %d requests, want 0", n)
	}
}

func TestWriteSuccessBodies(t *testing.T) {
	tests := []struct {
		body    string
		wantErr error
	}{
		{`true`, nil},
		{` true` + "\n", nil},
		{`{"success":true}`, nil},
		{`false`, ErrNotSuccessful},
		{`{"success":false}`, ErrNotSuccessful},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			f := setup(t, jsonHandler(200, tc.body))
			s := f.client.Session(canary)
			if err := s.DeleteObject(t.Context(), "10100657260775943"); !errors.Is(err, tc.wantErr) {
				t.Fatalf("DeleteObject err = %v, want %v", err, tc.wantErr)
			}
			if err := s.RevokeApp(t.Context()); !errors.Is(err, tc.wantErr) {
				t.Fatalf("RevokeApp err = %v, want %v", err, tc.wantErr)
			}
			var out struct{ Success bool }
			_, err := s.Post(t.Context(), "/123", url.Values{"expires_in": {"60"}}, &out)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Post err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !out.Success {
				t.Fatalf("Post decoded Success = false, want true")
			}
		})
	}
	f := setup(t, jsonHandler(200, `{}`))
	if err := f.client.Session(canary).DeleteObject(t.Context(), "1/../me"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("DeleteObject(bad id) err = %v, want ErrInvalidArgument", err)
	}
}

func TestResultOnError(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Usage", `{"call_count":95,"total_time":10,"total_cputime":3}`)
		w.WriteHeader(400)
		w.Write([]byte(`{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"Abc"}}`))
	})
	res, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
	if !IsRateLimited(err) {
		t.Fatalf("IsRateLimited(%v) = false, want true", err)
	}
	if res == nil {
		t.Fatal("Result = nil, want the answer's Result")
	}
	if res.StatusCode != 400 || res.Usage.Max() != 95 {
		t.Fatalf("Result = status %d usage %d, want 400 and 95", res.StatusCode, res.Usage.Max())
	}
}

func TestResponseTooLarge(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":"`))
		w.Write(bytes.Repeat([]byte("a"), MaxResponseBytes))
		w.Write([]byte(`"}`))
	})
	_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
}

// TestTokenNeverInErrors runs every error path with the canary token and
// checks neither the token nor the app secret appears in error text.
func TestTokenNeverInErrors(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if tok == "" {
				tok = r.URL.Query().Get("fb_exchange_token") + r.URL.Query().Get("client_secret")
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"Invalid token %s %s","type":"OAuthException","code":190,"error_user_msg":"%s"}}`, tok, r.URL.Query().Get("input_token"), tok)
		}
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(ctx context.Context, c *Client) error
	}{
		{"api error echoes token", echo(400), func(ctx context.Context, c *Client) error {
			_, err := c.Session(canary).Get(ctx, "/me", nil, nil)
			return err
		}},
		{"html 502 echoes token", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			fmt.Fprintf(w, "<html>Bad gateway %s</html>", r.Header.Get("Authorization"))
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Session(canary).Get(ctx, "/me", nil, nil)
			return err
		}},
		{"debug_token error echoes input token", echo(400), func(ctx context.Context, c *Client) error {
			_, err := c.DebugToken(ctx, canary)
			return err
		}},
		{"exchange error echoes token and secret", echo(400), func(ctx context.Context, c *Client) error {
			_, err := c.ExchangeToken(ctx, canary)
			return err
		}},
		{"paging next with access_token then error", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("after") == "" {
				fmt.Fprintf(w, `{"data":[{"id":"1"}],"paging":{"next":"http://%s/v21.0/me/friends?access_token=%s&after=X&limit=1"}}`, r.Host, canary)
				return
			}
			echo(500)(w, r)
		}, func(ctx context.Context, c *Client) error {
			_, _, err := c.Session(canary).Friends(ctx, 5)
			return err
		}},
		{"paging next to a foreign host", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":[{"id":"1"}],"paging":{"next":"https://evil.example/v21.0/me/friends?access_token=%s&after=X"}}`, canary)
		}, func(ctx context.Context, c *Client) error {
			_, _, err := c.Session(canary).Friends(ctx, 5)
			if !errors.Is(err, ErrForeignNextURL) {
				return fmt.Errorf("want ErrForeignNextURL, got %w", err)
			}
			return err
		}},
		{"decode error", jsonHandler(200, `{"id":`+`"`+canary+`"`+`}`), func(ctx context.Context, c *Client) error {
			var out struct{ ID int }
			_, err := c.Session(canary).Get(ctx, "/me", nil, &out)
			return err
		}},
		{"batch element error echoes token", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `[{"code":400,"body":"{\"error\":{\"message\":\"bad %s\",\"code\":190}}"}]`, canary)
		}, func(ctx context.Context, c *Client) error {
			rs, err := c.Session(canary).Batch(ctx, []BatchRequest{{RelativeURL: "me"}})
			if err != nil {
				return err
			}
			return rs[0].Err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.h)
			err := tc.call(t.Context(), f.client)
			if err == nil {
				t.Fatal("err = nil, want an error")
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "%+v of error", fmt.Sprintf("%+v", err))
			if apiErr, ok := errors.AsType[*APIError](err); ok {
				assertNoSecret(t, "APIError.Body", string(apiErr.Body))
				assertNoSecret(t, "APIError.UserMessage", apiErr.UserMessage)
			}
		})
	}
}

// TestTransportErrors checks the ambiguity of transport failures and that
// tokens in URLs (input_token, fb_exchange_token) never reach error text.
func TestTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := &Client{AppID: testAppID, AppSecret: testSecret, BaseURL: "http://" + addr + "/v21.0", HTTPClient: &http.Client{Timeout: 5 * time.Second}}
		for name, call := range map[string]func() error{
			"get":      func() error { _, err := c.Session(canary).Get(t.Context(), "/me", nil, nil); return err },
			"debug":    func() error { _, err := c.DebugToken(t.Context(), canary); return err },
			"exchange": func() error { _, err := c.ExchangeToken(t.Context(), canary); return err },
		} {
			err := call()
			te, ok := errors.AsType[*TransportError](err)
			if !ok {
				t.Fatalf("%s: err = %T %v, want *TransportError", name, err, err)
			}
			if IsAmbiguous(err) {
				t.Fatalf("%s: IsAmbiguous = true, want false for refused connection", name)
			}
			if !IsTransient(err) {
				t.Fatalf("%s: IsTransient = false, want true", name)
			}
			if !strings.HasPrefix(err.Error(), "graph: ") {
				t.Fatalf("%s: Error() = %q, want graph: prefix", name, err)
			}
			assertNoSecret(t, name+" error", err.Error())
			assertNoSecret(t, name+" URL", te.URL)
			if name == "debug" && !strings.Contains(te.URL, "input_token=%5BREDACTED%5D") {
				t.Fatalf("URL = %q, want input_token redacted", te.URL)
			}
		}
	})

	t.Run("context cancelled before sending", func(t *testing.T) {
		f := setup(t, jsonHandler(200, `{}`))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.client.Session(canary).Get(ctx, "/me", nil, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if IsAmbiguous(err) {
			t.Fatal("IsAmbiguous = true, want false")
		}
	})

	t.Run("server reads request then closes", func(t *testing.T) {
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			conn.Close()
		})
		_, _, err := f.client.Session(canary).PublishWatch(t.Context(), PropertyMovie, "https://example.com/m/1", WatchOptions{})
		if _, ok := errors.AsType[*TransportError](err); !ok {
			t.Fatalf("err = %T %v, want *TransportError", err, err)
		}
		if !IsAmbiguous(err) {
			t.Fatalf("IsAmbiguous(%v) = false, want true", err)
		}
		if len(f.requests()) != 1 {
			t.Fatalf("server saw %d requests, want 1 (no retry of a POST)", len(f.requests()))
		}
		assertNoSecret(t, "error", err.Error())
	})

	t.Run("timeout awaiting response", func(t *testing.T) {
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := f.client.Session(canary).Post(ctx, "/me/video.watches", url.Values{"movie": {"https://example.com/m/1"}}, nil)
		te, ok := errors.AsType[*TransportError](err)
		if !ok {
			t.Fatalf("err = %T %v, want *TransportError", err, err)
		}
		if !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Timeout() = %v, Is(DeadlineExceeded) = %v, want both true", te.Timeout(), errors.Is(err, context.DeadlineExceeded))
		}
		if !IsAmbiguous(err) {
			t.Fatal("IsAmbiguous = false, want true")
		}
	})

	t.Run("client timeout awaiting response", func(t *testing.T) {
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		f.client.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
		_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
		te, ok := errors.AsType[*TransportError](err)
		if !ok || !te.Timeout() || !IsAmbiguous(err) {
			t.Fatalf("err = %v, want an ambiguous timeout *TransportError", err)
		}
	})

	t.Run("body cut short", func(t *testing.T) {
		f := setup(t, func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			writeRaw(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":")
		})
		_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
		if !IsAmbiguous(err) {
			t.Fatalf("IsAmbiguous(%v) = false, want true", err)
		}
	})
}

func writeRaw(buf *bufio.ReadWriter, s string) {
	buf.WriteString(s)
	buf.Flush()
}

func TestSecretsNotPrinted(t *testing.T) {
	c := Client{AppID: testAppID, AppSecret: testSecret, BaseURL: "http://x/v21.0"}
	tok := Token{AccessToken: canary, ExpiresAt: time.Unix(1, 0)}
	values := map[string]any{
		"client":     c,
		"*client":    &c,
		"session":    *c.Session(canary),
		"*session":   c.Session(canary),
		"app":        c.AppSession(),
		"token":      tok,
		"*token":     &tok,
		"in a slice": []any{tok, c.Session(canary)},
		"in struct":  struct{ T Token }{tok},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			assertNoSecret(t, name+" "+verb, fmt.Sprintf(verb, v))
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		assertNoSecret(t, name+" slog", buf.String())
	}
	if got := tok.String(); got != "[REDACTED]" {
		t.Fatalf("Token.String() = %q, want [REDACTED]", got)
	}
	for s, want := range map[*Session]string{c.Session(canary): "user", c.AppSession(): "app"} {
		if got, w := fmt.Sprint(s), "graph.Session{"+want+" token:[REDACTED]}"; got != w {
			t.Errorf("Sprint(session) = %q, want %q", got, w)
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", s)
		if w := "v.token_kind=" + want; !strings.Contains(buf.String(), w) {
			t.Errorf("slog of session = %q, want %s", buf.String(), w)
		}
	}
}

func TestScrubURL(t *testing.T) {
	raw := "https://graph.facebook.com/v2.5/1/friends?access_token=" + canary + "&input_token=" + canary +
		"&client_secret=" + testSecret + "&fb_exchange_token=" + canary + "&code=abc&limit=25"
	got := ScrubURL(raw)
	assertNoSecret(t, "ScrubURL", got)
	if strings.Contains(got, "code=abc") || !strings.Contains(got, "limit=25") {
		t.Fatalf("ScrubURL = %q, want code redacted and limit kept", got)
	}
}
