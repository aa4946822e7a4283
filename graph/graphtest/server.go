package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Defaults applied when the corresponding Server field is left zero.
const (
	DefaultAppID         = "1234567890"
	DefaultAppSecret     = "emulator-secret"
	DefaultAppName       = "watchshare"
	DefaultVersion       = "v21.0"
	DefaultShortTokenTTL = 2 * time.Hour
	DefaultLongTokenTTL  = 5183944 * time.Second // what Facebook answers for "60 days"
)

// Facebook's fixed limits, honoured by the emulator.
const (
	CodeTTL          = 10 * time.Minute    // authorization codes: single use, 10 minutes
	ProofTimeWindow  = 5 * time.Minute     // appsecret_time freshness window
	DataAccessTTL    = 90 * 24 * time.Hour // data_access_expires_at after an authorization
	MaxBatchSize     = 50                  // operations per batch request
	DefaultPageLimit = 25                  // page size when limit is absent
	MaxPageLimit     = 100                 // page size cap
)

// Server emulates the parts of Facebook (Graph API, OAuth dialog, token
// endpoint, outbound app callbacks) that watchshare talks to.
//
// Server is an http.Handler; the zero value is ready to use and keeps all
// state in memory. Exported fields are configuration: set them before the
// first request and do not change them afterwards. Everything that changes
// while a test runs (users, faults, switches) goes through methods, which are
// safe for concurrent use.
type Server struct {
	// AppID is the one app the emulator knows. Empty means DefaultAppID.
	AppID string
	// AppSecret is the app's secret, used for client_secret checks,
	// appsecret_proof and signed_request. Empty means DefaultAppSecret.
	AppSecret string
	// AppName is reported by /debug_token and on actions. Empty means
	// DefaultAppName.
	AppName string
	// Version is reported in the facebook-api-version header for calls
	// made without a /vX.Y/ prefix. Empty means DefaultVersion.
	Version string

	// RedirectURIs is the "Valid OAuth redirect URIs" allowlist, compared
	// byte for byte (Strict Mode). Empty allows any absolute http(s) URI.
	RedirectURIs []string
	// DisableProof turns off the "Require App Secret" setting. By default
	// (false) every call made with a user token needs a valid
	// appsecret_proof.
	DisableProof bool

	// ShortTokenTTL is the lifetime of tokens minted by the code grant.
	// Zero means DefaultShortTokenTTL (2h).
	ShortTokenTTL time.Duration
	// LongTokenTTL is the lifetime of tokens minted by fb_exchange_token and
	// AuthorizeApp. Zero means DefaultLongTokenTTL (about 60 days).
	LongTokenTTL time.Duration

	// AppCallsPerHour, if positive, is the app's rolling one-hour call
	// budget; calls beyond it fail with code 4. It is also the denominator
	// of X-App-Usage. Zero means unlimited, with X-App-Usage computed
	// against Facebook's 200 calls per authorized user.
	AppCallsPerHour int
	// UserCallsPerHour, if positive, is each user's rolling one-hour call
	// budget; calls beyond it fail with code 17. Zero means unlimited.
	UserCallsPerHour int

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logf logs notable events (unhandled routes, callback failures).
	// Tokens are never logged. Nil means log.Printf.
	Logf func(format string, args ...any)

	// DeauthorizeURL receives the deauthorize callback from RemoveApp.
	// Empty means no callback is sent.
	DeauthorizeURL string
	// DataDeletionURL receives the data deletion callback from
	// RequestDataDeletion. Empty makes RequestDataDeletion fail.
	DataDeletionURL string
	// CallbackClient sends the outbound callbacks. Nil means
	// http.DefaultClient.
	CallbackClient *http.Client
	// ObjectTitle returns the og:title Facebook would scrape from an object
	// URL. Nil means the URL itself is used as the title.
	ObjectTitle func(objectURL string) string

	// URL is the base URL of the started server, without a trailing slash
	// (e.g. "http://127.0.0.1:34567"). Set by Start.
	URL string
	// HTTPTestServer is the underlying server, set by Start.
	HTTPTestServer *httptest.Server

	mu sync.Mutex
	st *state // lazily created, guarded by mu
}

