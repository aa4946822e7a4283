package graph_test

// Conformance tests: the graph client against the graphtest emulator, over
// real HTTP on loopback. Each test starts its own emulator; every test ends
// by asserting that the client used no route the emulator does not
// implement, and that no token or app secret reached an error or a log line.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"watchshare/graph"
	"watchshare/graph/graphtest"
)

const (
	confAppID  = "987654321098765"
	confSecret = "conformance-app-secret-5f0c2a"
	confRedir  = "https://watchshare.example/auth/facebook/callback"
)

// confNow is where the shared clock of the emulator and the client starts, so
// expiries and publish times can be compared exactly.
var confNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// confEnv is one emulator plus a Client pointing at it.
type confEnv struct {
	emu    *graphtest.Server
	client *graph.Client
	hc     *http.Client
	logs   *confLogBuffer
	clock  *graphtest.Clock // the shared clock of emulator and client

	mu      sync.Mutex
	secrets []string // tokens issued in this test, and the app secret
}

type confLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *confLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *confLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newConfEnv starts an emulator (configured by the optional functions before
// Start) and returns a Client for it. At cleanup it checks that no call hit
// an unimplemented route and that the client's debug log holds no secret.
func newConfEnv(t *testing.T, configure ...func(*graphtest.Server)) *confEnv {
	t.Helper()
	e := &confEnv{logs: &confLogBuffer{}, secrets: []string{confSecret}, clock: graphtest.NewClock(confNow)}
	emu := &graphtest.Server{
		AppID:     confAppID,
		AppSecret: confSecret,
		AppName:   "watchshare-conformance",
		Now:       e.clock.Now,
		Logf:      t.Logf,
	}
	for _, f := range configure {
		f(emu)
	}
	emu.Start()
	t.Cleanup(emu.Close)
	e.emu = emu
	e.hc = &http.Client{Transport: emu.Client().Transport, Timeout: 10 * time.Second}
	e.client = e.newClient(confSecret)
	t.Cleanup(func() {
		if u := emu.UnhandledCalls(); len(u) > 0 {
			t.Errorf("emulator saw %d call(s) to unimplemented routes: %+v", len(u), u)
		}
		logs := e.logs.String()
		for i, s := range e.tracked() {
			if strings.Contains(logs, s) {
				t.Errorf("client debug log contains secret #%d", i)
			}
		}
	})
	return e
}

// newClient returns a Client for the emulator with the given app secret.
func (e *confEnv) newClient(secret string) *graph.Client {
	return &graph.Client{
		AppID:      confAppID,
		AppSecret:  secret,
		BaseURL:    e.emu.GraphURL(),
		HTTPClient: e.hc,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        e.clock.Now,
	}
}

func (e *confEnv) track(secrets ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, secrets...)
}

func (e *confEnv) tracked() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.secrets)
}

// user adds a user who authorized the app with scopes and returns it with a
// session for its (long-lived) token.
func (e *confEnv) user(t *testing.T, name string, scopes ...string) (graphtest.User, *graph.Session, string) {
	t.Helper()
	u := e.emu.AddUser(graphtest.User{Name: name})
	tok := e.emu.AuthorizeApp(u.ID, scopes...)
	e.track(tok)
	return u, e.client.Session(tok), tok
}

// dialogLogin drives the OAuth dialog for userID requesting scopes and
// ticking only grant (all of them when grant is empty), then redeems the
// code the way a web server would (plain net/http: the graph package has no
// code grant). It returns the short-lived token and its expires_in.
func (e *confEnv) dialogLogin(t *testing.T, userID string, scopes []string, grant ...string) (string, int) {
	t.Helper()
	q := url.Values{
		"client_id":     {confAppID},
		"redirect_uri":  {confRedir},
		"scope":         {strings.Join(scopes, ",")},
		"response_type": {"code"},
		"state":         {"conformance-state"},
	}
	loc, err := e.emu.Approve(e.emu.DialogURL()+"?"+q.Encode(), userID, grant...)
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if got := loc.Query().Get("state"); got != "conformance-state" {
		t.Fatalf("dialog state = %q, want %q", got, "conformance-state")
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("dialog redirect has no code: %s", loc.Redacted())
	}
	resp, err := e.hc.PostForm(e.emu.TokenURL(), url.Values{
		"client_id":     {confAppID},
		"client_secret": {confSecret},
		"redirect_uri":  {confRedir},
		"code":          {code},
	})
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("code exchange: HTTP %d, decode error %v", resp.StatusCode, err)
	}
	e.track(body.AccessToken)
	return body.AccessToken, body.ExpiresIn
}

// noLeak fails the test if err's text (or an APIError body, or a
// TransportError URL) contains a token issued in this test or the app secret.
func (e *confEnv) noLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)}
	if apiErr, ok := errors.AsType[*graph.APIError](err); ok {
		texts = append(texts, string(apiErr.Body), apiErr.Message, apiErr.UserTitle, apiErr.UserMessage)
	}
	if te, ok := errors.AsType[*graph.TransportError](err); ok {
		texts = append(texts, te.URL)
	}
	for i, s := range e.tracked() {
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				t.Errorf("error leaks secret #%d (0 is the app secret): %T", i, err)
			}
		}
	}
}

// apiError returns err's *APIError or fails the test.
func apiError(t *testing.T, err error) *graph.APIError {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an *APIError")
	}
	apiErr, ok := errors.AsType[*graph.APIError](err)
	if !ok {
		t.Fatalf("err = %T %v, want an *APIError", err, err)
	}
	return apiErr
}

// transportError returns err's *TransportError or fails the test.
func transportError(t *testing.T, err error) *graph.TransportError {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want a *TransportError")
	}
	te, ok := errors.AsType[*graph.TransportError](err)
	if !ok {
		t.Fatalf("err = %T %v, want a *TransportError", err, err)
	}
	return te
}

// lastCall returns the emulator's last logged call of route.
func lastCall(t *testing.T, emu *graphtest.Server, route string) graphtest.Call {
	t.Helper()
	calls := emu.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Route == route {
			return calls[i]
		}
	}
	t.Fatalf("emulator logged no call of %q", route)
	return graphtest.Call{}
}

