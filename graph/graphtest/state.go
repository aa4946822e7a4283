package graphtest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// User is a Facebook user known to the emulator. ID is the app-scoped user
// id, a numeric string that may exceed 2^53.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Permission is one row of /me/permissions.
type Permission struct {
	Permission string `json:"permission"`
	Status     string `json:"status"` // "granted" or "declined"
}

// TokenKind classifies the access token a call was made with.
type TokenKind int

const (
	TokenNone TokenKind = iota // no access token
	TokenUser                  // a user access token
	TokenApp                   // an app access token ("APPID|...")
)

func (k TokenKind) String() string {
	switch k {
	case TokenUser:
		return "user"
	case TokenApp:
		return "app"
	}
	return "none"
}

// TokenInfo describes an issued access token, for inspection by tests.
type TokenInfo struct {
	Token          string
	Kind           TokenKind
	UserID         string
	IssuedAt       time.Time
	ExpiresAt      time.Time // zero: never expires (app tokens)
	LongLived      bool
	Valid          bool
	InvalidSubcode int // the 190 subcode a call with the token gets (463 once expired)
}

// Action is a stored video.watches action.
type Action struct {
	ID               string
	UserID           string
	Type             string // "video.watches"
	Property         string // the object property used: movie, episode, tv_show or video
	ObjectType       string // og:type of the object: video.movie, video.episode, video.tv_show, video.other
	ObjectID         string
	ObjectURL        string
	Title            string
	StartTime        time.Time
	EndTime          time.Time // zero when not given
	ExpiresIn        int       // seconds; 0 when not given
	PublishTime      time.Time
	ExplicitlyShared bool
	NoFeedStory      bool
}

// state is everything the emulator remembers. Guarded by Server.mu.
type state struct {
	users     map[string]*userRec
	userOrder []string
	friendSeq int64
	authz     map[string]*authorization
	tokens    map[string]*token
	codes     map[string]*authCode
	actions   map[string]*action
	actionSeq int64
	idSeq     uint64
	objectIDs map[string]string

	calls        []Call
	faults       []*faultRule
	drops        []*dropRule
	latency      map[string]time.Duration
	replyLatency map[string]time.Duration
	outage       Outage
	appUsage     *Usage
	appCalls     []time.Time
	userCalls    map[string][]time.Time

	publishActionsRemoved bool
}

type userRec struct {
	User
	friends map[string]int64 // friend id → friendship sequence number
}

type authorization struct {
	perms               []Permission // in the order they were first asked for
	authorizedAt        time.Time
	dataAccessExpiresAt time.Time
}

func (a *authorization) status(p string) string {
	if a == nil {
		return ""
	}
	for _, x := range a.perms {
		if x.Permission == p {
			return x.Status
		}
	}
	return ""
}

func (a *authorization) granted(p string) bool { return a.status(p) == "granted" }

func (a *authorization) set(p, status string) {
	for i := range a.perms {
		if a.perms[i].Permission == p {
			a.perms[i].Status = status
			return
		}
	}
	a.perms = append(a.perms, Permission{p, status})
}

func (a *authorization) grantedList() []string {
	out := []string{}
	if a == nil {
		return out
	}
	for _, x := range a.perms {
		if x.Status == "granted" {
			out = append(out, x.Permission)
		}
	}
	return out
}

type token struct {
	value     string
	kind      TokenKind
	userID    string
	issuedAt  time.Time
	expiresAt time.Time // zero: never
	longLived bool
	invalid   int // 190 subcode; 0 = valid
}

type authCode struct {
	code, redirectURI, userID string
	challenge, method         string
	issuedAt                  time.Time
	used                      bool
}

type action struct {
	Action
	seq     int64
	deleted bool
}

// stateLocked returns the state, creating it on first use.
func (s *Server) stateLocked() *state {
	if s.st == nil {
		s.st = &state{
			users:        map[string]*userRec{},
			authz:        map[string]*authorization{},
			tokens:       map[string]*token{},
			codes:        map[string]*authCode{},
			actions:      map[string]*action{},
			objectIDs:    map[string]string{},
			latency:      map[string]time.Duration{},
			replyLatency: map[string]time.Duration{},
			userCalls:    map[string][]time.Time{},
		}
	}
	return s.st
}

