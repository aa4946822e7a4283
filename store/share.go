package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// shareCols lists the columns of shares (alias s) that shareRow scans.
const shareCols = `s.id, s.member_id, s.title_id, s.title_name, s.title_url, s.title_type, s.session_id, s.event_id,
	s.status, s.action_id, s.attempted_at, s.shared_at`

// shareRow scans shareCols. Every field is nullable so that it also scans a
// LEFT JOIN that found no share (id NULL).
type shareRow struct {
	id                                            sql.NullInt64
	member, title, name, url, typ, session, event sql.NullString
	status, actionID                              sql.NullString
	attempted, shared                             sql.NullInt64
}

func (r *shareRow) dest() []any {
	return []any{&r.id, &r.member, &r.title, &r.name, &r.url, &r.typ, &r.session, &r.event,
		&r.status, &r.actionID, &r.attempted, &r.shared}
}

func (r *shareRow) share() Share {
	return Share{ID: r.id.Int64, MemberID: r.member.String, TitleID: r.title.String, TitleName: r.name.String,
		TitleURL: r.url.String, TitleType: r.typ.String, SessionID: r.session.String, EventID: r.event.String,
		Status: ShareStatus(r.status.String), ActionID: r.actionID.String,
		AttemptedAt: fromMS(r.attempted), SharedAt: fromMS(r.shared)}
}

func scanShare(rows *sql.Rows) (Share, error) {
	var r shareRow
	err := rows.Scan(r.dest()...)
	return r.share(), err
}

func getShare(ctx context.Context, q querier, where string, args ...any) (Share, error) {
	var r shareRow
	if err := q.QueryRowContext(ctx, `SELECT `+shareCols+` FROM shares s WHERE `+where, args...).Scan(r.dest()...); err != nil {
		return Share{}, err
	}
	return r.share(), nil
}

func listShares(ctx context.Context, q querier, where string, args ...any) ([]Share, error) {
	return queryAll(ctx, q, scanShare, `SELECT `+shareCols+` FROM shares s WHERE `+where, args...)
}

// latestShareIDSQL selects the id of the latest pending or posted share of
// title ?2 by member ?1: what ShareContext reports as LastShare and what
// BeginShareAfter compares with.
//
// The parameters are written +?1, +?2 (same value, same affinity, same
// plan) on purpose. When the planner weighs the partial index
// shares_one_pending (WHERE status = 'pending') it compares the query's
// "column = ?N" terms with the index's "status = 'pending'"; meeting a bare
// parameter there, SQLite marks the statement "reprepare when ?N is
// rebound", so every execution of a prepared (or cached) statement parsed
// and planned it again: 60 µs of CPU per ShareContext. A unary plus is not a
// bare parameter, so the plan is made once. Do the same in every hot
// statement on shares whose WHERE compares a column with a parameter.
const latestShareIDSQL = `SELECT id FROM shares WHERE member_id = +?1 AND title_id = +?2 AND status IN ('pending', 'posted')
	ORDER BY id DESC LIMIT 1`

// shareContextSQL is prepared once on the reader pool (see Open).
const shareContextSQL = `SELECT ` + memberTail + `,
	EXISTS (SELECT 1 FROM hidden_titles h WHERE h.member_id = ?1 AND h.title_id = ?2), ` + shareCols + `
	` + memberFrom + `
	LEFT JOIN shares s ON s.id = (` + latestShareIDSQL + `)`

// ShareContext reads, in one statement on the read pool and without writing,
// what the share decision needs: the member (with connection and settings),
// whether the title is hidden, and the latest pending or posted share of the
// title. For a member who never connected every probe is a primary-key (or
// covering-index) lookup that finds nothing.
func (db *DB) ShareContext(ctx context.Context, memberID, titleID string) (ShareContext, error) {
	var (
		r      memberRow
		hidden bool
		sr     shareRow
	)
	dest := append(append(r.dest(), &hidden), sr.dest()...)
	if err := db.shareContextStmt.QueryRowContext(ctx, memberID, titleID).Scan(dest...); err != nil {
		return ShareContext{}, wrap("share context", err)
	}
	sc := ShareContext{Member: r.member(memberID), Hidden: hidden}
	sc.Connected = sc.Member.Status == StatusConnected
	if sr.id.Valid {
		s := sr.share()
		sc.LastShare = &s
	}
	return sc, nil
}

