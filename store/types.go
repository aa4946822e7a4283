package store

import (
	"fmt"
	"log/slog"
	"time"
)

// MemberStatus is a member's connection state.
type MemberStatus string

// Member statuses.
const (
	StatusNotConnected      MemberStatus = "not_connected"
	StatusConnected         MemberStatus = "connected"
	StatusReconnectRequired MemberStatus = "reconnect_required"
)

// Member is what the store knows about a member, without the token. Zero
// times mean unknown.
type Member struct {
	MemberID       string       `json:"member_id"`
	Status         MemberStatus `json:"status"`
	FacebookUserID string       `json:"facebook_user_id,omitempty"`
	Name           string       `json:"name,omitempty"`
	Scopes         []string     `json:"scopes,omitempty"`
	CanPublish     bool         `json:"can_publish"`
	SharingEnabled bool         `json:"sharing_enabled"`
	ConnectedAt    time.Time    `json:"connected_at,omitzero"`
	ConsentAt      time.Time    `json:"consent_at,omitzero"`
	TokenExpiresAt time.Time    `json:"token_expires_at,omitzero"`
	LastFriendSync time.Time    `json:"last_friend_sync,omitzero"`
	NextFriendSync time.Time    `json:"next_friend_sync,omitzero"`
}

// Connection is a member's Facebook connection as saved after the OAuth flow.
// Token is the plaintext access token; it is sealed before it reaches the
// database and is never printed (see String, GoString, LogValue).
type Connection struct {
	MemberID       string
	FacebookUserID string
	Name           string
	Scopes         []string
	CanPublish     bool
	Token          string `json:"-"`
	TokenExpiresAt time.Time
	ConnectedAt    time.Time // zero = now
	ConsentAt      time.Time // zero = now
}

// String prints the connection without its token.
func (c Connection) String() string {
	return fmt.Sprintf("store.Connection{MemberID:%q FacebookUserID:%q Scopes:%q CanPublish:%t Token:%s TokenExpiresAt:%s}",
		c.MemberID, c.FacebookUserID, c.Scopes, c.CanPublish, redact(c.Token), c.TokenExpiresAt.Format(time.RFC3339))
}

// GoString prints the connection without its token (%#v).
func (c Connection) GoString() string { return c.String() }

// LogValue logs the connection without its token.
func (c Connection) LogValue() slog.Value {
	return slog.GroupValue(slog.String("member_id", c.MemberID), slog.String("token", redact(c.Token)))
}

// OAuthState is a pending OAuth connect flow. State is the random value sent
// to Facebook (only its SHA-256 is stored); Verifier is the PKCE code verifier
// (sealed at rest, never printed).
type OAuthState struct {
	State     string `json:"-"`
	MemberID  string
	Verifier  string `json:"-"`
	ReturnTo  string
	CreatedAt time.Time // zero = now
	ExpiresAt time.Time // zero = CreatedAt + OAuthStateTTL
}

// String prints the state without its secrets.
func (s OAuthState) String() string {
	return fmt.Sprintf("store.OAuthState{State:%s MemberID:%q Verifier:%s ReturnTo:%q ExpiresAt:%s}",
		redact(s.State), s.MemberID, redact(s.Verifier), s.ReturnTo, s.ExpiresAt.Format(time.RFC3339))
}

// GoString prints the state without its secrets (%#v).
func (s OAuthState) GoString() string { return s.String() }

// LogValue logs the state without its secrets.
func (s OAuthState) LogValue() slog.Value {
	return slog.GroupValue(slog.String("member_id", s.MemberID), slog.String("state", redact(s.State)),
		slog.String("verifier", redact(s.Verifier)))
}

// ShareStatus is the state of a share row.
type ShareStatus string

// Share statuses.
const (
	SharePending  ShareStatus = "pending"  // intent written, Graph call in flight or outcome unknown
	SharePosted   ShareStatus = "posted"   // action published on Facebook
	ShareDeleting ShareStatus = "deleting" // a delete_action outbox item is queued
)

// Share is one post (or intended post) of a title for a member.
type Share struct {
	ID          int64       `json:"id"`
	MemberID    string      `json:"member_id"`
	TitleID     string      `json:"title_id"`
	TitleName   string      `json:"title_name"`
	TitleURL    string      `json:"title_url"`
	TitleType   string      `json:"title_type"`
	SessionID   string      `json:"session_id"`
	EventID     string      `json:"event_id"`
	Status      ShareStatus `json:"status"`
	ActionID    string      `json:"action_id,omitempty"`
	AttemptedAt time.Time   `json:"attempted_at,omitzero"`
	SharedAt    time.Time   `json:"shared_at,omitzero"`
}

// HiddenTitle is a title the member does not want shared.
type HiddenTitle struct {
	TitleID  string    `json:"title_id"`
	HiddenAt time.Time `json:"hidden_at"`
}

// OutboxKind is the kind of a durable Facebook side effect.
type OutboxKind string

// Outbox kinds.
const (
	OutboxDeleteAction OutboxKind = "delete_action" // DELETE /{action-id}
	OutboxRevoke       OutboxKind = "revoke"        // DELETE /me/permissions
)

