package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Purge paths, recorded in purge_audit.
const (
	PurgeDisconnect     = "disconnect"
	PurgeNATSDisconnect = "nats_disconnect"
	PurgeDeauthorize    = "deauthorize"
	PurgeDataDeletion   = "data_deletion"
)

// PurgeMember deletes, in one transaction, everything imported from or
// published to Facebook for the member: the connection (token, Facebook id,
// name, scopes), all shares and action ids, the member's friend list, every
// entry naming the member in other members' friend lists, OAuth states and
// outbox items (except revokes already queued, which must outlive the purge,
// and opts.Revoke, inserted in the same transaction). Hidden titles and the
// member's settings row are deleted only with opts.DeleteHidden. A purge_audit
// row without personal data is added and ChangeVersion bumped. It is
// idempotent: purging a member with nothing gives zero counts. After the
// commit the WAL is checkpointed with TRUNCATE so that no deleted bytes
// linger in the -wal file; a checkpoint that cannot complete is logged, not
// returned (the purge itself is durable).
func (db *DB) PurgeMember(ctx context.Context, memberID string, opts PurgeOptions) (counts PurgeCounts, err error) {
	if memberID == "" {
		return PurgeCounts{}, errors.New("store: purge member: empty member id")
	}
	err = db.write(ctx, "purge member", func(tx *tx) error {
		counts, err = db.purge(ctx, tx, memberID, opts)
		return err
	})
	if err != nil {
		return PurgeCounts{}, err
	}
	db.checkpointAfterPurge(ctx)
	return counts, nil
}