// sameWatch compares two actions, times with Equal.
func sameWatch(a, b graph.WatchAction) bool {
	if !a.PublishTime.Equal(b.PublishTime) || !a.StartTime.Equal(b.StartTime) || !a.EndTime.Equal(b.EndTime) {
		return false
	}
	a.PublishTime, a.StartTime, a.EndTime = time.Time{}, time.Time{}, time.Time{}
	b.PublishTime, b.StartTime, b.EndTime = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// checkClass asserts the class of err and that every Is* helper agrees.
func checkClass(t *testing.T, err error, want graph.Class) {
	t.Helper()
	if got := graph.ClassOf(err); got != want {
		t.Errorf("ClassOf = %v, want %v (err %v)", got, want, err)
	}
	helpers := []struct {
		name  string
		is    func(error) bool
		class graph.Class
	}{
		{"IsTokenInvalid", graph.IsTokenInvalid, graph.ClassTokenInvalid},
		{"IsPermission", graph.IsPermission, graph.ClassPermission},
		{"IsRateLimited", graph.IsRateLimited, graph.ClassRateLimited},
		{"IsTransient", graph.IsTransient, graph.ClassTransient},
		{"IsDuplicate", graph.IsDuplicate, graph.ClassDuplicate},
	}
	for _, h := range helpers {
		if got := h.is(err); got != (h.class == want) {
			t.Errorf("%s = %v, want %v", h.name, got, h.class == want)
		}
	}
}

func TestConformanceAppsecretProof(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	alice, _, tok := e.user(t, "Alice Smith", "user_friends")

	if got, want := graph.AppsecretProof(confSecret, tok), graphtest.Proof(confSecret, tok); got != want {
		t.Fatalf("AppsecretProof = %q, emulator's Proof = %q", got, want)
	}

	tests := []struct {
		name     string
		secret   string
		wantCode int // 0: success
	}{
		{"right secret", confSecret, 0},
		{"wrong secret", "not-the-app-secret", 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient(tc.secret)
			me, err := c.Session(tok).Me(t.Context())
			e.noLeak(t, err)
			call := lastCall(t, e.emu, "GET /me")
			if call.TokenKind != graphtest.TokenUser || call.UserID != alice.ID {
				t.Errorf("emulator saw token kind %v user %q, want user %q", call.TokenKind, call.UserID, alice.ID)
			}
			if _, ok := call.Params["appsecret_proof"]; !ok {
				t.Errorf("request carried no appsecret_proof (params %v)", call.Params)
			}
			if _, ok := call.Params["access_token"]; ok {
				t.Errorf("token was sent as a URL/form parameter, want the Authorization header only")
			}
			if got := call.Params.Get("format"); got != "json" {
				t.Errorf("format = %q, want json", got)
			}
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("Me: %v", err)
				}
				if me.ID != alice.ID {
					t.Errorf("Me().ID = %q, want %q", me.ID, alice.ID)
				}
				if call.Status != http.StatusOK {
					t.Errorf("emulator status = %d, want 200", call.Status)
				}
				return
			}
			apiErr := apiError(t, err)
			if apiErr.Code != tc.wantCode {
				t.Errorf("Code = %d, want %d", apiErr.Code, tc.wantCode)
			}
			if apiErr.StatusCode != http.StatusBadRequest {
				t.Errorf("StatusCode = %d, want 400", apiErr.StatusCode)
			}
			if apiErr.Type != "GraphMethodException" {
				t.Errorf("Type = %q, want GraphMethodException", apiErr.Type)
			}
			if !strings.Contains(apiErr.Message, "appsecret_proof") {
				t.Errorf("Message = %q, want it to mention appsecret_proof", apiErr.Message)
			}
			checkClass(t, err, graph.ClassOther)
			if call.Code != tc.wantCode {
				t.Errorf("emulator logged code %d, want %d", call.Code, tc.wantCode)
			}
		})
	}
}

func TestConformanceOAuth(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	alice := e.emu.AddUser(graphtest.User{Name: "Alice Smith"})

	t.Run("ExchangeToken short to long-lived", func(t *testing.T) {
		short, expiresIn := e.dialogLogin(t, alice.ID, []string{"user_friends", "publish_actions"})
		if want := int(graphtest.DefaultShortTokenTTL / time.Second); expiresIn != want {
			t.Fatalf("code grant expires_in = %d, want %d", expiresIn, want)
		}
		long, err := e.client.ExchangeToken(ctx, short)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("ExchangeToken: %v", err)
		}
		e.track(long.AccessToken)
		if long.AccessToken == "" || long.AccessToken == short {
			t.Fatalf("ExchangeToken returned no new token")
		}
		if want := confNow.Add(graphtest.DefaultLongTokenTTL); !long.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", long.ExpiresAt, want)
		}
		if d := long.ExpiresAt.Sub(confNow); d < 59*24*time.Hour || d > 61*24*time.Hour {
			t.Errorf("long-lived token lasts %v, want about 60 days", d)
		}
		if long.Expired(confNow) {
			t.Errorf("Expired(now) = true for a fresh token")
		}
		info, ok := e.emu.TokenInfo(long.AccessToken)
		if !ok || !info.LongLived || info.UserID != alice.ID {
			t.Errorf("emulator TokenInfo = %+v, %v; want a long-lived token of %s", info, ok, alice.ID)
		}
		me, err := e.client.Session(long.AccessToken).Me(ctx)
		if err != nil {
			t.Fatalf("Me with exchanged token: %v", err)
		}
		if me.ID != alice.ID {
			t.Errorf("Me().ID = %q, want %q", me.ID, alice.ID)
		}
		if got := lastCall(t, e.emu, "GET /oauth/access_token").Params.Get("grant_type"); got != "fb_exchange_token" {
			t.Errorf("grant_type = %q, want fb_exchange_token", got)
		}
	})

	t.Run("ExchangeToken of unknown token", func(t *testing.T) {
		bogus := "EAABconformanceNotIssuedByTheEmulator0123456789"
		e.track(bogus)
		_, err := e.client.ExchangeToken(ctx, bogus)
		e.noLeak(t, err)
		apiErr := apiError(t, err)
		if apiErr.Code != 190 {
			t.Errorf("Code = %d, want 190", apiErr.Code)
		}
		checkClass(t, err, graph.ClassTokenInvalid)
	})

	t.Run("AppAccessToken client_credentials", func(t *testing.T) {
		tok, err := e.client.AppAccessToken(ctx)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("AppAccessToken: %v", err)
		}
		e.track(tok.AccessToken)
		if !strings.HasPrefix(tok.AccessToken, confAppID+"|") {
			t.Errorf("app token does not start with %q", confAppID+"|")
		}
		if !tok.ExpiresAt.IsZero() {
			t.Errorf("app token ExpiresAt = %v, want zero (never)", tok.ExpiresAt)
		}
		if got := lastCall(t, e.emu, "GET /oauth/access_token").Params.Get("grant_type"); got != "client_credentials" {
			t.Errorf("grant_type = %q, want client_credentials", got)
		}
		info, err := e.client.DebugToken(ctx, tok.AccessToken)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("DebugToken(app token): %v", err)
		}
		if !info.IsValid || info.Type != "APP" || info.AppID != confAppID {
			t.Errorf("DebugToken(app token) = valid %v type %q app %q, want valid APP %s", info.IsValid, info.Type, info.AppID, confAppID)
		}
		// The minted app token works on the Graph API.
		e.emu.AuthorizeApp(alice.ID, "user_friends")
		var perms struct {
			Data []graphtest.Permission `json:"data"`
		}
		if _, err := e.client.Session(tok.AccessToken).Get(ctx, "/"+alice.ID+"/permissions", nil, &perms); err != nil {
			t.Fatalf("GET /{user}/permissions with app token: %v", err)
		}
		if len(perms.Data) == 0 {
			t.Errorf("permissions read with app token are empty")
		}
	})

	// Facebook answers a wrong client_secret with code 1, which elsewhere
	// means "retry": at the token endpoint it must not be transient, or the
	// caller retries a misconfiguration forever.
	t.Run("wrong client secret is not transient", func(t *testing.T) {
		const wrong = "not-the-conformance-app-secret"
		e.track(wrong)
		c := e.newClient(wrong)
		short, _ := e.dialogLogin(t, alice.ID, []string{"user_friends"})
		calls := []struct {
			name string
			do   func() error
		}{
			{"ExchangeToken", func() error { _, err := c.ExchangeToken(ctx, short); return err }},
			{"AppAccessToken", func() error { _, err := c.AppAccessToken(ctx); return err }},
		}
		for _, call := range calls {
			err := call.do()
			e.noLeak(t, err)
			apiErr := apiError(t, err)
			if apiErr.Code != 1 || apiErr.StatusCode != http.StatusBadRequest || apiErr.Message != "Error validating client secret." {
				t.Errorf("%s: err = code %d status %d %q, want 1/400 %q", call.name, apiErr.Code, apiErr.StatusCode, apiErr.Message, "Error validating client secret.")
			}
			checkClass(t, err, graph.ClassOther)
			if got := lastCall(t, e.emu, "GET /oauth/access_token"); got.Code != 1 || got.Injected {
				t.Errorf("%s: emulator logged %+v, want its own code 1 answer", call.name, got)
			}
		}
	})

	t.Run("other code 1 at the token endpoint stays transient", func(t *testing.T) {
		e.emu.FailNext("GET /oauth/access_token", 1, graphtest.Fault{Code: 1})
		_, err := e.client.AppAccessToken(ctx)
		e.noLeak(t, err)
		if apiErr := apiError(t, err); apiErr.Code != 1 || apiErr.StatusCode != http.StatusInternalServerError {
			t.Errorf("err = code %d status %d, want 1/500", apiErr.Code, apiErr.StatusCode)
		}
		checkClass(t, err, graph.ClassTransient)
	})

	t.Run("ExchangeToken pre-v2.3 form-encoded answer", func(t *testing.T) {
		short, _ := e.dialogLogin(t, alice.ID, []string{"user_friends"})
		old := e.newClient(confSecret)
		old.BaseURL = e.emu.URL + "/v2.2"
		long, err := old.ExchangeToken(ctx, short)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("ExchangeToken at v2.2: %v", err)
		}
		e.track(long.AccessToken)
		if want := confNow.Add(graphtest.DefaultLongTokenTTL); !long.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", long.ExpiresAt, want)
		}
		if _, err := e.client.Session(long.AccessToken).Me(ctx); err != nil {
			t.Fatalf("Me with the v2.2 token: %v", err)
		}
	})

	t.Run("DebugToken valid", func(t *testing.T) {
		bob := e.emu.AddUser(graphtest.User{Name: "Bob Jones"})
		tok := e.emu.AuthorizeApp(bob.ID, "user_friends", "publish_actions")
		e.track(tok)
		info, err := e.client.DebugToken(ctx, tok)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("DebugToken: %v", err)
		}
		if !info.IsValid || info.Error != nil {
			t.Fatalf("DebugToken = valid %v error %+v, want valid", info.IsValid, info.Error)
		}
		if info.Type != "USER" || info.AppID != confAppID || info.UserID != bob.ID {
			t.Errorf("DebugToken = type %q app %q user %q, want USER %s %s", info.Type, info.AppID, info.UserID, confAppID, bob.ID)
		}
		if !info.IssuedAt.Equal(confNow) {
			t.Errorf("IssuedAt = %v, want %v", info.IssuedAt, confNow)
		}
		if want := confNow.Add(graphtest.DefaultLongTokenTTL); !info.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", info.ExpiresAt, want)
		}
		if want := confNow.Add(graphtest.DataAccessTTL); !info.DataAccessExpiresAt.Equal(want) {
			t.Errorf("DataAccessExpiresAt = %v, want %v", info.DataAccessExpiresAt, want)
		}
		if want := []string{"public_profile", "user_friends", "publish_actions"}; !slices.Equal(info.Scopes, want) {
			t.Errorf("Scopes = %v, want %v", info.Scopes, want)
		}
	})

	for _, sub := range []int{460, 463, 467, 458} {
		t.Run(fmt.Sprintf("DebugToken after InvalidateTokens %d", sub), func(t *testing.T) {
			u := e.emu.AddUser(graphtest.User{Name: "Carol White"})
			tok := e.emu.AuthorizeApp(u.ID, "user_friends")
			e.track(tok)
			e.emu.InvalidateTokens(u.ID, sub)
			info, err := e.client.DebugToken(ctx, tok)
			e.noLeak(t, err)
			if err != nil {
				t.Fatalf("DebugToken: %v (an invalid token is not an error)", err)
			}
			if info.IsValid {
				t.Fatalf("IsValid = true after InvalidateTokens")
			}
			if info.Error == nil {
				t.Fatalf("Error = nil, want code 190")
			}
			if info.Error.Code != 190 || info.Error.Subcode != sub {
				t.Errorf("Error = code %d subcode %d, want 190/%d", info.Error.Code, info.Error.Subcode, sub)
			}
			for i, s := range e.tracked() {
				if strings.Contains(info.Error.Message, s) {
					t.Errorf("TokenError.Message leaks secret #%d", i)
				}
			}
			_, err = e.client.Session(tok).Me(ctx)
			e.noLeak(t, err)
			if apiErr := apiError(t, err); apiErr.Code != 190 || apiErr.Subcode != sub {
				t.Errorf("Me: code %d subcode %d, want 190/%d", apiErr.Code, apiErr.Subcode, sub)
			}
			checkClass(t, err, graph.ClassTokenInvalid)
		})
	}
}