// BeginShare records the intent to post (a pending share, AttemptedAt = now)
// before the Graph call, in one transaction that checks, in this order: no
// post of this title or this event is pending (else *PendingShareError, which
// is ErrConflict: reconcile that share), the event id was not recorded in a
// completed share (else *DuplicateEventError, also ErrConflict), the member is
// connected with status connected (else ErrNotConnected), sharing is enabled
// (else ErrSharingDisabled) and the title is not hidden (else ErrHidden).
// s.MemberID, s.TitleID and s.EventID are required; ID, Status, ActionID,
// AttemptedAt and SharedAt are ignored.
func (db *DB) BeginShare(ctx context.Context, s Share) (Share, error) {
	return db.BeginShareAfter(ctx, s, -1)
}

// BeginShareAfter is BeginShare with optimistic concurrency: prevID is the id
// of the latest pending or posted share of the title that the caller's
// decision was based on (0 for none). If another share was recorded since,
// it returns ErrStale and the caller decides again. A negative prevID skips
// the check.
func (db *DB) BeginShareAfter(ctx context.Context, s Share, prevID int64) (Share, error) {
	if s.MemberID == "" || s.TitleID == "" || s.EventID == "" {
		return Share{}, errors.New("store: begin share: member id, title id and event id are required")
	}
	var out Share
	err := db.write(ctx, "begin share", func(tx *tx) error {
		if prevID >= 0 {
			var latest int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE((`+latestShareIDSQL+`), 0)`, s.MemberID, s.TitleID).Scan(&latest); err != nil {
				return err
			}
			if latest != prevID {
				return ErrStale
			}
		}
		var err error
		out, err = beginShare(ctx, tx, s)
		return err
	})
	return out, err
}

func beginShare(ctx context.Context, tx *tx, s Share) (Share, error) {
	// Conflicts first: a pending share of this title (or of this very event)
	// must be reconciled by the caller even if the member has since hidden
	// the title or paused, because its post may have landed.
	// +? : see latestShareIDSQL.
	existing, err := getShare(ctx, tx, `member_id = +? AND (event_id = +? OR (title_id = +? AND status = 'pending'))
		ORDER BY status = 'pending' DESC LIMIT 1`, s.MemberID, s.EventID, s.TitleID)
	switch {
	case err == nil && existing.Status == SharePending:
		return Share{}, &PendingShareError{Existing: existing}
	case err == nil:
		return Share{}, &DuplicateEventError{Existing: existing}
	case !errors.Is(err, sql.ErrNoRows):
		return Share{}, err
	}
	var (
		status          string
		sharing, hidden bool
	)
	err = tx.QueryRowContext(ctx, `SELECT c.status, COALESCE(m.sharing_enabled, 1),
			EXISTS (SELECT 1 FROM hidden_titles h WHERE h.member_id = ?1 AND h.title_id = ?2)
		FROM connections c LEFT JOIN members m ON m.member_id = c.member_id WHERE c.member_id = ?1`, s.MemberID, s.TitleID).
		Scan(&status, &sharing, &hidden)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Share{}, ErrNotConnected
	case err != nil:
		return Share{}, err
	case MemberStatus(status) != StatusConnected:
		return Share{}, fmt.Errorf("%w (%s)", ErrNotConnected, status)
	case !sharing:
		return Share{}, ErrSharingDisabled
	case hidden:
		return Share{}, ErrHidden
	}
	s.Status = SharePending
	s.ActionID = ""
	s.AttemptedAt = tx.now
	s.SharedAt = time.Time{}
	err = tx.QueryRowContext(ctx, `INSERT INTO shares (member_id, title_id, title_name, title_url, title_type, session_id,
			event_id, status, attempted_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) RETURNING id`,
		s.MemberID, s.TitleID, s.TitleName, s.TitleURL, s.TitleType, s.SessionID, s.EventID, tx.now.UnixMilli()).Scan(&s.ID)
	if err != nil {
		return Share{}, err
	}
	return s, nil
}

// TakeOverShare refreshes AttemptedAt of a pending share whose outcome is
// unknown (its delivery crashed or stalled), so another delivery can
// reconcile it. A non-empty eventID becomes the share's event id (ErrConflict
// if another share of the member already has it). ErrNotFound if the share is
// gone or no longer pending.
func (db *DB) TakeOverShare(ctx context.Context, shareID int64, eventID string) (s Share, err error) {
	err = db.write(ctx, "take over share", func(tx *tx) error {
		if err := execOne(ctx, tx, ErrNotFound, `UPDATE shares SET attempted_at = ?, event_id = COALESCE(NULLIF(?, ''), event_id)
			WHERE id = ? AND status = 'pending'`, tx.now.UnixMilli(), eventID, shareID); err != nil {
			return err
		}
		s, err = getShare(ctx, tx, `id = ?`, shareID)
		return err
	})
	return s, err
}

// CompleteShare records that the pending share was published as actionID
// (sharedAt zero = now). If the member hid the title meanwhile, the share
// becomes 'deleting' and a delete_action outbox item is queued in the same
// transaction (hiddenMeanwhile true). ErrNotFound if the share is gone
// (purged or abandoned): the caller must then delete the action at Facebook
// itself (see RecordOrphanAction). Completing again with the same action id is
// a no-op; with another one ErrConflict.
func (db *DB) CompleteShare(ctx context.Context, shareID int64, actionID string, sharedAt time.Time) (hiddenMeanwhile bool, err error) {
	if actionID == "" {
		return false, errors.New("store: complete share: empty action id")
	}
	err = db.write(ctx, "complete share", func(tx *tx) error {
		hiddenMeanwhile, err = completeShare(ctx, tx, shareID, actionID, sharedAt)
		return err
	})
	return hiddenMeanwhile, err
}

func completeShare(ctx context.Context, tx *tx, shareID int64, actionID string, sharedAt time.Time) (bool, error) {
	s, err := getShare(ctx, tx, `id = ?`, shareID)
	if err != nil {
		return false, err
	}
	switch s.Status {
	case SharePosted, ShareDeleting:
		if s.ActionID != actionID {
			return false, fmt.Errorf("%w: share %d already completed with another action", ErrConflict, shareID)
		}
		return s.Status == ShareDeleting, nil
	}
	sharedAt = msOr(sharedAt, tx.now)
	hidden, err := isHidden(ctx, tx, s.MemberID, s.TitleID)
	if err != nil {
		return false, err
	}
	status := SharePosted
	if hidden {
		status = ShareDeleting
	}
	if _, err := tx.ExecContext(ctx, `UPDATE shares SET status = ?, action_id = ?, shared_at = ? WHERE id = ?`,
		string(status), actionID, sharedAt.UnixMilli(), shareID); err != nil {
		return false, err
	}
	if hidden {
		_, err = enqueueShareDeletion(ctx, tx, s.MemberID, shareID, actionID, tx.now)
	}
	return hidden, err
}

// enqueueShareDeletion queues a delete_action for a share of a connected
// member (the token is taken from the connection when the item is claimed).
func enqueueShareDeletion(ctx context.Context, tx *tx, memberID string, shareID int64, actionID string, next time.Time) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO outbox (kind, member_id, facebook_user_id, action_id, share_id, created_at, next_attempt_at)
		VALUES ('delete_action', ?1, COALESCE((SELECT facebook_user_id FROM connections WHERE member_id = ?1), ''), ?2, ?3, ?4, ?5)
		ON CONFLICT (share_id) WHERE share_id IS NOT NULL DO UPDATE SET action_id = excluded.action_id
		RETURNING id`, memberID, actionID, shareID, tx.now.UnixMilli(), next.UnixMilli()).Scan(&id)
	return id, err
}

// AbandonShare deletes a pending share: the post surely did not happen.
// ErrNotFound if there is no pending share with that id.
func (db *DB) AbandonShare(ctx context.Context, shareID int64) error {
	return db.write(ctx, "abandon share", func(tx *tx) error {
		return execOne(ctx, tx, ErrNotFound, `DELETE FROM shares WHERE id = ? AND status = 'pending'`, shareID)
	})
}

// ListShares returns the member's posted shares, newest first.
func (db *DB) ListShares(ctx context.Context, memberID string) ([]Share, error) {
	out, err := listShares(ctx, db.reader, `member_id = ? AND status = 'posted' ORDER BY shared_at DESC, id DESC`, memberID)
	return out, wrap("list shares", err)
}

// RecordOrphanAction queues the deletion of an action that was published
// after the member's data had been purged (CompleteShare returned
// ErrNotFound). The item carries its own token, sealed, and by default expires
// after OrphanTTL. Kind is forced to delete_action; MemberID, ActionID and
// Token are required.
func (db *DB) RecordOrphanAction(ctx context.Context, item OutboxItem) error {
	if item.MemberID == "" || item.ActionID == "" {
		return errors.New("store: record orphan action: member id and action id are required")
	}
	item.Kind = OutboxDeleteAction
	item.ShareID = 0
	return db.write(ctx, "record orphan action", func(tx *tx) error {
		_, err := db.insertOwnTokenItem(ctx, tx, item)
		return err
	})
}

// ---------------------------------------------------------------------------
// Hidden titles

// HideTitle hides a title for the member (creating the member row if
// missing) and, in the same transaction, marks every posted share of it
// 'deleting' and queues a delete_action outbox item for each, so the
// deletions are durable before the caller answers. Idempotent: hiddenAt is
// the time of the first hide. deletions lists every queued deletion of this
// title, including ones queued by an earlier hide or by CompleteShare, all
// without Token (use MemberToken). New items are due after HandoffLease,
// which leaves the caller time to try them at once and CompleteOutbox or
// RetryOutbox them.
func (db *DB) HideTitle(ctx context.Context, memberID, titleID string) (hiddenAt time.Time, deletions []OutboxItem, err error) {
	if titleID == "" {
		return time.Time{}, nil, errors.New("store: hide title: empty title id")
	}
	err = db.write(ctx, "hide title", func(tx *tx) error {
		hiddenAt, deletions, err = hideTitle(ctx, tx, memberID, titleID)
		return err
	})
	return hiddenAt, deletions, err
}

func hideTitle(ctx context.Context, tx *tx, memberID, titleID string) (time.Time, []OutboxItem, error) {
	if err := ensureMember(ctx, tx, memberID); err != nil {
		return time.Time{}, nil, err
	}
	if _, err := execBump(ctx, tx, `INSERT INTO hidden_titles (member_id, title_id, hidden_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id, title_id) DO NOTHING`, memberID, titleID, tx.now.UnixMilli()); err != nil {
		return time.Time{}, nil, err
	}
	var hiddenAt int64
	if err := tx.QueryRowContext(ctx, `SELECT hidden_at FROM hidden_titles WHERE member_id = ? AND title_id = ?`,
		memberID, titleID).Scan(&hiddenAt); err != nil {
		return time.Time{}, nil, err
	}
	deleting, err := queryAll(ctx, tx, scanIDAction, `UPDATE shares SET status = 'deleting' WHERE member_id = ? AND title_id = ? AND status = 'posted'
		RETURNING id, action_id`, memberID, titleID)
	if err != nil {
		return time.Time{}, nil, err
	}
	for _, p := range deleting {
		if _, err := enqueueShareDeletion(ctx, tx, memberID, p.id, p.actionID, tx.now.Add(HandoffLease)); err != nil {
			return time.Time{}, nil, err
		}
	}
	items, err := listOutbox(ctx, tx, `o.kind = 'delete_action' AND o.share_id IN (
		SELECT id FROM shares WHERE member_id = ? AND title_id = ?) ORDER BY o.id`, memberID, titleID)
	if err != nil {
		return time.Time{}, nil, err
	}
	return time.UnixMilli(hiddenAt).UTC(), items, nil
}

// UnhideTitle allows the title again (nothing is re-posted, queued deletions
// go on). It reports whether the title was hidden.
func (db *DB) UnhideTitle(ctx context.Context, memberID, titleID string) (wasHidden bool, err error) {
	err = db.write(ctx, "unhide title", func(tx *tx) error {
		wasHidden, err = execBump(ctx, tx, `DELETE FROM hidden_titles WHERE member_id = ? AND title_id = ?`, memberID, titleID)
		return err
	})
	return wasHidden, err
}

// ListHiddenTitles returns the member's hidden titles, newest first.
func (db *DB) ListHiddenTitles(ctx context.Context, memberID string) ([]HiddenTitle, error) {
	out, err := listHidden(ctx, db.reader, memberID)
	return out, wrap("list hidden titles", err)
}

func listHidden(ctx context.Context, q querier, memberID string) ([]HiddenTitle, error) {
	return queryAll(ctx, q, func(rows *sql.Rows) (HiddenTitle, error) {
		var (
			h  HiddenTitle
			at int64
		)
		err := rows.Scan(&h.TitleID, &at)
		h.HiddenAt = time.UnixMilli(at).UTC()
		return h, err
	}, `SELECT title_id, hidden_at FROM hidden_titles WHERE member_id = ? ORDER BY hidden_at DESC, title_id`, memberID)
}

// IsHidden reports whether the member hid the title.
func (db *DB) IsHidden(ctx context.Context, memberID, titleID string) (bool, error) {
	h, err := isHidden(ctx, db.reader, memberID, titleID)
	return h, wrap("is hidden", err)
}

func isHidden(ctx context.Context, q querier, memberID, titleID string) (bool, error) {
	var hidden bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM hidden_titles WHERE member_id = ? AND title_id = ?)`,
		memberID, titleID).Scan(&hidden)
	return hidden, err
}
