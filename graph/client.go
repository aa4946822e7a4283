package graph

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used when the corresponding Client field is zero.
const (
	// DefaultBaseURL is the Graph API base, version included.
	DefaultBaseURL = "https://graph.facebook.com/v21.0"

	// DefaultTimeout bounds a whole call made with the default *http.Client.
	DefaultTimeout = 30 * time.Second

	// MaxResponseBytes is the most of a response body the client reads.
	MaxResponseBytes = 4 << 20

	// MaxErrorBodyBytes is the most of an error body kept in APIError.Body.
	MaxErrorBodyBytes = 4 << 10

	// UserAgent is sent on every request.
	UserAgent = "watchshare"
)

// Errors returned before any request is sent, or about the answer's framing.
var (
	// ErrNoAppSecret: the Client has no AppSecret, so no appsecret_proof can
	// be computed (and no app token formed).
	ErrNoAppSecret = errors.New("graph: client has no app secret")

	// ErrNoAppID: an app token or OAuth call needs the Client's AppID.
	ErrNoAppID = errors.New("graph: client has no app id")

	// ErrNoToken: the Session has an empty access token.
	ErrNoToken = errors.New("graph: session has no access token")

	// ErrBadPath: the path is empty, absolute, or otherwise not a Graph path.
	ErrBadPath = errors.New("graph: bad path")

	// ErrResponseTooLarge: the response body exceeded MaxResponseBytes.
	ErrResponseTooLarge = errors.New("graph: response body too large")

	// ErrNotSuccessful: a write or delete answered false or {"success":false}.
	ErrNotSuccessful = errors.New("graph: facebook reported no success")
)

// Client is the app-wide configuration for talking to the Graph API. Its zero
// value (plus AppID and AppSecret) is ready to use; fields must not change once
// calls have started. A Client is safe for concurrent use.
type Client struct {
	// AppID and AppSecret identify the app. AppSecret keys appsecret_proof;
	// it is never sent except as client_secret on the OAuth token endpoint.
	AppID     string
	AppSecret string

	// BaseURL is the Graph API base with the version included, e.g.
	// "https://graph.facebook.com/v21.0". Empty means DefaultBaseURL.
	BaseURL string

	// HTTPClient sends the requests. Nil means a shared client with a
	// DefaultTimeout overall timeout and dial, TLS and header timeouts.
	HTTPClient *http.Client

	// Logger receives one debug line per call (method, path without query,
	// status, duration, usage). Nil means quiet. No secret is ever logged.
	Logger *slog.Logger

	// Now returns the current time, for token expiry. Nil means time.Now.
	Now func() time.Time
}

// maxIdleConns bounds the idle connections the default client keeps.
const maxIdleConns = 512

var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Timeout: DefaultTimeout,
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2: true,
			// As many idle connections as calls in flight (the worker makes
			// up to WATCHSHARE_WORKER_CONCURRENCY, 128 by default, to one
			// host): with fewer, every answer beyond the idle limit closed its
			// connection and the next call dialled (and with TLS, shook hands)
			// again. HTTP/2 needs only one.
			MaxIdleConns:          maxIdleConns,
			MaxIdleConnsPerHost:   maxIdleConns,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 25 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
})

// DefaultHTTPClient returns the shared *http.Client used when
// Client.HTTPClient is nil.
func DefaultHTTPClient() *http.Client { return defaultHTTPClient() }

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultHTTPClient()
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) baseURL() (*url.URL, error) {
	raw := c.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("graph: invalid BaseURL %q", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// endpoint joins a Graph path such as "/me/friends?limit=100" onto BaseURL.
// A query string in path is kept and merged with the call's params later.
func (c *Client) endpoint(path string) (*url.URL, error) {
	base, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	p, q, _ := strings.Cut(path, "?")
	if strings.Contains(p, "://") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "#\\") {
		return nil, fmt.Errorf("%w: %q", ErrBadPath, scrubPath(p))
	}
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + "/" + strings.TrimLeft(p, "/")
	u.RawPath = ""
	u.RawQuery = q
	return &u, nil
}

// AppsecretProof returns the lowercase hex HMAC-SHA256 of token keyed with
// the app secret.
func AppsecretProof(appSecret, token string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// Session returns a session that calls the Graph API with the given user
// (or page) access token.
func (c *Client) Session(token string) *Session {
	return &Session{c: c, token: token}
}

// AppSession returns a session using the app access token "APPID|SECRET".
// Calls fail with ErrNoAppID or ErrNoAppSecret when either is missing.
func (c *Client) AppSession() *Session {
	s := &Session{c: c, app: true}
	if c.AppID != "" && c.AppSecret != "" {
		s.token = c.AppID + "|" + c.AppSecret
	}
	return s
}

// Format prints the Client without its secret.
func (c Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "graph.Client{AppID:%s AppSecret:[REDACTED] BaseURL:%s}", c.AppID, c.BaseURL)
}

// LogValue logs the Client without its secret.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("app_id", c.AppID), slog.String("base_url", c.BaseURL))
}