// NewServer returns a zero-value Server already started on a loopback
// address. Configure fields on a &Server{} and call Start instead when
// defaults do not fit.
func NewServer() *Server {
	s := new(Server)
	s.Start()
	return s
}

// Start starts the server on a loopback address chosen by the system and
// sets URL and HTTPTestServer. It panics if the server was already started.
func (s *Server) Start() {
	if s.HTTPTestServer != nil {
		panic("graphtest: Server already started")
	}
	s.HTTPTestServer = httptest.NewServer(s)
	s.URL = s.HTTPTestServer.URL
}

// Close shuts the started server down, blocking until outstanding requests
// have finished.
func (s *Server) Close() {
	if s.HTTPTestServer != nil {
		s.HTTPTestServer.Close()
	}
}

// Client returns an HTTP client configured for the started server. It
// follows redirects like http.DefaultClient does.
func (s *Server) Client() *http.Client {
	if s.HTTPTestServer == nil {
		return http.DefaultClient
	}
	return s.HTTPTestServer.Client()
}

// GraphURL returns the versioned Graph API base URL, URL + "/v21.0" (the
// configured Version), without a trailing slash.
func (s *Server) GraphURL() string { return s.URL + "/" + s.version() }

// DialogURL returns the versioned OAuth dialog URL, URL + "/v21.0/dialog/oauth".
func (s *Server) DialogURL() string { return s.GraphURL() + "/dialog/oauth" }

// TokenURL returns the versioned token endpoint,
// URL + "/v21.0/oauth/access_token".
func (s *Server) TokenURL() string { return s.GraphURL() + "/oauth/access_token" }

// AppAccessToken returns the literal "APPID|APPSECRET" app token.
func (s *Server) AppAccessToken() string { return s.appID() + "|" + s.appSecret() }

func (s *Server) appID() string     { return or(s.AppID, DefaultAppID) }
func (s *Server) appSecret() string { return or(s.AppSecret, DefaultAppSecret) }
func (s *Server) appName() string   { return or(s.AppName, DefaultAppName) }
func (s *Server) version() string   { return or(s.Version, DefaultVersion) }

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// request is one logical Graph call: a top-level HTTP request or one
// operation of a batch.
type request struct {
	ctx        context.Context
	method     string     // after the method=delete override
	path       string     // version prefix stripped, starts with "/"
	version    string     // "v21.0", or "" when unversioned
	params     url.Values // query and form merged
	authHeader string     // Authorization header, if any
	scheme     string
	host       string
	batch      bool
	received   time.Time // when the request arrived, before any injected latency
}

// response is what a handler produces; only ServeHTTP touches the wire.
type response struct {
	status    int
	header    http.Header
	body      []byte
	closeConn bool   // hijack and close the connection instead of answering
	injected  bool   // produced by fault injection
	errText   string // dialog error pages: the error, for Approve and Deny
}

func newResponse(status int) *response {
	return &response{status: status, header: make(http.Header)}
}

// jsonResponse marshals v as Graph does (no HTML escaping).
func jsonResponse(status int, v any) *response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("graphtest: marshal: " + err.Error())
	}
	r := newResponse(status)
	r.header.Set("Content-Type", "application/json; charset=UTF-8")
	r.body = bytes.TrimRight(buf.Bytes(), "\n")
	return r
}

func htmlResponse(status int, body string) *response {
	r := newResponse(status)
	r.header.Set("Content-Type", "text/html; charset=utf-8")
	r.body = []byte(body)
	return r
}

func success() *response { return jsonResponse(http.StatusOK, map[string]bool{"success": true}) }

