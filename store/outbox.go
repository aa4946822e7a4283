package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

const outboxCols = `o.id, o.kind, o.member_id, o.facebook_user_id, o.action_id, o.share_id, o.attempts, o.last_error,
	o.created_at, o.next_attempt_at, o.expires_at`

type outboxRow struct {
	o                      OutboxItem
	kind                   string
	shareID                sql.NullInt64
	created, next, expires sql.NullInt64
}

func (r *outboxRow) dest() []any {
	return []any{&r.o.ID, &r.kind, &r.o.MemberID, &r.o.FacebookUserID, &r.o.ActionID, &r.shareID, &r.o.Attempts,
		&r.o.LastError, &r.created, &r.next, &r.expires}
}

func (r *outboxRow) item() OutboxItem {
	o := r.o
	o.Kind = OutboxKind(r.kind)
	o.ShareID = r.shareID.Int64
	o.CreatedAt = fromMS(r.created)
	o.NextAttemptAt = fromMS(r.next)
	o.ExpiresAt = fromMS(r.expires)
	return o
}

// listOutbox lists outbox items (alias o) without tokens.
func listOutbox(ctx context.Context, q querier, where string, args ...any) ([]OutboxItem, error) {
	return queryAll(ctx, q, func(rows *sql.Rows) (OutboxItem, error) {
		var r outboxRow
		err := rows.Scan(r.dest()...)
		return r.item(), err
	}, `SELECT `+outboxCols+` FROM outbox o WHERE `+where, args...)
}