// PurgeByFacebookUserID purges (as PurgeMember) the member connected to the
// Facebook account, found and purged in the same transaction. ErrNotFound if
// no member has that account (for instance because it was already purged).
func (db *DB) PurgeByFacebookUserID(ctx context.Context, facebookUserID string, opts PurgeOptions) (memberID string, counts PurgeCounts, err error) {
	if facebookUserID == "" {
		return "", PurgeCounts{}, wrap("purge by facebook user id", ErrNotFound)
	}
	err = db.write(ctx, "purge by facebook user id", func(tx *tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT member_id FROM connections WHERE facebook_user_id = ?`, facebookUserID).Scan(&memberID); err != nil {
			return err
		}
		counts, err = db.purge(ctx, tx, memberID, opts)
		return err
	})
	if err != nil {
		return "", PurgeCounts{}, err
	}
	db.checkpointAfterPurge(ctx)
	return memberID, counts, nil
}

// checkpointAfterPurge checkpoints the WAL so that no deleted bytes linger
// in it. A reader still on an older snapshot blocks the checkpoint (after
// the busy timeout); it is then owed, and CheckpointIfOwed (run by
// housekeeping) completes it.
func (db *DB) checkpointAfterPurge(ctx context.Context) {
	if err := db.Checkpoint(ctx); err != nil {
		db.checkpointOwed.Store(true)
		db.log.WarnContext(ctx, "store: wal checkpoint after purge blocked; retried by housekeeping", slog.String("error", err.Error()))
	}
}

// CheckpointIfOwed completes a checkpoint after a purge that a reader
// blocked; it does nothing when none is owed.
func (db *DB) CheckpointIfOwed(ctx context.Context) error {
	if !db.checkpointOwed.Swap(false) {
		return nil
	}
	if err := db.Checkpoint(ctx); err != nil {
		db.checkpointOwed.Store(true)
		return err
	}
	return nil
}

func (db *DB) purge(ctx context.Context, tx *tx, memberID string, opts PurgeOptions) (PurgeCounts, error) {
	if opts.Path == "" {
		return PurgeCounts{}, errors.New("purge path is required")
	}
	var (
		fbID    sql.NullString
		tokenCT []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT facebook_user_id, token_ct FROM connections WHERE member_id = ?`, memberID).Scan(&fbID, &tokenCT)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return PurgeCounts{}, err
	}
	if opts.Revoke != nil {
		// Before the deletes, which keep revokes anyway.
		if opts.Revoke.ID, err = db.queueRevoke(ctx, tx, memberID, *opts.Revoke, fbID.String, tokenCT); err != nil {
			return PurgeCounts{}, err
		}
	}

	if opts.KeepDeletions && tokenCT != nil {
		if err := db.keepQueuedDeletions(ctx, tx, memberID, tokenCT); err != nil {
			return PurgeCounts{}, err
		}
	}

	outboxPurge := `DELETE FROM outbox WHERE member_id = ? AND kind <> 'revoke'`
	if opts.KeepDeletions {
		outboxPurge += ` AND token_ct IS NULL` // the kept deletions, sealed above
	}
	var c PurgeCounts
	for _, d := range []struct {
		n     *int
		skip  bool
		query string
		arg   string
	}{
		{&c.Connections, false, `DELETE FROM connections WHERE member_id = ?`, memberID},
		{&c.Shares, false, `DELETE FROM shares WHERE member_id = ?`, memberID},
		{&c.Friends, false, `DELETE FROM friends WHERE member_id = ?`, memberID},
		{&c.FriendOf, fbID.String == "", `DELETE FROM friends WHERE friend_facebook_user_id = ?`, fbID.String},
		{&c.OAuthStates, false, `DELETE FROM oauth_states WHERE member_id = ?`, memberID},
		{&c.Outbox, false, outboxPurge, memberID},
		{&c.HiddenTitles, !opts.DeleteHidden, `DELETE FROM hidden_titles WHERE member_id = ?`, memberID},
		{new(int), !opts.DeleteHidden, `DELETE FROM members WHERE member_id = ?`, memberID}, // settings row, not counted
	} {
		if d.skip {
			continue
		}
		if *d.n, err = execCount(ctx, tx, d.query, d.arg); err != nil {
			return PurgeCounts{}, err
		}
	}

	for _, d := range opts.Deletions {
		d.Kind, d.MemberID, d.ShareID = OutboxDeleteAction, memberID, 0
		if _, err := db.insertOwnTokenItem(ctx, tx, d); err != nil {
			return PurgeCounts{}, err
		}
	}

	countsJSON, err := json.Marshal(c)
	if err != nil {
		return PurgeCounts{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO purge_audit (at, path, member_ref, counts_json) VALUES (?, ?, ?, ?)`,
		tx.now.UnixMilli(), opts.Path, db.memberRef(memberID), string(countsJSON)); err != nil {
		return PurgeCounts{}, err
	}
	return c, bumpVersion(ctx, tx)
}

// keepQueuedDeletions turns the member's queued post deletions into items
// that outlive the purge (see PurgeOptions.KeepDeletions).
func (db *DB) keepQueuedDeletions(ctx context.Context, tx *tx, memberID string, tokenCT []byte) error {
	token, err := db.seal.open(tokenCT, tokenAAD(memberID))
	if err != nil {
		db.log.WarnContext(ctx, "store: token does not decrypt; queued deletions purged with the member")
		return nil
	}
	items, err := queryAll(ctx, tx, scanIDAction, `SELECT id, action_id FROM outbox WHERE member_id = ? AND kind = 'delete_action' AND token_ct IS NULL`, memberID)
	if err != nil {
		return err
	}
	for _, q := range items {
		ct, err := db.sealOwn(memberID, token, q.actionID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET token_ct = ?, action_id = '', facebook_user_id = '', share_id = NULL, last_error = '',
			expires_at = ? WHERE id = ?`, ct, tx.now.Add(OrphanTTL).UnixMilli(), q.id); err != nil {
			return err
		}
	}
	return nil
}

// QueuedDeletions counts the member's queued post deletions.
func (db *DB) QueuedDeletions(ctx context.Context, memberID string) (int, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE member_id = ? AND kind = 'delete_action'`, memberID).Scan(&n)
	return n, wrap("queued deletions", err)
}

// queueRevoke queues r as the member's revoke (see PurgeOptions.Revoke) and
// returns its id: the id of a revoke already queued for the member if there
// is one, 0 if there is nothing to revoke with (no token, no Facebook id).
// fbID and tokenCT come from the member's connection (empty if none).
func (db *DB) queueRevoke(ctx context.Context, tx *tx, memberID string, r OutboxItem, fbID string, tokenCT []byte) (int64, error) {
	var existing int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM outbox WHERE member_id = ? AND kind = 'revoke' ORDER BY id LIMIT 1`, memberID).Scan(&existing)
	if !errors.Is(err, sql.ErrNoRows) {
		return existing, err
	}
	r.Kind = OutboxRevoke
	r.MemberID = memberID
	r.ShareID = 0
	r.ActionID = ""
	if r.FacebookUserID == "" {
		r.FacebookUserID = fbID
	}
	if r.Token == "" && tokenCT != nil {
		if r.Token, err = db.seal.open(tokenCT, tokenAAD(memberID)); err != nil {
			db.log.WarnContext(ctx, "store: token does not decrypt; revoke queued without it")
			r.Token = ""
		}
	}
	if r.Token == "" && r.FacebookUserID == "" {
		return 0, nil
	}
	return db.insertOwnTokenItem(ctx, tx, r)
}