// TestConformanceExpiry moves the shared clock: the client's notion of
// expiry (Token.Expired) and the emulator's (190/463) must agree.
func TestConformanceExpiry(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	u := e.emu.AddUser(graphtest.User{Name: "Frank Castle"})
	short, expiresIn := e.dialogLogin(t, u.ID, []string{"user_friends"})
	shortTok := graph.Token{AccessToken: short, ExpiresAt: e.clock.Now().Add(time.Duration(expiresIn) * time.Second)}
	long, err := e.client.ExchangeToken(ctx, short)
	if err != nil {
		t.Fatalf("ExchangeToken: %v", err)
	}
	e.track(long.AccessToken)

	steps := []struct {
		name      string
		advance   time.Duration
		shortLive bool
		longLive  bool
	}{
		{"fresh", 0, true, true},
		{"just before 2h", graphtest.DefaultShortTokenTTL - time.Second, true, true},
		{"at 2h", time.Second, false, true},
		{"just before 60 days", graphtest.DefaultLongTokenTTL - graphtest.DefaultShortTokenTTL - time.Second, false, true},
		{"at 60 days", time.Second, false, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.clock.Advance(st.advance)
			now := e.clock.Now()
			for _, tc := range []struct {
				name string
				tok  graph.Token
				live bool
			}{{"short", shortTok, st.shortLive}, {"long", long, st.longLive}} {
				if got := tc.tok.Expired(now); got != !tc.live {
					t.Errorf("%s: Token.Expired = %v, want %v", tc.name, got, !tc.live)
				}
				_, err := e.client.Session(tc.tok.AccessToken).Me(ctx)
				e.noLeak(t, err)
				if tc.live {
					if err != nil {
						t.Errorf("%s: Me: %v, want success", tc.name, err)
					}
					continue
				}
				if !errors.Is(err, &graph.APIError{Code: 190, Subcode: 463}) {
					t.Errorf("%s: Me err = %v, want 190/463", tc.name, err)
				}
				checkClass(t, err, graph.ClassTokenInvalid)
				info, err := e.client.DebugToken(ctx, tc.tok.AccessToken)
				if err != nil || info.IsValid || info.Error == nil || info.Error.Subcode != 463 {
					t.Errorf("%s: DebugToken = %+v, %v; want invalid with subcode 463", tc.name, info, err)
				}
				_, err = e.client.ExchangeToken(ctx, tc.tok.AccessToken)
				e.noLeak(t, err)
				if !errors.Is(err, &graph.APIError{Code: 190, Subcode: 463}) {
					t.Errorf("%s: ExchangeToken of an expired token err = %v, want 190/463", tc.name, err)
				}
			}
		})
	}
}