// OutboxItem is a durable, retried Facebook side effect. Token is set by
// ClaimOutbox: the item's own sealed token for items that outlive the
// connection (revokes, orphan actions), otherwise the member's current token
// if still connected. It is never printed and never exported.
type OutboxItem struct {
	ID             int64      `json:"id"`
	Kind           OutboxKind `json:"kind"`
	MemberID       string     `json:"member_id"`
	FacebookUserID string     `json:"facebook_user_id,omitempty"`
	ActionID       string     `json:"action_id,omitempty"`
	ShareID        int64      `json:"share_id,omitempty"`
	Token          string     `json:"-"`
	OwnToken       bool       `json:"-"` // Token is the item's own (it outlives the connection), set by ClaimOutbox
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at,omitzero"`
	NextAttemptAt  time.Time  `json:"next_attempt_at,omitzero"`
	ExpiresAt      time.Time  `json:"expires_at,omitzero"`
}

// String prints the item without its token.
func (o OutboxItem) String() string {
	return fmt.Sprintf("store.OutboxItem{ID:%d Kind:%s MemberID:%q ActionID:%q ShareID:%d Token:%s Attempts:%d}",
		o.ID, o.Kind, o.MemberID, o.ActionID, o.ShareID, redact(o.Token), o.Attempts)
}

// GoString prints the item without its token (%#v).
func (o OutboxItem) GoString() string { return o.String() }

// LogValue logs the item without its token.
func (o OutboxItem) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("outbox_id", o.ID), slog.String("kind", string(o.Kind)),
		slog.String("member_id", o.MemberID), slog.Int("attempts", o.Attempts))
}

// Friend is one entry of a member's Facebook friend list (friends who use the app).
type Friend struct {
	FacebookUserID string `json:"facebook_user_id"`
	Name           string `json:"name"`
}

// FriendMember is a friend who is a connected member.
type FriendMember struct {
	MemberID       string `json:"member_id"`
	Name           string `json:"name"`
	FacebookUserID string `json:"facebook_user_id"`
}

// Activity is one title a friend shared.
type Activity struct {
	MemberID  string    `json:"member_id"`
	Name      string    `json:"name"`
	TitleID   string    `json:"title_id"`
	TitleName string    `json:"title_name"`
	SharedAt  time.Time `json:"shared_at"`
}

// ShareContext is everything the share decision needs, read at once.
type ShareContext struct {
	Member    Member
	Connected bool   // Member.Status == StatusConnected
	Hidden    bool   // the member hid this title
	LastShare *Share // most recent pending or posted share of this title by this member; nil if none
}

// PurgeOptions tunes PurgeMember.
type PurgeOptions struct {
	// Path names the trigger, recorded in the audit row: "disconnect",
	// "nats_disconnect", "deauthorize" or "data_deletion".
	Path string
	// DeleteHidden also deletes the member's hidden titles and settings row.
	DeleteHidden bool
	// Revoke, if non-nil, is enqueued in the purge transaction and survives
	// the purge (Kind is forced to revoke, MemberID to the purged member).
	// An empty Token is filled from the member's connection and an empty
	// FacebookUserID likewise; the token is sealed. ExpiresAt defaults to
	// now+OrphanTTL. If a revoke is already queued for the member, no second
	// one is added. On success Revoke.ID holds the queued item's id (0 if
	// nothing could be queued: no token and no Facebook id).
	Revoke *OutboxItem
	// KeepDeletions lets the member's queued post deletions (titles they
	// hid) outlive the purge: each keeps the member's token and its action
	// id sealed (nothing in the clear), its share link and error text go,
	// and it expires after OrphanTTL. For a disconnect from our side, where
	// the token still works; pointless after the member removed the app.
	KeepDeletions bool
	// Deletions are post deletions that failed just before the purge,
	// queued in its transaction as items that outlive it (kind forced to
	// delete_action, member to the purged one; token and action id sealed).
	Deletions []OutboxItem
}

// PurgeCounts says how many rows a purge deleted, per kind.
type PurgeCounts struct {
	Connections  int `json:"connections"`
	Shares       int `json:"shares"`
	Friends      int `json:"friends"`
	FriendOf     int `json:"friend_of"`
	HiddenTitles int `json:"hidden_titles"`
	OAuthStates  int `json:"oauth_states"`
	Outbox       int `json:"outbox"`
}

// DeletionRequest is a Facebook data-deletion request, looked up by its public code.
type DeletionRequest struct {
	Code        string    `json:"confirmation_code"`
	Status      string    `json:"status"` // "pending" or "complete"
	RequestedAt time.Time `json:"requested_at"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Deletion request statuses.
const (
	DeletionPending  = "pending"
	DeletionComplete = "complete"
)

// Export is everything held for a member, without tokens or ciphertexts.
type Export struct {
	MemberID     string        `json:"member_id"`
	Member       Member        `json:"member"`
	Shares       []Share       `json:"shares"`
	HiddenTitles []HiddenTitle `json:"hidden_titles"`
	Friends      []Friend      `json:"friends"`
	Outbox       []OutboxItem  `json:"outbox"`
	Audit        []PurgeAudit  `json:"audit"`
}

// PurgeAudit records one purge. It holds no Facebook data; MemberRef is a
// keyed SHA-256 (hex) of the member id.
type PurgeAudit struct {
	ID        int64       `json:"id"`
	At        time.Time   `json:"at"`
	Path      string      `json:"path"`
	MemberRef string      `json:"member_ref"`
	Counts    PurgeCounts `json:"counts"`
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}
