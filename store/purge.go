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
func (db *DB) PurgeMember(ctx context.Context, memberID string, opts PurgeOptions) (PurgeCounts, error) {
	if memberID == "" {
		return PurgeCounts{}, errors.New("store: purge member: empty member id")
	}
	tx, err := db.beginTx(ctx)
	if err != nil {
		return PurgeCounts{}, wrap("purge member", err)
	}
	defer tx.Rollback()
	counts, err := db.purge(ctx, tx, memberID, opts)
	if err != nil {
		return PurgeCounts{}, wrap("purge member", err)
	}
	if err := tx.Commit(); err != nil {
		return PurgeCounts{}, wrap("purge member", err)
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
	tx, err := db.beginTx(ctx)
	if err != nil {
		return "", PurgeCounts{}, wrap("purge by facebook user id", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT member_id FROM connections WHERE facebook_user_id = ?`, facebookUserID).Scan(&memberID); err != nil {
		return "", PurgeCounts{}, wrap("purge by facebook user id", err)
	}
	counts, err = db.purge(ctx, tx, memberID, opts)
	if err != nil {
		return "", PurgeCounts{}, wrap("purge by facebook user id", err)
	}
	if err := tx.Commit(); err != nil {
		return "", PurgeCounts{}, wrap("purge by facebook user id", err)
	}
	db.checkpointAfterPurge(ctx)
	return memberID, counts, nil
}

func (db *DB) checkpointAfterPurge(ctx context.Context) {
	if err := db.Checkpoint(ctx); err != nil {
		db.log.WarnContext(ctx, "store: wal checkpoint after purge incomplete", slog.String("error", err.Error()))
	}
}

func (db *DB) purge(ctx context.Context, tx *tx, memberID string, opts PurgeOptions) (PurgeCounts, error) {
	if opts.Path == "" {
		return PurgeCounts{}, errors.New("purge path is required")
	}
	var (
		c       PurgeCounts
		fbID    sql.NullString
		tokenCT []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT facebook_user_id, token_ct FROM connections WHERE member_id = ?`, memberID).Scan(&fbID, &tokenCT)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return PurgeCounts{}, err
	}

	var revoke *OutboxItem
	if opts.Revoke != nil {
		r := *opts.Revoke
		r.Kind = OutboxRevoke
		r.MemberID = memberID
		r.ShareID = 0
		r.ActionID = ""
		if r.FacebookUserID == "" {
			r.FacebookUserID = fbID.String
		}
		if r.Token == "" && tokenCT != nil {
			if r.Token, err = db.seal.open(tokenCT, tokenAAD(memberID)); err != nil {
				db.log.WarnContext(ctx, "store: token does not decrypt; revoke queued without it")
				r.Token = ""
			}
		}
		if r.Token != "" || r.FacebookUserID != "" {
			revoke = &r
		}
	}

	del := func(n *int, q string, args ...any) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		*n, err = affected(res)
		return err
	}
	if err := del(&c.Connections, `DELETE FROM connections WHERE member_id = ?`, memberID); err != nil {
		return PurgeCounts{}, err
	}
	if err := del(&c.Shares, `DELETE FROM shares WHERE member_id = ?`, memberID); err != nil {
		return PurgeCounts{}, err
	}
	if err := del(&c.Friends, `DELETE FROM friends WHERE member_id = ?`, memberID); err != nil {
		return PurgeCounts{}, err
	}
	if fbID.Valid && fbID.String != "" {
		if err := del(&c.FriendOf, `DELETE FROM friends WHERE friend_facebook_user_id = ?`, fbID.String); err != nil {
			return PurgeCounts{}, err
		}
	}
	if err := del(&c.OAuthStates, `DELETE FROM oauth_states WHERE member_id = ?`, memberID); err != nil {
		return PurgeCounts{}, err
	}
	if err := del(&c.Outbox, `DELETE FROM outbox WHERE member_id = ? AND kind <> 'revoke'`, memberID); err != nil {
		return PurgeCounts{}, err
	}
	if opts.DeleteHidden {
		if err := del(&c.HiddenTitles, `DELETE FROM hidden_titles WHERE member_id = ?`, memberID); err != nil {
			return PurgeCounts{}, err
		}
		var n int
		if err := del(&n, `DELETE FROM members WHERE member_id = ?`, memberID); err != nil {
			return PurgeCounts{}, err
		}
	}

	if opts.Revoke != nil {
		var existing int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM outbox WHERE member_id = ? AND kind = 'revoke' ORDER BY id LIMIT 1`, memberID).Scan(&existing)
		switch {
		case err == nil:
			opts.Revoke.ID = existing
		case !errors.Is(err, sql.ErrNoRows):
			return PurgeCounts{}, err
		case revoke != nil:
			if opts.Revoke.ID, err = db.insertOwnTokenItem(ctx, tx, *revoke); err != nil {
				return PurgeCounts{}, err
			}
		default:
			opts.Revoke.ID = 0
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

// PurgeAudits returns every purge audit row, newest first.
func (db *DB) PurgeAudits(ctx context.Context) ([]PurgeAudit, error) {
	out, err := listAudits(ctx, db.reader, `1 = 1`)
	return out, wrap("purge audits", err)
}

func listAudits(ctx context.Context, q querier, where string, args ...any) ([]PurgeAudit, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, at, path, member_ref, counts_json FROM purge_audit WHERE `+where+
		` ORDER BY at DESC, id DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PurgeAudit{}
	for rows.Next() {
		var (
			a      PurgeAudit
			at     int64
			counts string
		)
		if err := rows.Scan(&a.ID, &at, &a.Path, &a.MemberRef, &counts); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at).UTC()
		if err := json.Unmarshal([]byte(counts), &a.Counts); err != nil {
			return nil, fmt.Errorf("purge audit %d: %w", a.ID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ---------------------------------------------------------------------------
// Data deletion requests

// CreateDeletionRequest records a pending data-deletion request under its
// public confirmation code. ErrConflict if the code exists.
func (db *DB) CreateDeletionRequest(ctx context.Context, code string) error {
	if code == "" {
		return errors.New("store: create deletion request: empty code")
	}
	tx, err := db.beginTx(ctx)
	if err != nil {
		return wrap("create deletion request", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO deletion_requests (code, status, requested_at) VALUES (?, 'pending', ?)`,
		code, tx.now.UnixMilli()); err != nil {
		return wrap("create deletion request", err)
	}
	return wrap("create deletion request", tx.Commit())
}