func TestConformanceProfile(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()

	t.Run("Me", func(t *testing.T) {
		u, s, _ := e.user(t, "Zoë O'Brien-Ångström", "user_friends")
		me, err := s.Me(ctx)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("Me: %v", err)
		}
		if me != (graph.User{ID: u.ID, Name: u.Name}) {
			t.Errorf("Me = %+v, want %+v", me, u)
		}
	})

	granted, declined := graph.StatusGranted, graph.StatusDeclined
	tests := []struct {
		name  string
		login func(t *testing.T, userID string) string
		want  []graph.Permission
	}{
		{
			name: "AuthorizeApp with a subset of scopes",
			login: func(t *testing.T, userID string) string {
				tok := e.emu.AuthorizeApp(userID, "user_friends")
				e.track(tok)
				return tok
			},
			want: []graph.Permission{{Name: "public_profile", Status: granted}, {Name: "user_friends", Status: granted}},
		},
		{
			name: "dialog with publish_actions and email declined",
			login: func(t *testing.T, userID string) string {
				tok, _ := e.dialogLogin(t, userID, []string{"user_friends", "publish_actions", "email"}, "user_friends")
				return tok
			},
			want: []graph.Permission{
				{Name: "public_profile", Status: granted}, {Name: "user_friends", Status: granted},
				{Name: "publish_actions", Status: declined}, {Name: "email", Status: declined},
			},
		},
	}
	for _, tc := range tests {
		t.Run("Permissions/"+tc.name, func(t *testing.T) {
			u := e.emu.AddUser(graphtest.User{Name: "Dana Scully"})
			s := e.client.Session(tc.login(t, u.ID))
			perms, err := s.Permissions(ctx)
			e.noLeak(t, err)
			if err != nil {
				t.Fatalf("Permissions: %v", err)
			}
			if !slices.Equal(perms, tc.want) {
				t.Errorf("Permissions = %v, want %v", perms, tc.want)
			}
			var emu []graph.Permission
			for _, p := range e.emu.Permissions(u.ID) {
				emu = append(emu, graph.Permission{Name: p.Permission, Status: p.Status})
			}
			if !slices.Equal(perms, emu) {
				t.Errorf("Permissions = %v, emulator state %v", perms, emu)
			}
			if !graph.Granted(perms, "user_friends") {
				t.Errorf("Granted(user_friends) = false, want true")
			}
			if graph.Granted(perms, "publish_actions") {
				t.Errorf("Granted(publish_actions) = true, want false")
			}
		})
	}
}

func TestConformanceFriends(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	alice, s, _ := e.user(t, "Alice Smith", "user_friends")

	// 230 friends in friendship order: every 20th never used the app, the
	// 20th+10 authorized it without user_friends; both are invisible.
	var want []graph.Friend
	for i := range 230 {
		var u []graphtest.User
		switch i % 20 {
		case 3:
			u = e.emu.GenerateFriends(alice.ID, 1)
		case 13:
			u = e.emu.GenerateFriends(alice.ID, 1, "public_profile")
		default:
			u = e.emu.GenerateFriends(alice.ID, 1, "public_profile", "user_friends")
			want = append(want, graph.Friend{ID: u[0].ID, Name: u[0].Name})
		}
	}
	// An app user who is not a friend must not show up.
	stranger := e.emu.AddUser(graphtest.User{Name: "Stranger Danger"})
	e.track(e.emu.AuthorizeApp(stranger.ID, "user_friends"))
	if len(want) <= 200 {
		t.Fatalf("fixture has %d app-using friends, want more than 200 (3 pages of 100)", len(want))
	}

	t.Run("complete, in order, no duplicates", func(t *testing.T) {
		before := e.emu.CallCount("GET", "/me/friends")
		friends, total, err := s.Friends(ctx, 10)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("Friends: %v", err)
		}
		if total != 230 {
			t.Errorf("totalCount = %d, want 230", total)
		}
		if len(friends) != len(want) {
			t.Errorf("len(friends) = %d, want %d", len(friends), len(want))
		}
		seen := map[string]bool{}
		for i, f := range friends {
			if seen[f.ID] {
				t.Errorf("friend %s listed twice", f.ID)
			}
			seen[f.ID] = true
			if i < len(want) && f != want[i] {
				t.Errorf("friends[%d] = %+v, want %+v", i, f, want[i])
			}
		}
		if got := e.emu.CallCount("GET", "/me/friends") - before; got != 3 {
			t.Errorf("emulator saw %d GET /me/friends, want 3 pages", got)
		}
		for _, c := range e.emu.Calls() {
			if c.Route == "GET /me/friends" && c.Status != http.StatusOK {
				t.Errorf("page call answered %d", c.Status)
			}
		}
	})

	t.Run("page bound", func(t *testing.T) {
		_, _, err := s.Friends(ctx, 2)
		e.noLeak(t, err)
		if !errors.Is(err, graph.ErrTooManyPages) {
			t.Fatalf("Friends(maxPages 2) err = %v, want ErrTooManyPages", err)
		}
	})

	t.Run("fault on page 3 fails the call", func(t *testing.T) {
		before := e.emu.CallCount("GET", "/me/friends")
		e.emu.FailPage("GET /me/friends", 3, graphtest.Fault{Code: 2})
		_, _, err := s.Friends(ctx, 10)
		e.noLeak(t, err)
		apiErr := apiError(t, err)
		if apiErr.Code != 2 || apiErr.StatusCode != http.StatusInternalServerError {
			t.Errorf("err = code %d status %d, want 2/500", apiErr.Code, apiErr.StatusCode)
		}
		checkClass(t, err, graph.ClassTransient)
		if got := e.emu.CallCount("GET", "/me/friends") - before; got != 3 {
			t.Errorf("emulator saw %d GET /me/friends, want 3", got)
		}
	})

	t.Run("fault on page 3 yields no partial list", func(t *testing.T) {
		e.emu.FailPage("GET /me/friends", 3, graphtest.Fault{Code: 2})
		friends, total, err := s.Friends(ctx, 10)
		if err == nil {
			t.Fatal("Friends: err = nil, want the page-3 error")
		}
		if len(friends) != 0 || total != 0 {
			t.Errorf("Friends returned %d friends (total %d) with the error, want none", len(friends), total)
		}
	})
}

