package graphtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// clientCredentials returns client_id and client_secret from the form or,
// as golang.org/x/oauth2 may send them, from HTTP Basic auth (whose parts
// are form-escaped).
func clientCredentials(req *request) (id, secret string) {
	id, secret = req.params.Get("client_id"), req.params.Get("client_secret")
	h := req.authHeader
	if len(h) > 6 && strings.EqualFold(h[:6], "Basic ") {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[6:])); err == nil {
			u, p, _ := strings.Cut(string(raw), ":")
			if uu, err := url.QueryUnescape(u); err == nil && id == "" {
				id = uu
			}
			if pp, err := url.QueryUnescape(p); err == nil && secret == "" {
				secret = pp
			}
		}
	}
	return id, secret
}

// checkClient validates the app credentials of a token request.
func (s *Server) checkClient(id, secret string) *gerror {
	if id == "" {
		return newError(101, "Missing client_id parameter.")
	}
	if id != s.appID() {
		return newError(101, "Error validating application. Invalid application ID.")
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(s.appSecret())) != 1 {
		return newError(1, "Error validating client secret.").withStatus(http.StatusBadRequest)
	}
	return nil
}

// serveAccessToken implements /oauth/access_token: the authorization code
// grant, fb_exchange_token and client_credentials.
func (s *Server) serveAccessToken(req *request, _ route, _ *auth) *response {
	id, secret := clientCredentials(req)
	if e := s.checkClient(id, secret); e != nil {
		return s.errorJSON(e)
	}
	switch g := req.params.Get("grant_type"); g {
	case "", "authorization_code":
		return s.codeGrantLocked(req)
	case "fb_exchange_token":
		return s.exchangeLocked(req)
	case "client_credentials":
		t := &token{value: s.appID() + "|" + randString(20), kind: TokenApp, issuedAt: s.now()}
		s.stateLocked().tokens[t.value] = t
		return s.tokenResponse(req, t.value, 0)
	default:
		return s.errorJSON(newError(100, "Unsupported grant_type: "+g))
	}
}

func codeError(msg string) *gerror {
	return newError(100, msg).withWWWAuth("invalid_code")
}

