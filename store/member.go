package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ---------------------------------------------------------------------------
// OAuth states

// CreateOAuthState stores a pending connect flow. Only SHA-256(state) is
// stored; the PKCE verifier is sealed with the state hash as associated data.
// A zero CreatedAt means now, a zero ExpiresAt means CreatedAt+OAuthStateTTL.
func (db *DB) CreateOAuthState(ctx context.Context, s OAuthState) error {
	if s.State == "" || s.MemberID == "" {
		return errors.New("store: create oauth state: state and member id are required")
	}
	hash := sha256Hex(s.State)
	ct, err := db.seal.seal(s.Verifier, verifierAAD(hash))
	if err != nil {
		return err
	}
	return db.write(ctx, "create oauth state", func(tx *tx) error {
		created := msOr(s.CreatedAt, tx.now)
		expires := msOr(s.ExpiresAt, created.Add(OAuthStateTTL))
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (state_hash, member_id, verifier_ct, return_to, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, hash, s.MemberID, ct, s.ReturnTo, created.UnixMilli(), expires.UnixMilli())
		return err
	})
}

// ConsumeOAuthState looks a state up and deletes it in the same transaction:
// of several concurrent consumers exactly one gets it. Unknown or already used
// states give ErrNotFound; expired ones ErrExpired (and are deleted). A
// verifier that fails to decrypt gives ErrDecrypt (the state is still used up).
func (db *DB) ConsumeOAuthState(ctx context.Context, state string) (OAuthState, error) {
	hash := sha256Hex(state)
	var (
		out              OAuthState
		ct               []byte
		created, expires int64
		now              time.Time
	)
	err := db.write(ctx, "consume oauth state", func(tx *tx) error {
		now = tx.now
		return tx.QueryRowContext(ctx, `DELETE FROM oauth_states WHERE state_hash = ?
			RETURNING member_id, verifier_ct, return_to, created_at, expires_at`, hash).
			Scan(&out.MemberID, &ct, &out.ReturnTo, &created, &expires)
	})
	if err != nil {
		return OAuthState{}, err
	}
	// The state is used up from here on, whatever follows.
	out.State = state
	out.CreatedAt = time.UnixMilli(created).UTC()
	out.ExpiresAt = time.UnixMilli(expires).UTC()
	if !now.Before(out.ExpiresAt) {
		return OAuthState{}, wrap("consume oauth state", ErrExpired)
	}
	out.Verifier, err = db.seal.open(ct, verifierAAD(hash))
	if err != nil {
		return OAuthState{}, wrap("consume oauth state", err)
	}
	return out, nil
}

// DeleteExpiredOAuthStates deletes the states whose lifetime is over and
// returns how many.
func (db *DB) DeleteExpiredOAuthStates(ctx context.Context) (n int, err error) {
	err = db.write(ctx, "delete expired oauth states", func(tx *tx) error {
		n, err = execCount(ctx, tx, `DELETE FROM oauth_states WHERE expires_at <= ?`, tx.now.UnixMilli())
		return err
	})
	return n, err
}

// ---------------------------------------------------------------------------
// Members and connections

// memberTail lists the member columns after the member id; it expects the
// aliases m (members) and c (connections), both possibly NULL.
const memberTail = `COALESCE(m.sharing_enabled, 1), c.status, c.facebook_user_id, c.name, c.scopes_json,
	c.can_publish, c.token_expires_at, c.connected_at, c.consent_at, c.last_friend_sync, c.next_friend_sync`

// memberFrom makes memberTail select member ?1 whether or not it has a
// members or a connections row.
const memberFrom = `FROM (SELECT ?1 AS id) q
	LEFT JOIN members m ON m.member_id = q.id
	LEFT JOIN connections c ON c.member_id = q.id`

// memberRow scans memberTail.
type memberRow struct {
	sharing                        bool
	status, fbID, name, scopes     sql.NullString
	canPublish                     sql.NullBool
	expires, connected, consent    sql.NullInt64
	lastFriendSync, nextFriendSync sql.NullInt64
}

func (r *memberRow) dest() []any {
	return []any{&r.sharing, &r.status, &r.fbID, &r.name, &r.scopes, &r.canPublish,
		&r.expires, &r.connected, &r.consent, &r.lastFriendSync, &r.nextFriendSync}
}