func TestConformanceWatches(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	alice, as, _ := e.user(t, "Alice Smith", "user_friends", "publish_actions")
	_, bs, _ := e.user(t, "Bob Jones", "user_friends", "publish_actions")
	carol, cs, _ := e.user(t, "Carol White", "user_friends")

	props := []struct{ prop, ogType string }{
		{graph.PropertyMovie, "video.movie"},
		{graph.PropertyEpisode, "video.episode"},
		{graph.PropertyTVShow, "video.tv_show"},
		{graph.PropertyVideo, "video.other"},
	}
	for _, p := range props {
		t.Run("round trip "+p.prop, func(t *testing.T) {
			objURL := "https://watchshare.example/titles/" + p.prop + "/42?lang=en"
			opts := graph.WatchOptions{
				StartTime:        confNow.Add(-2 * time.Hour),
				EndTime:          confNow.Add(-10 * time.Minute),
				ExplicitlyShared: true,
				NoFeedStory:      true,
			}
			id, res, err := as.PublishWatch(ctx, p.prop, objURL, opts)
			e.noLeak(t, err)
			if err != nil {
				t.Fatalf("PublishWatch: %v", err)
			}
			if res == nil || res.StatusCode != http.StatusOK {
				t.Fatalf("PublishWatch result = %+v, want HTTP 200", res)
			}
			stored, ok := e.emu.Action(id)
			if !ok {
				t.Fatalf("emulator has no action %s", id)
			}
			if stored.UserID != alice.ID || stored.Property != p.prop || stored.ObjectURL != objURL ||
				!stored.StartTime.Equal(opts.StartTime) || !stored.EndTime.Equal(opts.EndTime) ||
				!stored.ExplicitlyShared || !stored.NoFeedStory {
				t.Errorf("stored action = %+v, want what was published", stored)
			}

			watches, err := as.Watches(ctx, 10)
			e.noLeak(t, err)
			if err != nil {
				t.Fatalf("Watches: %v", err)
			}
			if len(watches) == 0 || watches[0].ID != id {
				t.Fatalf("Watches = %+v, want %s first", watches, id)
			}
			w := watches[0]
			want := graph.WatchAction{
				ID:          id,
				PublishTime: confNow,
				StartTime:   opts.StartTime,
				EndTime:     opts.EndTime,
				Property:    p.prop,
				ObjectID:    stored.ObjectID,
				ObjectURL:   objURL,
				ObjectType:  p.ogType,
				ObjectTitle: stored.Title,
				NoFeedStory: true,
			}
			if !sameWatch(w, want) {
				t.Errorf("Watches[0] = %+v\nwant         %+v", w, want)
			}

			if err := as.DeleteObject(ctx, id); err != nil {
				e.noLeak(t, err)
				t.Fatalf("DeleteObject: %v", err)
			}
			if _, ok := e.emu.Action(id); ok {
				t.Errorf("action %s still live at the emulator after DeleteObject", id)
			}
			watches, err = as.Watches(ctx, 10)
			if err != nil {
				t.Fatalf("Watches after delete: %v", err)
			}
			for _, w := range watches {
				if w.ID == id {
					t.Errorf("Watches still lists deleted action %s", id)
				}
			}
		})
	}

	t.Run("list across pages newest first", func(t *testing.T) {
		var ids []string
		for i := range 30 {
			id, _, err := as.PublishWatch(ctx, graph.PropertyEpisode, fmt.Sprintf("https://watchshare.example/ep/%d", i), graph.WatchOptions{})
			if err != nil {
				e.noLeak(t, err)
				t.Fatalf("PublishWatch %d: %v", i, err)
			}
			ids = append(ids, id)
		}
		slices.Reverse(ids)
		watches, err := as.Watches(ctx, 10)
		e.noLeak(t, err)
		if err != nil {
			t.Fatalf("Watches: %v", err)
		}
		var got []string
		for _, w := range watches {
			got = append(got, w.ID)
		}
		if !slices.Equal(got, ids) {
			t.Errorf("Watches ids = %v\nwant %v", got, ids)
		}
		for _, id := range ids {
			if err := as.DeleteObject(ctx, id); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
		}
	})

	t.Run("publish without publish_actions", func(t *testing.T) {
		_, _, err := cs.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/1", graph.WatchOptions{})
		e.noLeak(t, err)
		apiErr := apiError(t, err)
		if apiErr.Code != 200 || apiErr.StatusCode != http.StatusForbidden {
			t.Errorf("err = code %d status %d, want 200/403", apiErr.Code, apiErr.StatusCode)
		}
		checkClass(t, err, graph.ClassPermission)
		if n := len(e.emu.Actions(carol.ID)); n != 0 {
			t.Errorf("emulator stored %d actions for a user without publish_actions", n)
		}
	})

	t.Run("publish after publish_actions was removed", func(t *testing.T) {
		e.emu.SetPublishActionsRemoved(true)
		defer e.emu.SetPublishActionsRemoved(false)
		_, _, err := as.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/2", graph.WatchOptions{})
		e.noLeak(t, err)
		checkClass(t, err, graph.ClassPermission)
	})

	t.Run("DeleteObject of another user's action", func(t *testing.T) {
		id, _, err := as.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/3", graph.WatchOptions{})
		if err != nil {
			t.Fatalf("PublishWatch: %v", err)
		}
		err = bs.DeleteObject(ctx, id)
		e.noLeak(t, err)
		apiErr := apiError(t, err)
		if apiErr.Code != 100 {
			t.Errorf("Code = %d, want 100 (object not visible)", apiErr.Code)
		}
		checkClass(t, err, graph.ClassOther)
		if _, ok := e.emu.Action(id); !ok {
			t.Errorf("alice's action %s was deleted by bob", id)
		}
		if err := as.DeleteObject(ctx, id); err != nil {
			t.Fatalf("owner DeleteObject: %v", err)
		}
	})
}

func TestConformanceTokenInvalid(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()

	tests := []struct {
		name       string
		invalidate func(t *testing.T, userID string, s *graph.Session)
		wantSub    int
	}{
		{"RevokeApp", func(t *testing.T, userID string, s *graph.Session) {
			if err := s.RevokeApp(ctx); err != nil {
				e.noLeak(t, err)
				t.Fatalf("RevokeApp: %v", err)
			}
			if e.emu.Authorized(userID) {
				t.Errorf("emulator still has the app authorized after RevokeApp")
			}
		}, 458},
		{"InvalidateTokens 463", func(t *testing.T, userID string, _ *graph.Session) { e.emu.InvalidateTokens(userID, 463) }, 463},
		{"InvalidateTokens 460", func(t *testing.T, userID string, _ *graph.Session) { e.emu.InvalidateTokens(userID, 460) }, 460},
		{"RemoveApp", func(t *testing.T, userID string, _ *graph.Session) {
			if err := e.emu.RemoveApp(ctx, userID); err != nil {
				t.Fatalf("RemoveApp: %v", err)
			}
		}, 458},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, s, _ := e.user(t, "Erin Hart", "user_friends", "publish_actions")
			id, _, err := s.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/1", graph.WatchOptions{})
			if err != nil {
				t.Fatalf("PublishWatch: %v", err)
			}
			tc.invalidate(t, u.ID, s)

			calls := []struct {
				name string
				do   func() error
			}{
				{"Me", func() error { _, err := s.Me(ctx); return err }},
				{"Permissions", func() error { _, err := s.Permissions(ctx); return err }},
				{"Friends", func() error { _, _, err := s.Friends(ctx, 10); return err }},
				{"Watches", func() error { _, err := s.Watches(ctx, 10); return err }},
				{"PublishWatch", func() error {
					_, _, err := s.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/2", graph.WatchOptions{})
					return err
				}},
				{"DeleteObject", func() error { return s.DeleteObject(ctx, id) }},
				{"Batch", func() error { _, err := s.Batch(ctx, []graph.BatchRequest{{RelativeURL: "me"}}); return err }},
			}
			for _, c := range calls {
				err := c.do()
				e.noLeak(t, err)
				if err == nil {
					t.Errorf("%s: err = nil, want 190/%d", c.name, tc.wantSub)
					continue
				}
				if !graph.IsTokenInvalid(err) {
					t.Errorf("%s: IsTokenInvalid = false for %v", c.name, err)
				}
				if !errors.Is(err, &graph.APIError{Code: 190, Subcode: tc.wantSub}) {
					t.Errorf("%s: err = %v, want 190/%d", c.name, err, tc.wantSub)
				}
			}
			if n := len(e.emu.Actions(u.ID)); n != 1 {
				t.Errorf("emulator has %d actions, want the 1 published before", n)
			}
		})
	}
}