// ClaimOutbox takes up to limit items due at now (next_attempt_at <= now,
// not expired), oldest first, and in the same transaction pushes their
// next_attempt_at to now+lease, so another process claiming meanwhile does
// not get them. Tokens are decrypted: the item's own token if it has one,
// else the member's current connection token (empty if the member has no
// connection or the ciphertext fails to decrypt, which is logged without the
// token). The caller ends each item with CompleteOutbox or RetryOutbox; an
// item left alone is due again when the lease ends.
func (db *DB) ClaimOutbox(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	now = msTime(now)
	next := msTime(now.Add(lease))
	type claimed struct {
		item     OutboxItem
		ownCT    []byte
		memberCT []byte
	}
	var got []claimed
	err := db.write(ctx, "claim outbox", func(tx *tx) error {
		var err error
		got, err = queryAll(ctx, tx, func(rows *sql.Rows) (claimed, error) {
			var (
				r  outboxRow
				cl claimed
			)
			err := rows.Scan(append(r.dest(), &cl.ownCT, &cl.memberCT)...)
			cl.item = r.item()
			cl.item.NextAttemptAt = next
			return cl, err
		}, `SELECT `+outboxCols+`, o.token_ct, c.token_ct
			FROM outbox o LEFT JOIN connections c ON o.token_ct IS NULL AND c.member_id = o.member_id
			WHERE o.next_attempt_at <= ?1 AND (o.expires_at IS NULL OR o.expires_at > ?1)
			-- a revocation waits for the member's post deletions: they need the app's access;
			-- in the last hour of its life it goes anyway (they expire with it)
			AND NOT (o.kind = 'revoke' AND (o.expires_at IS NULL OR o.expires_at > ?1 + 3600000) AND EXISTS (SELECT 1 FROM outbox d
				WHERE d.kind = 'delete_action' AND d.member_id = o.member_id AND (d.expires_at IS NULL OR d.expires_at > ?1)))
			ORDER BY o.next_attempt_at, o.id LIMIT ?2`, now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		for _, cl := range got {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ?`, next.UnixMilli(), cl.item.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]OutboxItem, 0, len(got))
	for _, cl := range got {
		item := cl.item
		var err error
		switch {
		case cl.ownCT != nil:
			item.OwnToken = true
			var actionID string
			item.Token, actionID, err = db.openOwn(item.MemberID, cl.ownCT)
			if actionID != "" {
				item.ActionID = actionID
			}
		case cl.memberCT != nil:
			item.Token, err = db.seal.open(cl.memberCT, tokenAAD(item.MemberID))
		}
		if err != nil {
			db.log.WarnContext(ctx, "store: outbox token does not decrypt", slog.Int64("outbox_id", item.ID))
			item.Token = ""
		}
		out = append(out, item)
	}
	return out, nil
}

// insertOwnTokenItem inserts an outbox item that outlives the connection:
// its token and action id (if any) are sealed together under the outbox
// associated data, so neither is on disk in the clear. Defaults:
// NextAttemptAt now, ExpiresAt now+OrphanTTL.
func (db *DB) insertOwnTokenItem(ctx context.Context, tx *tx, item OutboxItem) (int64, error) {
	var ct []byte
	if item.Token != "" || item.ActionID != "" {
		var err error
		if ct, err = db.sealOwn(item.MemberID, item.Token, item.ActionID); err != nil {
			return 0, err
		}
	}
	next := msOr(item.NextAttemptAt, tx.now)
	expires := msOr(item.ExpiresAt, tx.now.Add(OrphanTTL))
	var shareID any
	if item.ShareID != 0 {
		shareID = item.ShareID
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outbox (kind, member_id, facebook_user_id, action_id, share_id, token_ct,
			created_at, next_attempt_at, expires_at) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?) RETURNING id`,
		string(item.Kind), item.MemberID, item.FacebookUserID, shareID, ct,
		tx.now.UnixMilli(), next.UnixMilli(), expires.UnixMilli()).Scan(&id)
	return id, err
}

// ownPayload is what an item that outlives the connection keeps, sealed:
// the token to act with and the action to delete.
type ownPayload struct {
	Token    string `json:"t"`
	ActionID string `json:"a,omitempty"`
}

func (db *DB) sealOwn(memberID, token, actionID string) ([]byte, error) {
	b, err := json.Marshal(ownPayload{Token: token, ActionID: actionID})
	if err != nil {
		return nil, err
	}
	return db.seal.seal(string(b), outboxAAD(memberID))
}

// openOwn opens what sealOwn sealed; a bare token (sealed by an earlier
// version, which kept the action id in the clear) is accepted too.
func (db *DB) openOwn(memberID string, ct []byte) (token, actionID string, err error) {
	pt, err := db.seal.open(ct, outboxAAD(memberID))
	if err != nil || !strings.HasPrefix(pt, "{") {
		return pt, "", err
	}
	var p ownPayload
	if err := json.Unmarshal([]byte(pt), &p); err != nil {
		return "", "", err
	}
	return p.Token, p.ActionID, nil
}

// CompleteOutbox deletes a finished item; for a delete_action it also deletes
// the share row being deleted. ErrNotFound if the item is gone.
func (db *DB) CompleteOutbox(ctx context.Context, id int64) error {
	var outlived bool // the item outlived a purged connection
	err := db.write(ctx, "complete outbox", func(tx *tx) error {
		var (
			kind    string
			shareID sql.NullInt64
		)
		if err := tx.QueryRowContext(ctx, `DELETE FROM outbox WHERE id = ? RETURNING kind, share_id, token_ct IS NOT NULL`, id).Scan(&kind, &shareID, &outlived); err != nil {
			return err
		}
		if OutboxKind(kind) != OutboxDeleteAction || !shareID.Valid {
			return nil
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE id = ? AND status = 'deleting'`, shareID.Int64)
		return err
	})
	if err == nil && outlived {
		// It held the last Facebook data of a purged member (their Facebook
		// id, an action id, the sealed token): like a purge, leave no bytes
		// of it in the WAL.
		db.checkpointAfterPurge(ctx)
	}
	return err
}

// RetryOutbox records a failed attempt: attempts+1, the error text (bounded,
// with anything looking like a credential in a URL redacted) and the next
// attempt time. ErrNotFound if the item is gone.
func (db *DB) RetryOutbox(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return db.write(ctx, "retry outbox", func(tx *tx) error {
		return execOne(ctx, tx, ErrNotFound, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`,
			msOr(next, tx.now).UnixMilli(), scrubError(lastErr), id)
	})
}

// DropExpiredOutbox deletes items whose ExpiresAt is at or before now (items
// carrying their own token after a purge) and returns how many.
func (db *DB) DropExpiredOutbox(ctx context.Context, now time.Time) (n int, err error) {
	err = db.write(ctx, "drop expired outbox", func(tx *tx) error {
		n, err = execCount(ctx, tx, `DELETE FROM outbox WHERE expires_at IS NOT NULL AND expires_at <= ?`, now.UnixMilli())
		return err
	})
	if err == nil && n > 0 {
		db.checkpointAfterPurge(ctx) // as CompleteOutbox
	}
	return n, err
}

// OutboxCounts returns the number of queued items per kind (both kinds
// always present).
func (db *DB) OutboxCounts(ctx context.Context) (map[OutboxKind]int, error) {
	var deletes, revokes int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE kind = 'delete_action'),
		COUNT(*) FILTER (WHERE kind = 'revoke') FROM outbox`).Scan(&deletes, &revokes)
	if err != nil {
		return nil, wrap("outbox counts", err)
	}
	return map[OutboxKind]int{OutboxDeleteAction: deletes, OutboxRevoke: revokes}, nil
}

// PendingDeletions counts the queued deletions of the member's shares of the title.
func (db *DB) PendingDeletions(ctx context.Context, memberID, titleID string) (int, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox o JOIN shares s ON s.id = o.share_id
		WHERE o.kind = 'delete_action' AND s.member_id = ? AND s.title_id = ?`, memberID, titleID).Scan(&n)
	return n, wrap("pending deletions", err)
}