func (r *memberRow) member(id string) Member {
	m := Member{MemberID: id, Status: StatusNotConnected, SharingEnabled: r.sharing}
	if !r.status.Valid {
		return m
	}
	m.Status = MemberStatus(r.status.String)
	m.FacebookUserID = r.fbID.String
	m.Name = r.name.String
	m.Scopes = []string{}
	if r.scopes.Valid && r.scopes.String != "" {
		_ = json.Unmarshal([]byte(r.scopes.String), &m.Scopes)
	}
	m.CanPublish = r.canPublish.Bool
	m.TokenExpiresAt = fromMS(r.expires)
	m.ConnectedAt = fromMS(r.connected)
	m.ConsentAt = fromMS(r.consent)
	m.LastFriendSync = fromMS(r.lastFriendSync)
	m.NextFriendSync = fromMS(r.nextFriendSync)
	return m
}

// GetMember returns the member. A member never seen before is not an error:
// Status is not_connected and SharingEnabled true.
func (db *DB) GetMember(ctx context.Context, memberID string) (Member, error) {
	m, err := getMember(ctx, db.reader, memberID)
	return m, wrap("get member", err)
}

func getMember(ctx context.Context, q querier, memberID string) (Member, error) {
	var r memberRow
	if err := q.QueryRowContext(ctx, `SELECT `+memberTail+` `+memberFrom, memberID).Scan(r.dest()...); err != nil {
		return Member{}, err
	}
	return r.member(memberID), nil
}

// MemberByFacebookUserID returns the member connected to the Facebook
// account, or ErrNotFound.
func (db *DB) MemberByFacebookUserID(ctx context.Context, facebookUserID string) (Member, error) {
	var (
		id string
		r  memberRow
	)
	err := db.reader.QueryRowContext(ctx, `SELECT c.member_id, `+memberTail+`
		FROM connections c LEFT JOIN members m ON m.member_id = c.member_id
		WHERE c.facebook_user_id = ?`, facebookUserID).Scan(append([]any{&id}, r.dest()...)...)
	if err != nil {
		return Member{}, wrap("member by facebook user id", err)
	}
	return r.member(id), nil
}

// ConnectedMemberIDs returns the ids of members whose status is connected,
// sorted.
func (db *DB) ConnectedMemberIDs(ctx context.Context) ([]string, error) {
	ids, err := queryAll(ctx, db.reader, scanString, `SELECT member_id FROM connections WHERE status = 'connected' ORDER BY member_id`)
	return ids, wrap("connected member ids", err)
}

// SaveConnection stores the member's Facebook connection, creating the member
// row if missing. A reconnect replaces the previous connection (new token,
// status back to connected) and keeps the member's settings, hidden titles
// and shares; replaced reports that there was one. If the member switched to
// another Facebook account, the friend data of the old account is dropped.
// ErrFacebookAccountInUse if the Facebook account is connected to another
// member.
func (db *DB) SaveConnection(ctx context.Context, c Connection) (replaced bool, err error) {
	if c.MemberID == "" || c.FacebookUserID == "" || c.Token == "" {
		return false, errors.New("store: save connection: member id, facebook user id and token are required")
	}
	ct, err := db.seal.seal(c.Token, tokenAAD(c.MemberID))
	if err != nil {
		return false, err
	}
	err = db.write(ctx, "save connection", func(tx *tx) error {
		replaced, err = saveConnection(ctx, tx, c, ct)
		return err
	})
	return replaced, err
}

