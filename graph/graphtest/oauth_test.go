package graphtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

const redirectURI = "https://watchshare.example/oauth/facebook/callback"

// newClock returns the settable Now of these tests, at 2013-03-14 20:00 UTC.
func newClock() *graphtest.Clock {
	return graphtest.NewClock(time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC))
}

func authorizeURL(srv *graphtest.Server, extra url.Values) string {
	q := url.Values{
		"client_id":     {graphtest.DefaultAppID},
		"redirect_uri":  {redirectURI},
		"state":         {"st-123/+="},
		"scope":         {"user_friends,publish_actions"},
		"response_type": {"code"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return srv.DialogURL() + "?" + q.Encode()
}

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// exchange redeems code at the token endpoint with form credentials.
func exchange(tb testing.TB, srv *graphtest.Server, code, redirect, verifier string) result {
	tb.Helper()
	p := url.Values{
		"client_id":     {graphtest.DefaultAppID},
		"client_secret": {secret},
		"redirect_uri":  {redirect},
		"code":          {code},
	}
	if verifier != "" {
		p.Set("code_verifier", verifier)
	}
	return do(tb, srv.Client(), http.MethodPost, srv.TokenURL(), p)
}

func approveCode(tb testing.TB, srv *graphtest.Server, authURL, userID string, scopes ...string) string {
	tb.Helper()
	red, err := srv.Approve(authURL, userID, scopes...)
	if err != nil {
		tb.Fatalf("Approve: %v", err)
	}
	code := red.Query().Get("code")
	if code == "" {
		tb.Fatalf("redirect %s has no code", red)
	}
	return code
}

func TestAppsecretProof(t *testing.T) {
	clk := newClock()
	srv := start(t, &graphtest.Server{Now: clk.Now})
	tok := srv.AuthorizeApp(addUser(srv, "Ann Proof"))
	now := clk.Now().Unix()

	tests := []struct {
		name    string
		params  url.Values
		wantMsg string // "" means success
	}{
		{"missing", url.Values{}, "API calls from the server require an appsecret_proof argument"},
		{"wrong", url.Values{"appsecret_proof": {proof("other-secret", tok)}}, "Invalid appsecret_proof provided in the API argument"},
		{"plain", url.Values{"appsecret_proof": {proof(secret, tok)}}, ""},
		{"timed", url.Values{"appsecret_proof": {proof(secret, tok+"|"+strconv.FormatInt(now, 10))}, "appsecret_time": {strconv.FormatInt(now, 10)}}, ""},
		{"timed stale", url.Values{"appsecret_proof": {proof(secret, tok+"|"+strconv.FormatInt(now-301, 10))}, "appsecret_time": {strconv.FormatInt(now-301, 10)}}, "Invalid appsecret_proof provided in the API argument"},
		{"timed without time", url.Values{"appsecret_proof": {proof(secret, tok+"|"+strconv.FormatInt(now, 10))}}, "Invalid appsecret_proof provided in the API argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.params.Set("access_token", tok)
			r := do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/me", tc.params)
			if tc.wantMsg == "" {
				wantOK(t, r)
				return
			}
			wantError(t, r, http.StatusBadRequest, 100, 0)
			if _, _, typ, msg := r.gerr(); msg != tc.wantMsg || typ != "GraphMethodException" {
				t.Fatalf("error = %s %q, want GraphMethodException %q", typ, msg, tc.wantMsg)
			}
		})
	}

	t.Run("app token needs no proof", func(t *testing.T) {
		r := do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {tok}, "access_token": {srv.AppAccessToken()}})
		wantOK(t, r)
	})
	t.Run("DisableProof", func(t *testing.T) {
		srv2 := start(t, &graphtest.Server{DisableProof: true})
		tok2 := srv2.AuthorizeApp(addUser(srv2, "Bo NoProof"))
		wantOK(t, do(t, srv2.Client(), http.MethodGet, srv2.GraphURL()+"/me", url.Values{"access_token": {tok2}}))
	})
}