// InFlightShares counts the member's post attempts begun at or after since
// that are not recorded yet (pending shares): posts that may still land at
// Facebook.
func (db *DB) InFlightShares(ctx context.Context, memberID string, since time.Time) (int, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM shares
		WHERE member_id = ? AND status = 'pending' AND attempted_at >= ?`, memberID, since.UnixMilli()).Scan(&n)
	return n, wrap("in-flight shares", err)
}

// PurgeAudits returns every purge audit row, newest first.
func (db *DB) PurgeAudits(ctx context.Context) ([]PurgeAudit, error) {
	out, err := listAudits(ctx, db.reader, `1 = 1`)
	return out, wrap("purge audits", err)
}

func listAudits(ctx context.Context, q querier, where string, args ...any) ([]PurgeAudit, error) {
	return queryAll(ctx, q, func(rows *sql.Rows) (PurgeAudit, error) {
		var (
			a      PurgeAudit
			at     int64
			counts string
		)
		if err := rows.Scan(&a.ID, &at, &a.Path, &a.MemberRef, &counts); err != nil {
			return PurgeAudit{}, err
		}
		a.At = time.UnixMilli(at).UTC()
		if err := json.Unmarshal([]byte(counts), &a.Counts); err != nil {
			return PurgeAudit{}, fmt.Errorf("purge audit %d: %w", a.ID, err)
		}
		return a, nil
	}, `SELECT id, at, path, member_ref, counts_json FROM purge_audit WHERE `+where+` ORDER BY at DESC, id DESC`, args...)
}

// ---------------------------------------------------------------------------
// Data deletion requests

// CreateDeletionRequest records a pending data-deletion request under its
// public confirmation code. ErrConflict if the code exists.
func (db *DB) CreateDeletionRequest(ctx context.Context, code string) error {
	if code == "" {
		return errors.New("store: create deletion request: empty code")
	}
	return db.write(ctx, "create deletion request", func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deletion_requests (code, status, requested_at) VALUES (?, ?, ?)`,
			code, DeletionPending, tx.now.UnixMilli())
		return err
	})
}

// CompleteDeletionRequest marks the request complete (idempotent).
// ErrNotFound if the code is unknown.
func (db *DB) CompleteDeletionRequest(ctx context.Context, code string) error {
	return db.write(ctx, "complete deletion request", func(tx *tx) error {
		return execOne(ctx, tx, ErrNotFound, `UPDATE deletion_requests SET status = ?, completed_at = COALESCE(completed_at, ?)
			WHERE code = ?`, DeletionComplete, tx.now.UnixMilli(), code)
	})
}

// GetDeletionRequest returns the request, or ErrNotFound.
func (db *DB) GetDeletionRequest(ctx context.Context, code string) (DeletionRequest, error) {
	var (
		r         DeletionRequest
		requested int64
		completed sql.NullInt64
	)
	err := db.reader.QueryRowContext(ctx, `SELECT code, status, requested_at, completed_at FROM deletion_requests WHERE code = ?`, code).
		Scan(&r.Code, &r.Status, &requested, &completed)
	if err != nil {
		return DeletionRequest{}, wrap("get deletion request", err)
	}
	r.RequestedAt = time.UnixMilli(requested).UTC()
	r.CompletedAt = fromMS(completed)
	return r, nil
}

// ---------------------------------------------------------------------------
// Export

// Export returns everything held for the member, read in one snapshot:
// member and connection details, all shares (any status), hidden titles,
// friend list, queued outbox items and purge audit rows. It never contains a
// token or ciphertext. A never-seen member gives an empty export.
func (db *DB) Export(ctx context.Context, memberID string) (Export, error) {
	rtx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Export{}, wrap("export", err)
	}
	defer rtx.Rollback()
	ex := Export{MemberID: memberID}
	if ex.Member, err = getMember(ctx, rtx, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.Shares, err = listShares(ctx, rtx, `member_id = ? ORDER BY id DESC`, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.HiddenTitles, err = listHidden(ctx, rtx, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.Friends, err = listFriends(ctx, rtx, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.Outbox, err = listOutbox(ctx, rtx, `o.member_id = ? ORDER BY o.id`, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.Audit, err = listAudits(ctx, rtx, `member_ref = ?`, db.memberRef(memberID)); err != nil {
		return Export{}, wrap("export", err)
	}
	return ex, nil
}