// randString returns n random bytes, base64url-encoded without padding.
func randString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func traceID() string { return randString(8) }

// newIDLocked returns a fresh numeric id above 2^53, like Facebook's.
func (st *state) newIDLocked() string {
	st.idSeq++
	return strconv.FormatUint(10150000000000000+st.idSeq*7919+st.idSeq%7, 10)
}

func (s *Server) mustUserLocked(id string) *userRec {
	u := s.stateLocked().users[id]
	if u == nil {
		panic(fmt.Sprintf("graphtest: unknown user %q", id))
	}
	return u
}

// AddUser adds a user, or renames an existing one. An empty ID is replaced by
// a fresh app-scoped id. It returns the stored user.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(u)
}

func (s *Server) addUserLocked(u User) User {
	st := s.stateLocked()
	if u.ID == "" {
		u.ID = st.newIDLocked()
	}
	if r := st.users[u.ID]; r != nil {
		r.Name = u.Name
		return r.User
	}
	st.users[u.ID] = &userRec{User: u, friends: map[string]int64{}}
	st.userOrder = append(st.userOrder, u.ID)
	return u
}

// User returns the user with the given id.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.stateLocked().users[id]
	if u == nil {
		return User{}, false
	}
	return u.User, true
}

// Users returns all users in the order they were added.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	out := make([]User, 0, len(st.userOrder))
	for _, id := range st.userOrder {
		out = append(out, st.users[id].User)
	}
	return out
}

// AddFriends makes a friends with each of others (friendship is mutual).
// Existing friendships keep their place in the friend list. It panics on an
// unknown user id.
func (s *Server) AddFriends(a string, others ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addFriendsLocked(a, others...)
}

func (s *Server) addFriendsLocked(a string, others ...string) {
	st := s.stateLocked()
	ua := s.mustUserLocked(a)
	for _, b := range others {
		ub := s.mustUserLocked(b)
		if a == b {
			continue
		}
		if _, ok := ua.friends[b]; ok {
			continue
		}
		st.friendSeq++
		ua.friends[b] = st.friendSeq
		ub.friends[a] = st.friendSeq
	}
}

// RemoveFriends ends the friendships between a and each of others.
func (s *Server) RemoveFriends(a string, others ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ua := s.mustUserLocked(a)
	for _, b := range others {
		ub := s.mustUserLocked(b)
		delete(ua.friends, b)
		delete(ub.friends, a)
	}
}

// Friends returns all friends of userID (app users or not) in the order
// the friendships were added.
func (s *Server) Friends(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.friendsLocked(userID)
}

func (s *Server) friendsLocked(userID string) []string {
	u := s.stateLocked().users[userID]
	if u == nil {
		return nil
	}
	out := make([]string, 0, len(u.friends))
	for id := range u.friends {
		out = append(out, id)
	}
	slices.SortFunc(out, func(x, y string) int { return int(u.friends[x] - u.friends[y]) })
	return out
}

// AuthorizeApp records that userID authorized the app with the given scopes
// (public_profile is always granted), as if the user had gone through the
// dialog, and returns a fresh long-lived user token. It panics on an
// unknown user id.
func (s *Server) AuthorizeApp(userID string, scopes ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUserLocked(userID)
	s.grantLocked(userID, scopes, nil)
	return s.issueUserTokenLocked(userID, true, time.Time{}).value
}

// grantLocked updates userID's authorization: granted scopes become granted,
// declined ones declined (public_profile is always granted).
func (s *Server) grantLocked(userID string, granted, declined []string) {
	st := s.stateLocked()
	now := s.now()
	a := st.authz[userID]
	if a == nil {
		a = &authorization{authorizedAt: now}
		st.authz[userID] = a
	}
	a.set("public_profile", "granted")
	for _, p := range granted {
		if p != "" {
			a.set(p, "granted")
		}
	}
	for _, p := range declined {
		if p != "" && p != "public_profile" {
			a.set(p, "declined")
		}
	}
	a.dataAccessExpiresAt = now.Add(DataAccessTTL)
}