func TestConformanceFaults(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	u, s, _ := e.user(t, "Alice Smith", "user_friends", "publish_actions")

	const (
		getMe   = "GET /me"
		publish = "POST /me/video.watches"
	)
	tests := []struct {
		name       string
		route      string
		fault      graphtest.Fault
		wantCode   int
		wantSub    int
		wantStatus int
		wantClass  graph.Class
		wantScope  graph.RateLimitScope
	}{
		{"4 app rate limit", getMe, graphtest.Fault{Code: 4}, 4, 0, 400, graph.ClassRateLimited, graph.ScopeApp},
		{"17 user rate limit", getMe, graphtest.Fault{Code: 17}, 17, 0, 400, graph.ClassRateLimited, graph.ScopeUser},
		{"32 page rate limit", getMe, graphtest.Fault{Code: 32}, 32, 0, 400, graph.ClassRateLimited, graph.ScopePage},
		{"341 feed action limit", publish, graphtest.Fault{Code: 341}, 341, 0, 400, graph.ClassRateLimited, graph.ScopeApp},
		{"613 endpoint rate limit", getMe, graphtest.Fault{Code: 613}, 613, 0, 400, graph.ClassRateLimited, graph.ScopeEndpoint},
		{"80001 business use case", getMe, graphtest.Fault{Code: 80001}, 80001, 0, 400, graph.ClassRateLimited, graph.ScopeBusinessUseCase},
		{"2 temporary", getMe, graphtest.Fault{Code: 2}, 2, 0, 500, graph.ClassTransient, graph.ScopeNone},
		{"1 unknown", getMe, graphtest.Fault{Code: 1}, 1, 0, 500, graph.ClassTransient, graph.ScopeNone},
		{"bare HTML 500", getMe, graphtest.Fault{Status: 500, Body: graphtest.HTMLErrorPage}, graph.CodeUnknown, 0, 500, graph.ClassTransient, graph.ScopeNone},
		{"bare HTML 502 on publish", publish, graphtest.Fault{Status: 502, Body: graphtest.HTMLErrorPage}, graph.CodeUnknown, 0, 502, graph.ClassTransient, graph.ScopeNone},
		{"506 duplicate", publish, graphtest.Fault{Code: 506}, 506, 0, 400, graph.ClassDuplicate, graph.ScopeNone},
		{"368 blocked", publish, graphtest.Fault{Code: 368}, 368, 0, 400, graph.ClassOther, graph.ScopeNone},
		{"100 invalid parameter", getMe, graphtest.Fault{Code: 100}, 100, 0, 400, graph.ClassOther, graph.ScopeNone},
		{"200 permission", publish, graphtest.Fault{Code: 200}, 200, 0, 403, graph.ClassPermission, graph.ScopeNone},
		{"190/460 injected", getMe, graphtest.Fault{Code: 190, Subcode: 460}, 190, 460, 400, graph.ClassTokenInvalid, graph.ScopeNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := func() (*graph.Result, error) {
				if tc.route == publish {
					_, res, err := s.PublishWatch(ctx, graph.PropertyVideo, "https://watchshare.example/v/1", graph.WatchOptions{})
					return res, err
				}
				return s.Get(ctx, "/me", nil, nil)
			}
			before := len(e.emu.Actions(u.ID))
			e.emu.FailNext(tc.route, 1, tc.fault)
			res, err := call()
			e.noLeak(t, err)
			apiErr := apiError(t, err)
			if apiErr.Code != tc.wantCode || apiErr.Subcode != tc.wantSub {
				t.Errorf("code/subcode = %d/%d, want %d/%d", apiErr.Code, apiErr.Subcode, tc.wantCode, tc.wantSub)
			}
			if apiErr.StatusCode != tc.wantStatus {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tc.wantStatus)
			}
			if res == nil || res.StatusCode != tc.wantStatus {
				t.Errorf("Result = %+v, want one with status %d", res, tc.wantStatus)
			}
			checkClass(t, err, tc.wantClass)
			if got := graph.RateLimitScopeOf(err); got != tc.wantScope {
				t.Errorf("RateLimitScopeOf = %v, want %v", got, tc.wantScope)
			}
			if graph.IsAmbiguous(err) {
				t.Errorf("IsAmbiguous = true for an answer from Graph")
			}
			if c := lastCall(t, e.emu, tc.route); !c.Injected {
				t.Errorf("emulator did not log the call as injected: %+v", c)
			}
			if after := len(e.emu.Actions(u.ID)); after != before {
				t.Errorf("a failed call stored %d action(s)", after-before)
			}
			// The fault was for one call only.
			if _, err := call(); err != nil {
				t.Errorf("call after the fault: %v", err)
			}
		})
	}

	t.Run("Outage503", func(t *testing.T) {
		e.emu.SetOutage(graphtest.Outage503)
		_, err := s.Me(ctx)
		e.emu.SetOutage(graphtest.OutageNone)
		e.noLeak(t, err)
		apiErr := apiError(t, err)
		if apiErr.Code != graph.CodeUnknown || apiErr.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("err = code %d status %d, want -1/503", apiErr.Code, apiErr.StatusCode)
		}
		checkClass(t, err, graph.ClassTransient)
	})

	t.Run("X-App-Usage", func(t *testing.T) {
		e.emu.SetAppUsage(&graphtest.Usage{CallCount: 12, TotalTime: 93, TotalCPUTime: 40})
		defer e.emu.SetAppUsage(nil)
		res, err := s.Get(ctx, "/me", nil, nil)
		if err != nil {
			t.Fatalf("GET /me: %v", err)
		}
		if want := (graph.RateUsage{CallCount: 12, TotalTime: 93, TotalCPUTime: 40}); res.Usage.App != want {
			t.Errorf("Usage.App = %+v, want %+v", res.Usage.App, want)
		}
		if got := res.Usage.Max(); got != 93 {
			t.Errorf("Usage.Max() = %d, want 93", got)
		}
		if res.Usage.Max() <= graph.UsageThreshold {
			t.Errorf("Usage.Max() = %d, want above UsageThreshold %d", res.Usage.Max(), graph.UsageThreshold)
		}
		// Also parsed when the call failed.
		e.emu.FailNext(getMe, 1, graphtest.Fault{Code: 4})
		res, err = s.Get(ctx, "/me", nil, nil)
		if !graph.IsRateLimited(err) {
			t.Fatalf("err = %v, want a rate-limit error", err)
		}
		if res == nil || res.Usage.Max() != 93 {
			t.Errorf("Result on error = %+v, want Usage.Max() 93", res)
		}
	})
}

// TestConformanceBudgets exercises the emulator's rolling one-hour call
// budgets and its automatic X-App-Usage header through the client.
func TestConformanceBudgets(t *testing.T) {
	t.Parallel()
	const budget = 5
	tests := []struct {
		name      string
		configure func(*graphtest.Server)
		wantCode  int
		wantScope graph.RateLimitScope
		appUsage  bool // X-App-Usage follows the app budget
	}{
		{"app budget", func(s *graphtest.Server) { s.AppCallsPerHour = budget }, 4, graph.ScopeApp, true},
		{"user budget", func(s *graphtest.Server) { s.UserCallsPerHour = budget }, 17, graph.ScopeUser, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConfEnv(t, tc.configure)
			ctx := t.Context()
			_, s, _ := e.user(t, "Gina Linetti", "user_friends")
			for i := 1; i <= budget; i++ {
				res, err := s.Get(ctx, "/me", nil, nil)
				if err != nil {
					t.Fatalf("call %d within budget: %v", i, err)
				}
				if want := i * 100 / budget; tc.appUsage && res.Usage.App.CallCount != want {
					t.Errorf("call %d: Usage.App.CallCount = %d, want %d", i, res.Usage.App.CallCount, want)
				}
			}
			res, err := s.Get(ctx, "/me", nil, nil)
			e.noLeak(t, err)
			apiErr := apiError(t, err)
			if apiErr.Code != tc.wantCode {
				t.Errorf("over budget: code %d, want %d", apiErr.Code, tc.wantCode)
			}
			checkClass(t, err, graph.ClassRateLimited)
			if got := graph.RateLimitScopeOf(err); got != tc.wantScope {
				t.Errorf("RateLimitScopeOf = %v, want %v", got, tc.wantScope)
			}
			if tc.appUsage && (res == nil || res.Usage.Max() < 100) {
				t.Errorf("over budget: Result = %+v, want Usage.Max() >= 100", res)
			}
			e.clock.Advance(time.Hour + time.Second)
			if _, err := s.Get(ctx, "/me", nil, nil); err != nil {
				t.Errorf("an hour later: %v, want the budget restored", err)
			}
		})
	}
}