// Session is a Client bound to one access token. It is cheap, immutable and
// safe for concurrent use. Its token never appears in URLs, errors or logs.
type Session struct {
	c     *Client
	token string
	app   bool
}

// Client returns the session's Client.
func (s *Session) Client() *Client { return s.c }

// IsApp reports whether the session uses the app access token.
func (s *Session) IsApp() bool { return s.app }

// Format prints the Session without its token.
func (s Session) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "graph.Session{%s token:[REDACTED]}", s.kind())
}

// LogValue logs the Session without its token.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token_kind", s.kind()), slog.String("token", redacted))
}

// kind names the session's token: "app" or "user".
func (s Session) kind() string {
	if s.app {
		return "app"
	}
	return "user"
}

// Result is what Facebook answered to one call. It is returned also when the
// call failed with an *APIError (nil only when no answer was received).
type Result struct {
	StatusCode int
	Header     http.Header
	Usage      Usage
	// Body is the raw response body (at most MaxResponseBytes).
	Body []byte
}

// Get sends GET path with params in the query string and decodes the JSON
// answer into out (nil to discard). path may carry its own query string.
func (s *Session) Get(ctx context.Context, path string, params url.Values, out any) (*Result, error) {
	return s.call(ctx, http.MethodGet, path, params, out)
}

// Post sends POST path with params form-encoded in the body and decodes the
// answer into out (nil to discard). A bare true body counts as
// {"success":true}; false or {"success":false} returns ErrNotSuccessful.
func (s *Session) Post(ctx context.Context, path string, params url.Values, out any) (*Result, error) {
	return s.call(ctx, http.MethodPost, path, params, out)
}

// Delete sends DELETE path with params in the query string. Success is a
// bare true or {"success":true}; false or {"success":false} returns
// ErrNotSuccessful.
func (s *Session) Delete(ctx context.Context, path string, params url.Values, out any) (*Result, error) {
	return s.call(ctx, http.MethodDelete, path, params, out)
}

func (s *Session) call(ctx context.Context, method, path string, params url.Values, out any) (*Result, error) {
	u, err := s.c.endpoint(path)
	if err != nil {
		return nil, err
	}
	return s.do(ctx, request{method: method, u: u, params: params, out: out})
}

// request is one HTTP exchange with Graph.
type request struct {
	method  string
	u       *url.URL // absolute; its query is merged with params
	params  url.Values
	out     any
	secrets []string // extra strings to redact from errors (input tokens)
}

// do runs req with the session's token, which must be usable.
func (s *Session) do(ctx context.Context, req request) (*Result, error) {
	if s.app && s.c.AppID == "" {
		return nil, ErrNoAppID
	}
	if s.c.AppSecret == "" {
		return nil, ErrNoAppSecret
	}
	if s.token == "" {
		return nil, ErrNoToken
	}
	return s.c.roundTrip(ctx, s.token, req)
}

// roundTrip sends req with token as bearer and its appsecret_proof; an empty
// token (the OAuth token endpoint) sends neither.
func (c *Client) roundTrip(ctx context.Context, token string, req request) (*Result, error) {
	secrets := append([]string{token, c.AppSecret}, req.secrets...)

	params := url.Values{}
	u := *req.u
	q := u.Query()
	if req.method != http.MethodPost {
		params = q
	}
	for k, vs := range req.params {
		params[k] = append([]string(nil), vs...)
	}
	params.Del("access_token")
	params.Del("appsecret_proof")
	q.Del("access_token")
	q.Del("appsecret_proof")
	params.Set("format", "json")
	if token != "" {
		params.Set("appsecret_proof", AppsecretProof(c.AppSecret, token))
	}

	var body io.Reader
	if req.method == http.MethodPost {
		u.RawQuery = q.Encode()
		body = strings.NewReader(params.Encode())
	} else {
		u.RawQuery = params.Encode()
	}
	safe := scrubURL(&u)

	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), req.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("graph: %s %s: build request: %s", req.method, safe, redact(err.Error(), secrets))
	}
	hreq.Header.Set("User-Agent", UserAgent)
	hreq.Header.Set("Accept", "application/json")
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}

	log := c.logger()
	start := time.Now()
	resp, err := c.httpClient().Do(hreq)
	if err != nil {
		terr := newTransportError(req.method, safe, err, wrote.Load(), secrets)
		log.LogAttrs(ctx, slog.LevelDebug, "graph call failed",
			slog.String("method", req.method), slog.String("path", u.Path),
			slog.Duration("duration", time.Since(start)), slog.Bool("ambiguous", terr.Ambiguous),
			slog.String("error", terr.Error()))
		return nil, terr
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, newTransportError(req.method, safe, err, true, secrets)
	}
	res := &Result{StatusCode: resp.StatusCode, Header: resp.Header, Usage: ParseUsage(resp.Header), Body: raw}
	log.LogAttrs(ctx, slog.LevelDebug, "graph call",
		slog.String("method", req.method), slog.String("path", u.Path),
		slog.Int("status", resp.StatusCode), slog.Duration("duration", time.Since(start)),
		slog.Int("usage_max", res.Usage.Max()))
	if len(raw) > MaxResponseBytes {
		res.Body = raw[:MaxResponseBytes]
		return res, fmt.Errorf("%w: %s %s exceeded %d bytes", ErrResponseTooLarge, req.method, safe, MaxResponseBytes)
	}

	if apiErr := errorFromResponse(resp.StatusCode, raw, secrets); apiErr != nil {
		return res, apiErr
	}
	if req.method != http.MethodGet {
		if err := checkSuccess(raw); err != nil {
			return res, fmt.Errorf("%w: %s %s", err, req.method, u.Path)
		}
	}
	if err := decodeBody(raw, req.out); err != nil {
		return res, fmt.Errorf("graph: %s %s: %w", req.method, u.Path, err)
	}
	return res, nil
}