// ImportConnections saves many connections in one transaction, each as
// SaveConnection would (a bulk import, e.g. of members connected in another
// system); all are saved or none. A non-zero nextFriendSync schedules their
// first friend sync, else they are due at once.
func (db *DB) ImportConnections(ctx context.Context, cs []Connection, nextFriendSync time.Time) error {
	cts := make([][]byte, len(cs))
	for i, c := range cs {
		if c.MemberID == "" || c.FacebookUserID == "" || c.Token == "" {
			return errors.New("store: import connections: member id, facebook user id and token are required")
		}
		ct, err := db.seal.seal(c.Token, tokenAAD(c.MemberID))
		if err != nil {
			return err
		}
		cts[i] = ct
	}
	return db.write(ctx, "import connections", func(tx *tx) error {
		for i, c := range cs {
			if _, err := saveConnection(ctx, tx, c, cts[i]); err != nil {
				return fmt.Errorf("member %s: %w", c.MemberID, err)
			}
			if nextFriendSync.IsZero() {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE connections SET next_friend_sync = ? WHERE member_id = ?`,
				nextFriendSync.UnixMilli(), c.MemberID); err != nil {
				return err
			}
		}
		return nil
	})
}

func saveConnection(ctx context.Context, tx *tx, c Connection, tokenCT []byte) (bool, error) {
	if err := ensureMember(ctx, tx, c.MemberID); err != nil {
		return false, err
	}
	// The account's owner, if any, and the member's current account, if any.
	var owner, oldFB sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT (SELECT member_id FROM connections WHERE facebook_user_id = ?),
		(SELECT facebook_user_id FROM connections WHERE member_id = ?)`, c.FacebookUserID, c.MemberID).Scan(&owner, &oldFB)
	if err != nil {
		return false, err
	}
	if owner.Valid && owner.String != c.MemberID {
		return false, ErrFacebookAccountInUse
	}
	replaced := oldFB.Valid
	if replaced && oldFB.String != c.FacebookUserID {
		// Another Facebook account: what came from the old one goes.
		if _, err := tx.ExecContext(ctx, `DELETE FROM friends WHERE member_id = ?`, c.MemberID); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM friends WHERE friend_facebook_user_id = ?`, oldFB.String); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE connections SET last_friend_sync = NULL, next_friend_sync = 0 WHERE member_id = ?`, c.MemberID); err != nil {
			return false, err
		}
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	scopesJSON, err := json.Marshal(scopes)
	if err != nil {
		return false, err
	}
	connected := msOr(c.ConnectedAt, tx.now)
	consent := msOr(c.ConsentAt, tx.now)
	_, err = tx.ExecContext(ctx, `INSERT INTO connections (member_id, facebook_user_id, name, scopes_json, can_publish,
			token_ct, token_expires_at, status, connected_at, consent_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'connected', ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET
			facebook_user_id = excluded.facebook_user_id, name = excluded.name, scopes_json = excluded.scopes_json,
			can_publish = excluded.can_publish, token_ct = excluded.token_ct, token_expires_at = excluded.token_expires_at,
			status = 'connected', connected_at = excluded.connected_at, consent_at = excluded.consent_at`,
		c.MemberID, c.FacebookUserID, c.Name, string(scopesJSON), c.CanPublish,
		tokenCT, ms(c.TokenExpiresAt), connected.UnixMilli(), consent.UnixMilli())
	if err != nil {
		return false, err
	}
	return replaced, bumpVersion(ctx, tx)
}

// MemberToken returns the member's decrypted access token, whatever the
// connection status. ErrNotConnected if the member has no connection,
// ErrDecrypt if the ciphertext does not belong to this member or was altered.
func (db *DB) MemberToken(ctx context.Context, memberID string) (string, error) {
	var ct []byte
	err := db.reader.QueryRowContext(ctx, `SELECT token_ct FROM connections WHERE member_id = ?`, memberID).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return "", wrap("member token", ErrNotConnected)
	}
	if err != nil {
		return "", wrap("member token", err)
	}
	tok, err := db.seal.open(ct, tokenAAD(memberID))
	return tok, wrap("member token", err)
}

// SetSharingEnabled pauses (false) or resumes (true) posting for the member,
// creating the member row if missing.
func (db *DB) SetSharingEnabled(ctx context.Context, memberID string, enabled bool) error {
	return db.write(ctx, "set sharing enabled", func(tx *tx) error {
		if err := ensureMember(ctx, tx, memberID); err != nil {
			return err
		}
		_, err := execBump(ctx, tx, `UPDATE members SET sharing_enabled = ? WHERE member_id = ? AND sharing_enabled <> ?`,
			enabled, memberID, enabled)
		return err
	})
}

// MarkReconnectRequired flags a connected member's token as unusable (Graph
// error 190). changed is false if the member was not in status connected.
func (db *DB) MarkReconnectRequired(ctx context.Context, memberID string) (changed bool, err error) {
	err = db.write(ctx, "mark reconnect required", func(tx *tx) error {
		changed, err = execBump(ctx, tx, `UPDATE connections SET status = 'reconnect_required' WHERE member_id = ? AND status = 'connected'`, memberID)
		return err
	})
	return changed, err
}

// checkConnected returns ErrNotConnected unless the member has a connection
// (in any status).
func checkConnected(ctx context.Context, tx *tx, memberID string) error {
	var connected bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM connections WHERE member_id = ?)`, memberID).Scan(&connected)
	if err == nil && !connected {
		return ErrNotConnected
	}
	return err
}
