package graphtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// auth is who a call was made as.
type auth struct {
	kind   TokenKind
	userID string // user tokens only
	raw    string // the token as sent
}

// tokenFromRequest returns the access token of a call: the access_token
// parameter, else an "Authorization: Bearer|OAuth <token>" header.
func tokenFromRequest(req *request) string {
	if t := req.params.Get("access_token"); t != "" {
		return t
	}
	h := strings.TrimSpace(req.authHeader)
	for _, scheme := range []string{"Bearer ", "OAuth "} {
		if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
			return strings.TrimSpace(h[len(scheme):])
		}
	}
	return ""
}

// Proof returns the appsecret_proof for token: lowercase hex
// HMAC-SHA256(key=appSecret, message=token).
func Proof(appSecret, token string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// TimedProof returns the time-stamped appsecret_proof sent together with
// appsecret_time=unixTime: hex HMAC-SHA256(appSecret, token+"|"+unixTime).
func TimedProof(appSecret, token string, unixTime int64) string {
	return Proof(appSecret, token+"|"+strconv.FormatInt(unixTime, 10))
}

// authenticateLocked resolves the caller. The returned auth is filled in as
// far as possible even when the error is non-nil, for the call log.
func (s *Server) authenticateLocked(req *request) (*auth, *gerror) {
	raw := tokenFromRequest(req)
	a := &auth{raw: raw}
	if raw == "" {
		return a, nil
	}
	st := s.stateLocked()
	if appID, secret, ok := strings.Cut(raw, "|"); ok {
		a.kind = TokenApp
		if appID != s.appID() {
			return a, newError(190, "Invalid OAuth access token signature.").withWWWAuth("invalid_token")
		}
		if t := st.tokens[raw]; (t == nil || t.kind != TokenApp) && secret != s.appSecret() {
			return a, newError(190, "Invalid OAuth access token signature.").withWWWAuth("invalid_token")
		}
		return a, s.checkProofLocked(req, raw, false)
	}
	a.kind = TokenUser
	t := st.tokens[raw]
	if t == nil || t.kind != TokenUser {
		return a, unknownTokenError()
	}
	a.userID = t.userID
	if sub := s.tokenSubcodeLocked(t); sub != 0 {
		return a, s.tokenError(sub, t.expiresAt, s.now())
	}
	return a, s.checkProofLocked(req, raw, !s.DisableProof)
}

// checkProofLocked validates appsecret_proof (plain or timed). A missing
// proof is an error only when required.
func (s *Server) checkProofLocked(req *request, tok string, required bool) *gerror {
	proof := req.params.Get("appsecret_proof")
	if proof == "" {
		if required {
			return newError(100, "API calls from the server require an appsecret_proof argument").withType("GraphMethodException")
		}
		return nil
	}
	invalid := newError(100, "Invalid appsecret_proof provided in the API argument").withType("GraphMethodException")
	want := Proof(s.appSecret(), tok)
	if ts := req.params.Get("appsecret_time"); ts != "" {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return invalid
		}
		skew := s.now().Sub(time.Unix(sec, 0))
		if skew > ProofTimeWindow || skew < -ProofTimeWindow {
			return invalid
		}
		want = TimedProof(s.appSecret(), tok, sec)
	}
	if !hmac.Equal([]byte(strings.ToLower(proof)), []byte(want)) {
		return invalid
	}
	return nil
}

// checkAuthLocked enforces that a Graph route got a valid token.
func (s *Server) checkAuthLocked(rt route, a *auth, authErr *gerror) *gerror {
	if authErr != nil {
		return authErr
	}
	if a.kind == TokenNone {
		if rt.subject == "me" {
			return meWithoutUser()
		}
		return stdError(104)
	}
	return nil
}

func meWithoutUser() *gerror {
	return newError(2500, "An active access token must be used to query information about the current user.")
}

// subjectLocked resolves the user a node or edge route is about: "me" is
// the token's user; an explicit id must be that user for user tokens, or
// a user who authorized the app for app tokens.
func (s *Server) subjectLocked(req *request, rt route, a *auth) (*userRec, *gerror) {
	st := s.stateLocked()
	if rt.subject == "me" {
		if a.kind != TokenUser {
			return nil, meWithoutUser()
		}
		u := st.users[a.userID]
		if u == nil {
			return nil, unknownTokenError()
		}
		return u, nil
	}
	u := st.users[rt.subject]
	if u == nil {
		return nil, unsupported(req.method, rt.subject)
	}
	switch a.kind {
	case TokenUser:
		if u.ID != a.userID {
			return nil, stdError(200)
		}
	case TokenApp:
		if st.authz[u.ID] == nil {
			return nil, newError(200, "(#200) The user hasn't authorized the application to perform this action")
		}
	}
	return u, nil
}

// requirePublishLocked checks that userID granted publish_actions and that
// the permission still exists on the platform.
func (s *Server) requirePublishLocked(userID string) *gerror {
	st := s.stateLocked()
	if st.publishActionsRemoved {
		return newError(200, "(#200) This endpoint is deprecated since the required permission publish_actions is deprecated")
	}
	if !st.authz[userID].granted("publish_actions") {
		return newError(200, "(#200) Requires extended permission: publish_actions")
	}
	return nil
}