func TestConformanceTransport(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	u, s, _ := e.user(t, "Alice Smith", "user_friends", "publish_actions")

	t.Run("DropNext commits then drops", func(t *testing.T) {
		objURL := "https://watchshare.example/m/dropped"
		e.emu.DropNext("POST /me/video.watches", 1)
		id, res, err := s.PublishWatch(ctx, graph.PropertyMovie, objURL, graph.WatchOptions{})
		e.noLeak(t, err)
		te := transportError(t, err)
		if id != "" || res != nil {
			t.Errorf("PublishWatch = %q, %+v; want no id and no result", id, res)
		}
		if !graph.IsAmbiguous(err) || !te.Ambiguous {
			t.Errorf("IsAmbiguous = false, want true: the request was written (%v)", err)
		}
		if te.Method != http.MethodPost {
			t.Errorf("Method = %q, want POST", te.Method)
		}
		checkClass(t, err, graph.ClassTransient)
		acts := e.emu.Actions(u.ID)
		if len(acts) != 1 || acts[0].ObjectURL != objURL {
			t.Fatalf("emulator actions = %+v, want the dropped one stored", acts)
		}
		if c := lastCall(t, e.emu, "POST /me/video.watches"); !c.Dropped {
			t.Errorf("emulator did not log the call as dropped: %+v", c)
		}
		if err := s.DeleteObject(ctx, acts[0].ID); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
	})

	t.Run("OutageClose on a POST", func(t *testing.T) {
		e.emu.SetOutage(graphtest.OutageClose)
		_, _, err := s.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/outage", graph.WatchOptions{})
		e.emu.SetOutage(graphtest.OutageNone)
		e.noLeak(t, err)
		transportError(t, err)
		if !graph.IsAmbiguous(err) {
			t.Errorf("IsAmbiguous = false after the POST was written")
		}
		checkClass(t, err, graph.ClassTransient)
		if n := len(e.emu.Actions(u.ID)); n != 0 {
			t.Errorf("emulator stored %d actions during the outage", n)
		}
		if _, err := s.Me(ctx); err != nil {
			t.Fatalf("Me after the outage: %v", err)
		}
	})

	t.Run("deadline while Graph is slow", func(t *testing.T) {
		e.emu.SetLatency("GET /me", 5*time.Second)
		defer e.emu.SetLatency("GET /me", 0)
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := s.Me(tctx)
		e.noLeak(t, err)
		te := transportError(t, err)
		if !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Timeout() = %v, errors.Is(DeadlineExceeded) = %v; want true, true (%v)", te.Timeout(), errors.Is(err, context.DeadlineExceeded), err)
		}
		checkClass(t, err, graph.ClassTransient)
	})

	t.Run("connection refused", func(t *testing.T) {
		e2 := newConfEnv(t)
		_, s2, _ := e2.user(t, "Bob Jones", "publish_actions")
		e2.emu.Close()
		for name, do := range map[string]func() error{
			"Me": func() error { _, err := s2.Me(ctx); return err },
			"PublishWatch": func() error {
				_, _, err := s2.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/1", graph.WatchOptions{})
				return err
			},
		} {
			err := do()
			e2.noLeak(t, err)
			transportError(t, err)
			if graph.IsAmbiguous(err) {
				t.Errorf("%s: IsAmbiguous = true for a refused connection (%v)", name, err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: err = %v, want ECONNREFUSED", name, err)
			}
			checkClass(t, err, graph.ClassTransient)
		}
	})
}

func TestConformanceBatch(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	u, s, _ := e.user(t, "Alice Smith", "user_friends") // no publish_actions

	ops := []graph.BatchRequest{
		{Method: "GET", RelativeURL: "me?fields=id,name"},
		{Method: "POST", RelativeURL: "me/video.watches", Body: url.Values{"movie": {"https://watchshare.example/m/1"}}},
		{Method: "GET", RelativeURL: "/me/permissions"},
	}
	tests := []struct {
		name      string
		setup     func()
		failIdx   int
		wantClass graph.Class
	}{
		{"op 1 lacks publish_actions", func() {}, 1, graph.ClassPermission},
		{"op 2 rate limited", func() {
			e.emu.AuthorizeApp(u.ID, "publish_actions")
			e.emu.FailNext("GET /me/permissions", 1, graphtest.Fault{Code: 4})
		}, 2, graph.ClassRateLimited},
		{"op 0 injected transient", func() { e.emu.FailNext("GET /me", 1, graphtest.Fault{Code: 2}) }, 0, graph.ClassTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			resps, err := s.Batch(ctx, ops)
			e.noLeak(t, err)
			if err != nil {
				t.Fatalf("Batch: %v", err)
			}
			if len(resps) != len(ops) {
				t.Fatalf("len(resps) = %d, want %d", len(resps), len(ops))
			}
			for i, r := range resps {
				e.noLeak(t, r.Err)
				if i == tc.failIdx {
					apiError(t, r.Err)
					checkClass(t, r.Err, tc.wantClass)
					continue
				}
				if r.Err != nil || r.StatusCode != http.StatusOK {
					t.Errorf("resps[%d] = status %d err %v, want 200 and no error", i, r.StatusCode, r.Err)
				}
			}
			if tc.failIdx != 0 {
				var me struct{ ID, Name string }
				if err := resps[0].Decode(&me); err != nil || me.ID != u.ID || me.Name != u.Name {
					t.Errorf("resps[0].Decode = %+v, %v; want %s %q", me, err, u.ID, u.Name)
				}
			}
			if tc.failIdx != 2 {
				var perms struct{ Data []graphtest.Permission }
				if err := resps[2].Decode(&perms); err != nil || len(perms.Data) == 0 {
					t.Errorf("resps[2].Decode = %+v, %v; want permissions", perms, err)
				}
			}
			for _, a := range e.emu.Actions(u.ID) {
				_ = s.DeleteObject(ctx, a.ID)
			}
		})
	}

	t.Run("top-level fault fails the whole batch", func(t *testing.T) {
		e.emu.FailNext("POST /", 1, graphtest.Fault{Code: 4})
		resps, err := s.Batch(ctx, ops)
		e.noLeak(t, err)
		if resps != nil {
			t.Errorf("Batch returned %d answers with a top-level error", len(resps))
		}
		checkClass(t, err, graph.ClassRateLimited)
	})

	t.Run("50 operations accepted", func(t *testing.T) {
		big := make([]graph.BatchRequest, graph.MaxBatchSize)
		for i := range big {
			big[i] = graph.BatchRequest{RelativeURL: "me"}
		}
		resps, err := s.Batch(ctx, big)
		if err != nil {
			t.Fatalf("Batch(50): %v", err)
		}
		for i, r := range resps {
			if r.Err != nil {
				t.Errorf("resps[%d].Err = %v", i, r.Err)
			}
		}
	})

	t.Run("51 operations rejected client-side", func(t *testing.T) {
		before := e.emu.CallCount("POST", "/")
		big := make([]graph.BatchRequest, graph.MaxBatchSize+1)
		for i := range big {
			big[i] = graph.BatchRequest{RelativeURL: "me"}
		}
		resps, err := s.Batch(ctx, big)
		if !errors.Is(err, graph.ErrBatchTooLarge) {
			t.Fatalf("Batch(51) err = %v, want ErrBatchTooLarge", err)
		}
		if resps != nil {
			t.Errorf("Batch(51) returned %d answers, want none", len(resps))
		}
		if after := e.emu.CallCount("POST", "/"); after != before {
			t.Errorf("Batch(51) reached the emulator")
		}
	})
}