func (s *Server) codeGrantLocked(req *request) *response {
	st := s.stateLocked()
	code := req.params.Get("code")
	if code == "" {
		return s.errorJSON(newError(100, "Missing authorization code"))
	}
	c := st.codes[code]
	switch {
	case c == nil:
		return s.errorJSON(codeError("Invalid verification code format."))
	case c.used:
		return s.errorJSON(codeError("This authorization code has been used."))
	case s.now().Sub(c.issuedAt) > CodeTTL:
		return s.errorJSON(codeError("This authorization code has expired."))
	case req.params.Get("redirect_uri") != c.redirectURI:
		return s.errorJSON(codeError("Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"))
	}
	if c.challenge != "" {
		v := req.params.Get("code_verifier")
		want := v
		if c.method == "S256" {
			sum := sha256.Sum256([]byte(v))
			want = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if v == "" || subtle.ConstantTimeCompare([]byte(want), []byte(c.challenge)) != 1 {
			return s.errorJSON(codeError("Invalid code verifier."))
		}
	}
	if st.authz[c.userID] == nil {
		// The user removed the app between consent and exchange.
		return s.errorJSON(codeError("This authorization code has expired."))
	}
	c.used = true
	t := s.issueUserTokenLocked(c.userID, false, time.Time{})
	return s.tokenResponse(req, t.value, secondsUntil(t.expiresAt, s.now()))
}

func (s *Server) exchangeLocked(req *request) *response {
	st := s.stateLocked()
	raw := req.params.Get("fb_exchange_token")
	if raw == "" {
		return s.errorJSON(newError(100, "(#100) The parameter fb_exchange_token is required"))
	}
	old := st.tokens[raw]
	if old == nil || old.kind != TokenUser {
		return s.errorJSON(unknownTokenError())
	}
	if sub := s.tokenSubcodeLocked(old); sub != 0 {
		return s.errorJSON(s.tokenError(sub, old.expiresAt, s.now()))
	}
	// A long-lived token is not extended by exchanging it again.
	var exp time.Time
	if old.longLived {
		exp = old.expiresAt
	}
	t := s.issueUserTokenLocked(old.userID, true, exp)
	return s.tokenResponse(req, t.value, secondsUntil(t.expiresAt, s.now()))
}

func secondsUntil(t, now time.Time) int {
	d := int((t.Sub(now) + time.Second/2) / time.Second)
	if d < 0 {
		return 0
	}
	return d
}

// tokenResponse answers a successful token request: JSON from v2.3 on (and
// unversioned), the older form-encoded body before.
func (s *Server) tokenResponse(req *request, tok string, expiresIn int) *response {
	if versionBefore(req.version, 2, 3) {
		v := "access_token=" + url.QueryEscape(tok)
		if expiresIn > 0 {
			v += "&expires=" + strconv.Itoa(expiresIn)
		}
		r := newResponse(http.StatusOK)
		r.header.Set("Content-Type", "text/plain; charset=UTF-8")
		r.body = []byte(v)
		return r
	}
	body := map[string]any{"access_token": tok, "token_type": "bearer"}
	if expiresIn > 0 {
		body["expires_in"] = expiresIn
	}
	return jsonResponse(http.StatusOK, body)
}

// versionBefore reports whether version ("v2.2") is older than major.minor.
// Unversioned calls are served by a current version.
func versionBefore(version string, major, minor int) bool {
	maj, min, ok := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if !ok {
		return false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return false
	}
	return a < major || (a == major && b < minor)
}

// serveDebugToken implements /debug_token.
func (s *Server) serveDebugToken(req *request, _ route, _ *auth) *response {
	in := req.params.Get("input_token")
	if in == "" {
		return s.errorJSON(newError(100, "(#100) The parameter input_token is required"))
	}
	return jsonResponse(http.StatusOK, map[string]any{"data": s.debugDataLocked(in)})
}

func (s *Server) debugDataLocked(in string) map[string]any {
	st := s.stateLocked()
	now := s.now()
	if appID, secret, ok := strings.Cut(in, "|"); ok && appID == s.appID() {
		if t := st.tokens[in]; (t != nil && t.kind == TokenApp) || secret == s.appSecret() {
			return map[string]any{
				"app_id": s.appID(), "type": "APP", "application": s.appName(),
				"is_valid": true, "scopes": []string{},
			}
		}
	}
	t := st.tokens[in]
	if t == nil || t.kind != TokenUser {
		return map[string]any{
			"error":    map[string]any{"code": 190, "message": "Invalid OAuth access token.", "subcode": 467},
			"is_valid": false,
			"scopes":   []string{},
		}
	}
	a := st.authz[t.userID]
	d := map[string]any{
		"app_id":      s.appID(),
		"type":        "USER",
		"application": s.appName(),
		"expires_at":  t.expiresAt.Unix(),
		"issued_at":   t.issuedAt.Unix(),
		"user_id":     t.userID,
		"is_valid":    true,
	}
	if a != nil {
		d["data_access_expires_at"] = a.dataAccessExpiresAt.Unix()
	} else {
		d["data_access_expires_at"] = 0
	}
	if sub := s.tokenSubcodeLocked(t); sub != 0 {
		e := s.tokenError(sub, t.expiresAt, now)
		d["is_valid"] = false
		d["error"] = map[string]any{"code": 190, "message": e.message, "subcode": sub}
		d["scopes"] = []string{}
		return d
	}
	scopes := a.grantedList()
	d["scopes"] = scopes
	gs := make([]map[string]any, 0, len(scopes))
	for _, sc := range scopes {
		gs = append(gs, map[string]any{"scope": sc})
	}
	d["granular_scopes"] = gs
	return d
}