func TestCodeGrant(t *testing.T) {
	clk := newClock()
	srv := start(t, &graphtest.Server{Now: clk.Now})
	uid := addUser(srv, "Carla Code")
	verifier := "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-1234"
	authURL := authorizeURL(srv, url.Values{"code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}})

	t.Run("success then replay", func(t *testing.T) {
		code := approveCode(t, srv, authURL, uid)
		r := exchange(t, srv, code, redirectURI, verifier)
		wantOK(t, r)
		if tt, _ := r.Body["token_type"].(string); tt != "bearer" {
			t.Fatalf("token_type = %q, want bearer", tt)
		}
		if exp, _ := r.Body["expires_in"].(float64); exp != 7200 {
			t.Fatalf("expires_in = %v, want 7200 (short-lived)", exp)
		}
		tok, _ := r.Body["access_token"].(string)
		wantOK(t, userCall(t, srv, http.MethodGet, "/me", tok, nil))

		r = exchange(t, srv, code, redirectURI, verifier)
		wantError(t, r, http.StatusBadRequest, 100, 0)
		if _, _, typ, msg := r.gerr(); msg != "This authorization code has been used." || typ != "OAuthException" {
			t.Fatalf("replay: %s %q", typ, msg)
		}
	})

	tests := []struct {
		name     string
		redirect string
		verifier string
		advance  time.Duration
		wantMsg  string
	}{
		{"redirect mismatch", redirectURI + "/", verifier, 0, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"},
		{"redirect missing", "", verifier, 0, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"},
		{"wrong verifier", redirectURI, verifier + "x", 0, "Invalid code verifier."},
		{"missing verifier", redirectURI, "", 0, "Invalid code verifier."},
		{"expired", redirectURI, verifier, 10*time.Minute + time.Second, "This authorization code has expired."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := approveCode(t, srv, authURL, uid)
			clk.Advance(tc.advance)
			r := exchange(t, srv, code, tc.redirect, tc.verifier)
			wantError(t, r, http.StatusBadRequest, 100, 0)
			if _, _, _, msg := r.gerr(); msg != tc.wantMsg {
				t.Fatalf("message = %q, want %q", msg, tc.wantMsg)
			}
			// A failed attempt does not burn the code.
			if tc.advance == 0 {
				wantOK(t, exchange(t, srv, code, redirectURI, verifier))
			}
		})
	}

	t.Run("wrong client secret", func(t *testing.T) {
		code := approveCode(t, srv, authURL, uid)
		p := url.Values{"client_id": {graphtest.DefaultAppID}, "client_secret": {"nope"}, "redirect_uri": {redirectURI}, "code": {code}, "code_verifier": {verifier}}
		r := do(t, srv.Client(), http.MethodGet, srv.TokenURL(), p)
		wantError(t, r, http.StatusBadRequest, 1, 0)
		if _, _, _, msg := r.gerr(); msg != "Error validating client secret." {
			t.Fatalf("message = %q", msg)
		}
	})

	t.Run("basic auth", func(t *testing.T) {
		code := approveCode(t, srv, authURL, uid)
		p := url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {redirectURI}, "code": {code}, "code_verifier": {verifier}}
		req, _ := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(graphtest.DefaultAppID), url.QueryEscape(secret))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"access_token"`) {
			t.Fatalf("basic auth exchange: HTTP %d %s", resp.StatusCode, b)
		}
	})

	t.Run("pre-v2.3 form-encoded", func(t *testing.T) {
		code := approveCode(t, srv, authURL, uid)
		p := url.Values{"client_id": {graphtest.DefaultAppID}, "client_secret": {secret}, "redirect_uri": {redirectURI}, "code": {code}, "code_verifier": {verifier}}
		r := do(t, srv.Client(), http.MethodGet, srv.URL+"/v2.2/oauth/access_token", p)
		wantOK(t, r)
		v, err := url.ParseQuery(r.Raw)
		if err != nil || v.Get("access_token") == "" || v.Get("expires") != "7200" {
			t.Fatalf("v2.2 body = %q, want access_token=...&expires=7200", r.Raw)
		}
	})
}

func TestTokenExchangeAndDebug(t *testing.T) {
	clk := newClock()
	srv := start(t, &graphtest.Server{Now: clk.Now})
	uid := addUser(srv, "Dana Debug")
	code := approveCode(t, srv, authorizeURL(srv, nil), uid)
	short, _ := exchange(t, srv, code, redirectURI, "").Body["access_token"].(string)

	ex := func(tok string) result {
		return do(t, srv.Client(), http.MethodGet, srv.TokenURL(), url.Values{
			"grant_type": {"fb_exchange_token"}, "client_id": {graphtest.DefaultAppID},
			"client_secret": {secret}, "fb_exchange_token": {tok},
		})
	}
	r := ex(short)
	wantOK(t, r)
	long, _ := r.Body["access_token"].(string)
	if long == short || long == "" {
		t.Fatalf("long-lived token = %q, want a new token", long)
	}
	if got, _ := r.Body["expires_in"].(float64); got != 5183944 {
		t.Fatalf("expires_in = %v, want 5183944", got)
	}
	clk.Advance(24 * time.Hour)
	r = ex(long)
	wantOK(t, r)
	if got, _ := r.Body["expires_in"].(float64); got != 5183944-86400 {
		t.Fatalf("re-exchange expires_in = %v, want %v (same expiry)", got, 5183944-86400)
	}
	// The short-lived token has expired by now and cannot be exchanged.
	wantError(t, ex(short), http.StatusBadRequest, 190, 463)

	// client_credentials and the literal APPID|SECRET both work as app tokens.
	r = do(t, srv.Client(), http.MethodGet, srv.TokenURL(), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {graphtest.DefaultAppID}, "client_secret": {secret},
	})
	wantOK(t, r)
	appTok, _ := r.Body["access_token"].(string)
	if !strings.HasPrefix(appTok, graphtest.DefaultAppID+"|") || r.Body["expires_in"] != nil {
		t.Fatalf("client_credentials = %s", r.Raw)
	}
	for _, app := range []string{appTok, graphtest.DefaultAppID + "|" + secret} {
		r = do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {long}, "access_token": {app}})
		wantOK(t, r)
		d := r.Body["data"].(map[string]any)
		if d["is_valid"] != true || d["user_id"] != uid || d["app_id"] != graphtest.DefaultAppID || d["type"] != "USER" || d["application"] != graphtest.DefaultAppName {
			t.Fatalf("debug_token data = %v", d)
		}
		scopes := d["scopes"].([]any)
		if len(scopes) != 3 || scopes[0] != "public_profile" {
			t.Fatalf("scopes = %v, want public_profile,user_friends,publish_actions", scopes)
		}
		for _, k := range []string{"expires_at", "issued_at", "data_access_expires_at"} {
			if _, ok := d[k].(float64); !ok {
				t.Fatalf("data.%s missing: %v", k, d)
			}
		}
	}
	// A wrong app secret is not an app token.
	r = do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {long}, "access_token": {graphtest.DefaultAppID + "|wrong"}})
	wantError(t, r, http.StatusBadRequest, 190, 0)

	// Invalid input tokens: HTTP 200, is_valid false, error with "subcode".
	r = do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {"EAABgarbage"}, "access_token": {srv.AppAccessToken()}})
	wantOK(t, r)
	d := r.Body["data"].(map[string]any)
	e, _ := d["error"].(map[string]any)
	if d["is_valid"] != false || e["code"] != float64(190) || e["subcode"] == nil {
		t.Fatalf("debug_token(garbage) = %s", r.Raw)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func TestDialogHTMLMatchesApprove(t *testing.T) {
	srv := start(t, &graphtest.Server{RedirectURIs: []string{redirectURI}})
	uid := addUser(srv, "Eve Browser")
	authURL := authorizeURL(srv, nil)

	r := do(t, srv.Client(), http.MethodGet, authURL, nil)
	wantOK(t, r)
	for _, want := range []string{`name="grant" value="user_friends" checked`, `name="grant" value="publish_actions" checked`, `value="allow"`, `value="cancel"`, `<option value="` + uid + `">Eve Browser`} {
		if !strings.Contains(r.Raw, want) {
			t.Fatalf("consent page lacks %q:\n%s", want, r.Raw)
		}
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(r.Raw, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	// The user unticks publish_actions and clicks Allow.
	form.Set("user", uid)
	form.Add("grant", "user_friends")
	form.Set("action", "allow")
	resp, err := noRedirects(srv).PostForm(srv.DialogURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("form POST: HTTP %d, want 302", resp.StatusCode)
	}
	browser, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	approved, err := srv.Approve(authURL, uid, "user_friends")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*url.URL{browser, approved} {
		q := u.Query()
		if u.Scheme+"://"+u.Host+u.Path != redirectURI || q.Get("state") != "st-123/+=" || q.Get("code") == "" || u.Fragment != "_=_" {
			t.Fatalf("redirect = %s, want %s?code=...&state=st-123/+=#_=_", u, redirectURI)
		}
	}
	if browser.Query().Get("code") == approved.Query().Get("code") {
		t.Fatal("two consents produced the same code")
	}
	want := []graphtest.Permission{{"public_profile", "granted"}, {"user_friends", "granted"}, {"publish_actions", "declined"}}
	if got := srv.Permissions(uid); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("Permissions = %v, want %v", got, want)
	}

	t.Run("declined is not re-asked without rerequest", func(t *testing.T) {
		if _, err := srv.Approve(authURL, uid); err != nil {
			t.Fatal(err)
		}
		if got := srv.Permissions(uid)[2]; got.Status != "declined" {
			t.Fatalf("publish_actions = %v, want still declined", got)
		}
		if _, err := srv.Approve(authorizeURL(srv, url.Values{"auth_type": {"rerequest"}}), uid); err != nil {
			t.Fatal(err)
		}
		if got := srv.Permissions(uid)[2]; got.Status != "granted" {
			t.Fatalf("publish_actions after rerequest = %v, want granted", got)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		form.Set("action", "cancel")
		resp, err := noRedirects(srv).PostForm(srv.DialogURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		denied, err := srv.Deny(authURL)
		if err != nil {
			t.Fatal(err)
		}
		want := redirectURI + "?error=access_denied&error_reason=user_denied&error_description=Permissions+error.&state=" + url.QueryEscape("st-123/+=") + "#_=_"
		if got := resp.Header.Get("Location"); got != want {
			t.Fatalf("cancel Location = %q, want %q", got, want)
		}
		if denied.String() != want {
			t.Fatalf("Deny = %q, want %q", denied, want)
		}
	})

	t.Run("errors show a page, no redirect", func(t *testing.T) {
		tests := []struct {
			name  string
			extra url.Values
			want  string
		}{
			{"unknown client_id", url.Values{"client_id": {"999"}}, "Invalid App ID"},
			{"missing client_id", url.Values{"client_id": {""}}, "Invalid App ID"},
			{"redirect not allowed", url.Values{"redirect_uri": {redirectURI + "?x=1"}}, "URL Blocked"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u := authorizeURL(srv, tc.extra)
				resp, err := noRedirects(srv).Get(u)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Header.Get("Location") != "" || !strings.Contains(string(b), tc.want) {
					t.Fatalf("GET: HTTP %d Location %q body %s", resp.StatusCode, resp.Header.Get("Location"), b)
				}
				if red, err := srv.Approve(u, uid); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Approve = %v, %v; want error %q", red, err, tc.want)
				}
				if red, err := srv.Deny(u); err == nil {
					t.Fatalf("Deny = %v, want error", red)
				}
			})
		}
		if _, err := srv.Approve(authURL, "424242"); err == nil {
			t.Fatal("Approve as unknown user succeeded")
		}
	})
}