func TestConformanceSignedRequest(t *testing.T) {
	t.Parallel()
	payload := map[string]any{"algorithm": "HMAC-SHA256", "issued_at": confNow.Unix(), "user_id": "10150000000012345"}
	valid := graphtest.SignedRequest(confSecret, payload)
	sig, enc, _ := strings.Cut(valid, ".")
	forged := graphtest.SignedRequest(confSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": confNow.Unix(), "user_id": "666"})
	_, forgedPayload, _ := strings.Cut(forged, ".")
	flipped := []byte(sig)
	if flipped[3] == 'A' { // another base64url character: a different signature
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}

	tests := []struct {
		name    string
		sr      string
		secret  string
		wantErr error
	}{
		{"valid", valid, confSecret, nil},
		{"numeric user_id", graphtest.SignedRequest(confSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": confNow.Unix(), "user_id": int64(10150000000012345)}), confSecret, nil},
		{"payload swapped", sig + "." + forgedPayload, confSecret, graph.ErrSignedRequestSignature},
		{"signature altered", string(flipped) + "." + enc, confSecret, graph.ErrSignedRequestSignature},
		{"signed with another secret", graphtest.SignedRequest("another-secret", payload), confSecret, graph.ErrSignedRequestSignature},
		{"verified with another secret", valid, "another-secret", graph.ErrSignedRequestSignature},
		{"no payload", sig, confSecret, graph.ErrSignedRequestMalformed},
		{"old", graphtest.SignedRequest(confSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": confNow.Add(-48 * time.Hour).Unix(), "user_id": "1"}), confSecret, graph.ErrSignedRequestExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := graph.ParseSignedRequest(tc.secret, tc.sr, confNow, 0)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSignedRequest: %v", err)
			}
			if got.UserID != "10150000000012345" || !got.IssuedAt.Equal(confNow) || got.Algorithm != "HMAC-SHA256" {
				t.Errorf("got user %q issued %v alg %q", got.UserID, got.IssuedAt, got.Algorithm)
			}
		})
	}

	t.Run("deauthorize callback over HTTP", func(t *testing.T) {
		var (
			mu     sync.Mutex
			gotErr error
			gotUID string
		)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sr, err := graph.ParseSignedRequest(confSecret, r.PostFormValue("signed_request"), confNow, 0)
			mu.Lock()
			gotErr, gotUID = err, sr.UserID
			mu.Unlock()
			if err != nil {
				http.Error(w, "bad signed_request", http.StatusBadRequest)
			}
		}))
		t.Cleanup(cb.Close)
		e := newConfEnv(t, func(s *graphtest.Server) {
			s.DeauthorizeURL = cb.URL + "/facebook/deauthorize"
			s.CallbackClient = cb.Client()
		})
		u, s, _ := e.user(t, "Alice Smith", "user_friends")
		if err := e.emu.RemoveApp(t.Context(), u.ID); err != nil {
			t.Fatalf("RemoveApp: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if gotErr != nil || gotUID != u.ID {
			t.Errorf("callback parsed user %q, err %v; want %s", gotUID, gotErr, u.ID)
		}
		_, err := s.Me(t.Context())
		e.noLeak(t, err)
		if !errors.Is(err, &graph.APIError{Code: 190, Subcode: 458}) {
			t.Errorf("Me after RemoveApp = %v, want 190/458", err)
		}
	})
}

// TestConformanceCanary drives every kind of failure with one user's tokens
// and checks that no error text holds them.
func TestConformanceCanary(t *testing.T) {
	t.Parallel()
	e := newConfEnv(t)
	ctx := t.Context()
	alice, s, tok := e.user(t, "Alice Smith", "user_friends", "publish_actions")
	short, _ := e.dialogLogin(t, alice.ID, []string{"user_friends", "publish_actions"})
	e.emu.GenerateFriends(alice.ID, 120, "user_friends")

	var errs []error
	fail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: err = nil, want a failure", what)
			return
		}
		errs = append(errs, err)
	}

	_, err := e.newClient("wrong-secret").Session(tok).Me(ctx)
	fail("wrong proof", err)

	e.emu.FailPage("GET /me/friends", 2, graphtest.Fault{Code: 1})
	_, _, err = s.Friends(ctx, 10) // page 2 is fetched from a next URL holding the token
	fail("friends page 2", err)

	e.emu.DropNext("POST /me/video.watches", 1)
	_, _, err = s.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/1", graph.WatchOptions{})
	fail("dropped publish", err)

	e.emu.SetOutage(graphtest.OutageClose)
	_, err = e.client.ExchangeToken(ctx, short)
	fail("exchange during outage", err)
	_, err = e.client.DebugToken(ctx, tok)
	fail("debug_token during outage", err)
	e.emu.SetOutage(graphtest.OutageNone)

	e.emu.FailNext("GET /oauth/access_token", 1, graphtest.Fault{Code: 100, Message: "Invalid fb_exchange_token"})
	_, err = e.client.ExchangeToken(ctx, short)
	fail("exchange fault", err)

	if err := s.RevokeApp(ctx); err != nil {
		t.Fatalf("RevokeApp: %v", err)
	}
	_, err = s.Me(ctx)
	fail("Me after revoke", err)
	_, err = s.Permissions(ctx)
	fail("Permissions after revoke", err)
	_, _, err = s.Friends(ctx, 10)
	fail("Friends after revoke", err)
	_, err = s.Watches(ctx, 10)
	fail("Watches after revoke", err)
	_, _, err = s.PublishWatch(ctx, graph.PropertyMovie, "https://watchshare.example/m/2", graph.WatchOptions{})
	fail("PublishWatch after revoke", err)
	fail("DeleteObject after revoke", s.DeleteObject(ctx, "10150000000000001"))
	_, err = s.Batch(ctx, []graph.BatchRequest{{RelativeURL: "me"}})
	fail("Batch after revoke", err)
	_, err = e.client.ExchangeToken(ctx, tok)
	fail("exchange revoked long token", err)
	_, err = e.client.ExchangeToken(ctx, short)
	fail("exchange revoked short token", err)
	info, err := e.client.DebugToken(ctx, tok)
	if err != nil || info.IsValid || info.Error == nil {
		t.Errorf("DebugToken(revoked) = %+v, %v; want invalid with an error", info, err)
	} else {
		fail("debug_token error", errors.New(info.Error.Message))
	}

	e.emu.Close()
	_, err = s.Me(ctx)
	fail("Me on a closed emulator", err)
	_, err = e.client.ExchangeToken(ctx, short)
	fail("exchange on a closed emulator", err)

	for _, err := range errs {
		e.noLeak(t, err)
	}
	if len(errs) < 18 {
		t.Errorf("collected %d errors, want at least 18", len(errs))
	}
}