var versionRE = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/|$)`)

// splitVersion splits "/v21.0/me" into ("v21.0", "/me").
func splitVersion(p string) (version, rest string) {
	if p == "" {
		p = "/"
	}
	if m := versionRE.FindString(p); m != "" {
		version = strings.Trim(m, "/")
		rest = p[len("/"+version):]
		if rest == "" {
			rest = "/"
		}
		return version, rest
	}
	return "", p
}

// ServeHTTP implements http.Handler. Every path is served both bare and
// under a /vX.Y/ prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := s.handle(r)
	if resp.closeConn {
		closeConn(w)
		return
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

// closeConn drops the connection without writing a single response byte.
func closeConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) handle(r *http.Request) *response {
	version, p := splitVersion(r.URL.Path)
	req := &request{
		ctx:        r.Context(),
		method:     r.Method,
		path:       p,
		version:    version,
		authHeader: r.Header.Get("Authorization"),
		scheme:     "http",
		host:       r.Host,
		received:   s.now(),
	}
	if r.TLS != nil {
		req.scheme = "https"
	}
	perr := parseParams(r)
	req.params = r.Form
	if req.params == nil {
		req.params = url.Values{}
	}
	req.method = overrideMethod(req.method, req.params)
	isDialog := p == "/dialog/oauth"
	route := req.method + " /dialog/oauth"
	if !isDialog {
		route = matchRoute(req.method, p).key
	}

	if resp := s.outageResponse(req, route); resp != nil {
		return resp
	}
	if err := s.delay(req.ctx, route); err != nil {
		s.record(Call{Time: s.now(), Method: req.method, Path: p, Route: route, Err: "request canceled: " + err.Error()})
		return &response{closeConn: true}
	}
	var resp *response
	switch {
	case isDialog:
		resp = s.serveDialog(req)
	case perr != nil:
		resp = s.errorResponse(req, route, newError(100, "(#100) "+perr.Error()))
	case route == "POST /":
		resp = s.serveBatch(req)
	default:
		resp = s.serveGraph(req)
	}
	if !isDialog && !resp.closeConn {
		if err := s.delayReply(req.ctx, route); err != nil {
			return &response{closeConn: true}
		}
	}
	resp.header.Set("facebook-api-version", or(version, s.version()))
	return resp
}

// overrideMethod returns DELETE for a POST carrying method=delete (the
// override SDKs use), else method.
func overrideMethod(method string, params url.Values) string {
	if method == http.MethodPost && strings.EqualFold(params.Get("method"), "delete") {
		return http.MethodDelete
	}
	return method
}

func parseParams(r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		err := r.ParseMultipartForm(10 << 20)
		if err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return err
		}
		return nil
	}
	return r.ParseForm()
}

// route is a matched Graph route.
type route struct {
	key     string // e.g. "GET /me/friends"; the subject is always named "me"
	handler func(s *Server, req *request, rt route, a *auth) *response
	subject string // "me" or a node id, for node and edge routes
	tail    string // extra path component (permission name)
	auth    authNeed
}

type authNeed int

const (
	authNone     authNeed = iota // token endpoints: no Graph token involved
	authRequired                 // a valid user or app token is required
)

// matchRoute maps a version-stripped path to a route. A route with a nil
// handler is unhandled; its key is still meaningful for logging and faults.
func matchRoute(method, p string) route {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	rt := route{key: method + " " + p, auth: authRequired}
	switch {
	case len(segs) == 0:
		rt.key = method + " /" // POST / (batch) is served by handle itself
	case len(segs) == 2 && segs[0] == "oauth" && segs[1] == "access_token":
		rt.key = method + " /oauth/access_token"
		if method == http.MethodGet || method == http.MethodPost {
			rt.handler = (*Server).serveAccessToken
			rt.auth = authNone
		}
	case len(segs) == 1 && segs[0] == "debug_token":
		rt.key = method + " /debug_token"
		if method == http.MethodGet {
			rt.handler = (*Server).serveDebugToken
		}
	case len(segs) == 1 && segs[0] == "me":
		rt.key, rt.subject = method+" /me", "me"
		if method == http.MethodGet {
			rt.handler = (*Server).serveUser
		}
	case len(segs) == 1 && isNodeID(segs[0]):
		rt.key, rt.subject = method+" /{id}", segs[0]
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodDelete:
			rt.handler = (*Server).serveNode
		}
	case len(segs) >= 2 && (segs[0] == "me" || isNodeID(segs[0])):
		rt.subject = segs[0]
		edge := segs[1]
		switch {
		case edge == "permissions" && len(segs) == 2:
			rt.key = method + " /me/permissions"
			if method == http.MethodGet || method == http.MethodDelete {
				rt.handler = (*Server).servePermissions
			}
		case edge == "permissions" && len(segs) == 3:
			rt.key, rt.tail = method+" /me/permissions/{perm}", segs[2]
			if method == http.MethodGet || method == http.MethodDelete {
				rt.handler = (*Server).servePermission
			}
		case edge == "friends" && len(segs) == 2:
			rt.key = method + " /me/friends"
			if method == http.MethodGet {
				rt.handler = (*Server).serveFriends
			}
		case edge == "video.watches" && len(segs) == 2:
			rt.key = method + " /me/video.watches"
			switch method {
			case http.MethodGet:
				rt.handler = (*Server).serveListWatches
			case http.MethodPost:
				rt.handler = (*Server).servePostWatch
			}
		}
	}
	return rt
}

// isNodeID reports whether s looks like a Graph node id (digits, optionally
// "userid_actionid" style with an underscore).
func isNodeID(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// serveGraph runs one logical Graph call: route matching, authentication,
// fault injection, budgets, the handler, and the call log.
func (s *Server) serveGraph(req *request) *response {
	rt := matchRoute(req.method, req.path)

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()

	a, authErr := s.authenticateLocked(req)
	call := Call{
		Time:      s.now(),
		Received:  req.received,
		Method:    req.method,
		Path:      req.path,
		Route:     rt.key,
		UserID:    a.userID,
		TokenKind: a.kind,
		Batch:     req.batch,
		Params:    redact(req.params),
	}

	var resp *response
	var gerr *gerror
	drop := false
	if f, ok := st.takeFaultLocked(rt.key, 0); ok {
		resp = s.faultResponse(f)
	} else if rt.handler == nil {
		call.Unhandled = true
		gerr = unknownPath(req.path)
		s.logf("graphtest: UNHANDLED %s %s (route %q)", req.method, req.path, rt.key)
	} else {
		drop = st.takeDropLocked(rt.key)
		if rt.auth == authRequired {
			gerr = s.checkAuthLocked(rt, a, authErr)
			if gerr == nil && a.kind != TokenNone {
				gerr = s.countCallLocked(a)
			}
		}
		if gerr == nil {
			resp = rt.handler(s, req, rt, a) // may be a FailPage fault
		}
	}
	if gerr != nil {
		resp = s.errorJSON(gerr)
	}
	if a.kind != TokenNone && !resp.closeConn {
		s.usageHeaderLocked(resp.header)
	}
	call.finish(resp, drop)
	st.calls = append(st.calls, call)
	return resp
}

// finish fills in what resp tells about the call: status, Graph error code,
// injection. With drop (DropNext) the call has been executed and resp turns
// into a closed connection.
func (c *Call) finish(resp *response, drop bool) {
	if code, sub, ok := errorCodes(resp); ok {
		c.Code, c.Subcode = code, sub
	}
	c.Injected = resp.injected
	if drop {
		c.Dropped, resp.closeConn = true, true
	}
	c.Status = resp.status
	if resp.closeConn {
		c.Status = 0
	}
}

// errorResponse renders a Graph error for calls that never reach
// serveGraph (malformed requests), logging them too.
func (s *Server) errorResponse(req *request, routeKey string, e *gerror) *response {
	resp := s.errorJSON(e)
	s.record(Call{Time: s.now(), Method: req.method, Path: req.path, Route: routeKey, Status: resp.status, Code: e.code, Subcode: e.subcode})
	return resp
}

// errorCodes extracts the Graph error code from a JSON error response.
func errorCodes(resp *response) (code, subcode int, ok bool) {
	if resp == nil || resp.status < 400 || len(resp.body) == 0 || resp.body[0] != '{' {
		return 0, 0, false
	}
	var v struct {
		Error *struct {
			Code    int `json:"code"`
			Subcode int `json:"error_subcode"`
		} `json:"error"`
	}
	if json.Unmarshal(resp.body, &v) != nil || v.Error == nil {
		return 0, 0, false
	}
	return v.Error.Code, v.Error.Subcode, true
}