// issueUserTokenLocked mints a user token. A zero expiresAt means the
// default lifetime for its kind.
func (s *Server) issueUserTokenLocked(userID string, long bool, expiresAt time.Time) *token {
	now := s.now()
	if expiresAt.IsZero() {
		ttl := or64(s.ShortTokenTTL, DefaultShortTokenTTL)
		if long {
			ttl = or64(s.LongTokenTTL, DefaultLongTokenTTL)
		}
		expiresAt = now.Add(ttl)
	}
	t := &token{
		value:     "EAAB" + randString(48),
		kind:      TokenUser,
		userID:    userID,
		issuedAt:  now,
		expiresAt: expiresAt,
		longLived: long,
	}
	s.stateLocked().tokens[t.value] = t
	return t
}

func or64(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Authorized reports whether userID currently has the app authorized.
func (s *Server) Authorized(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked().authz[userID] != nil
}

// Permissions returns userID's permissions for the app, as /me/permissions
// would list them; nil if the app is not authorized.
func (s *Server) Permissions(userID string) []Permission {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.stateLocked().authz[userID]
	if a == nil {
		return nil
	}
	return slices.Clone(a.perms)
}

// InvalidateTokens invalidates every token userID currently holds for the
// app; calls with them get code 190 with the given subcode (e.g. 460
// password changed, 467 logged out, 459 checkpointed, 458 app removed). The
// app stays authorized unless subcode is 458, so the user can log in again.
func (s *Server) InvalidateTokens(userID string, subcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if subcode == 458 {
		s.revokeLocked(userID)
		return
	}
	s.invalidateLocked(userID, subcode)
}

func (s *Server) invalidateLocked(userID string, subcode int) {
	for _, t := range s.stateLocked().tokens {
		if t.kind == TokenUser && t.userID == userID && t.invalid == 0 {
			t.invalid = subcode
		}
	}
}

// revokeLocked removes the app for userID: the authorization is forgotten
// (next login is a first-time one) and every token gets 190/458.
func (s *Server) revokeLocked(userID string) {
	delete(s.stateLocked().authz, userID)
	s.invalidateLocked(userID, 458)
}

// Tokens returns the user tokens issued to userID, oldest first.
func (s *Server) Tokens(userID string) []TokenInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TokenInfo
	for _, t := range s.stateLocked().tokens {
		if t.kind == TokenUser && t.userID == userID {
			out = append(out, s.tokenInfoLocked(t))
		}
	}
	slices.SortFunc(out, func(a, b TokenInfo) int { return a.IssuedAt.Compare(b.IssuedAt) })
	return out
}

// TokenInfo describes token, which must have been issued by the emulator.
func (s *Server) TokenInfo(token string) (TokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.stateLocked().tokens[token]
	if t == nil {
		return TokenInfo{}, false
	}
	return s.tokenInfoLocked(t), true
}

func (s *Server) tokenInfoLocked(t *token) TokenInfo {
	sub := s.tokenSubcodeLocked(t)
	return TokenInfo{
		Token:          t.value,
		Kind:           t.kind,
		UserID:         t.userID,
		IssuedAt:       t.issuedAt,
		ExpiresAt:      t.expiresAt,
		LongLived:      t.longLived,
		Valid:          sub == 0,
		InvalidSubcode: sub,
	}
}

// tokenSubcodeLocked returns 0 for a usable token, else the 190 subcode.
func (s *Server) tokenSubcodeLocked(t *token) int {
	if t.invalid != 0 {
		return t.invalid
	}
	if !t.expiresAt.IsZero() && !s.now().Before(t.expiresAt) {
		return 463
	}
	return 0
}

// Actions returns userID's live (not deleted) video.watches actions in
// publish order, oldest first.
func (s *Server) Actions(userID string) []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Action
	for _, a := range s.liveActionsLocked(userID) {
		out = append(out, a.Action)
	}
	return out
}

// Action returns the action with the given id, if it exists and was not
// deleted.
func (s *Server) Action(id string) (Action, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.stateLocked().actions[id]
	if a == nil || a.deleted {
		return Action{}, false
	}
	return a.Action, true
}

// liveActionsLocked returns userID's live actions, oldest first.
func (s *Server) liveActionsLocked(userID string) []*action {
	var out []*action
	for _, a := range s.stateLocked().actions {
		if a.UserID == userID && !a.deleted {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y *action) int { return int(x.seq - y.seq) })
	return out
}