// CompleteDeletionRequest marks the request complete (idempotent).
// ErrNotFound if the code is unknown.
func (db *DB) CompleteDeletionRequest(ctx context.Context, code string) error {
	tx, err := db.beginTx(ctx)
	if err != nil {
		return wrap("complete deletion request", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE deletion_requests SET status = 'complete', completed_at = COALESCE(completed_at, ?)
		WHERE code = ?`, tx.now.UnixMilli(), code)
	if err != nil {
		return wrap("complete deletion request", err)
	}
	if n, _ := affected(res); n == 0 {
		return wrap("complete deletion request", ErrNotFound)
	}
	return wrap("complete deletion request", tx.Commit())
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
	var r memberRow
	if err := rtx.QueryRowContext(ctx, `SELECT `+memberTail+`
		FROM (SELECT ?1 AS id) q
		LEFT JOIN members m ON m.member_id = q.id
		LEFT JOIN connections c ON c.member_id = q.id`, memberID).Scan(r.dest()...); err != nil {
		return Export{}, wrap("export", err)
	}
	ex.Member = r.member(memberID)
	if ex.Shares, err = listShares(ctx, rtx, `member_id = ? ORDER BY id DESC`, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	if ex.HiddenTitles, err = listHidden(ctx, rtx, memberID); err != nil {
		return Export{}, wrap("export", err)
	}
	rows, err := rtx.QueryContext(ctx, `SELECT friend_facebook_user_id, friend_name FROM friends WHERE member_id = ?
		ORDER BY friend_name, friend_facebook_user_id`, memberID)
	if err != nil {
		return Export{}, wrap("export", err)
	}
	ex.Friends = []Friend{}
	for rows.Next() {
		var f Friend
		if err := rows.Scan(&f.FacebookUserID, &f.Name); err != nil {
			rows.Close()
			return Export{}, wrap("export", err)
		}
		ex.Friends = append(ex.Friends, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