// errorFromResponse returns the APIError for a non-2xx answer, or for a 2xx
// answer whose body is an object with a top-level "error".
func errorFromResponse(status int, body []byte, secrets []string) *APIError {
	if status < 200 || status > 299 {
		return decodeAPIError(status, body, secrets)
	}
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' {
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(t, &probe) == nil && len(probe.Error) > 0 && !bytes.Equal(probe.Error, []byte("null")) {
			return decodeAPIError(status, body, secrets)
		}
	}
	return nil
}

// decodeBody decodes a JSON body into out; a bare true is read as
// {"success":true}.
func decodeBody(body []byte, out any) error {
	if out == nil {
		return nil
	}
	t := bytes.TrimSpace(body)
	if bytes.Equal(t, []byte("true")) {
		t = []byte(`{"success":true}`)
	}
	if err := json.Unmarshal(t, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// checkSuccess fails on a body of false or {"success":false}.
func checkSuccess(body []byte) error {
	t := bytes.TrimSpace(body)
	if bytes.Equal(t, []byte("false")) {
		return ErrNotSuccessful
	}
	if len(t) > 0 && t[0] == '{' {
		var s struct {
			Success *bool `json:"success"`
		}
		if json.Unmarshal(t, &s) == nil && s.Success != nil && !*s.Success {
			return ErrNotSuccessful
		}
	}
	return nil
}

// isSuccessBody reports whether body is true or {"success":true}.
func isSuccessBody(body []byte) bool {
	t := bytes.TrimSpace(body)
	if bytes.Equal(t, []byte("true")) {
		return true
	}
	var s struct {
		Success bool `json:"success"`
	}
	return json.Unmarshal(t, &s) == nil && s.Success
}

const redacted = "[REDACTED]"

// sensitiveParams are query parameters scrubbed from URLs placed in errors.
var sensitiveParams = []string{
	"access_token", "input_token", "client_secret", "fb_exchange_token",
	"code", "appsecret_proof", "signed_request",
}

// scrubURL renders u with sensitive query values replaced by [REDACTED].
func scrubURL(u *url.URL) string {
	v := *u
	v.User = nil
	v.Fragment = ""
	if v.RawQuery != "" {
		q, err := url.ParseQuery(v.RawQuery)
		if err != nil {
			v.RawQuery = redacted
		} else {
			for _, k := range sensitiveParams {
				if q.Has(k) {
					q.Set(k, redacted)
				}
			}
			v.RawQuery = q.Encode()
		}
	}
	return v.String()
}

// ScrubURL returns rawURL with access_token, input_token, client_secret,
// fb_exchange_token, code, appsecret_proof and signed_request values replaced
// by "[REDACTED]". An unparseable URL is replaced entirely.
func ScrubURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return redacted
	}
	return scrubURL(u)
}

func scrubPath(p string) string {
	if len(p) > 64 {
		p = p[:64] + "…"
	}
	return p
}

// redact replaces every occurrence of each non-empty secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// flexString decodes a JSON string or number (IDs may come as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexInt decodes a JSON number or numeric string; other values decode as 0
// without error so one odd field never hides the rest.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var n json.Number
	if json.Unmarshal(b, &n) != nil {
		*f = 0
		return nil
	}
	if i, err := n.Int64(); err == nil {
		*f = flexInt(i)
		return nil
	}
	if x, err := n.Float64(); err == nil && x > -9.2e18 && x < 9.2e18 {
		*f = flexInt(int64(x))
	}
	return nil
}
