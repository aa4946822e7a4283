package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"sort"
	"time"
)

// ReplaceFriends atomically replaces the member's friend list with friends
// (duplicates by Facebook id collapse, the last name wins) and records
// LastFriendSync = syncedAt and NextFriendSync = next. added and removed
// count Facebook ids that appeared and disappeared. ErrNotConnected if the
// member has no connection, so a sync racing a purge writes nothing.
func (db *DB) ReplaceFriends(ctx context.Context, memberID string, friends []Friend, syncedAt, next time.Time) (added, removed int, err error) {
	return db.ReplaceFriendsLeased(ctx, memberID, "", friends, syncedAt, next)
}

// ReplaceFriendsLeased is ReplaceFriends that also gives back the friend-sync
// lease (see ClaimFriendSync) in the same transaction, if it is still the
// caller's.
func (db *DB) ReplaceFriendsLeased(ctx context.Context, memberID, lease string, friends []Friend, syncedAt, next time.Time) (added, removed int, err error) {
	err = db.write(ctx, "replace friends", func(tx *tx) error {
		added, removed, err = replaceFriends(ctx, tx, memberID, lease, friends, syncedAt, next)
		return err
	})
	return added, removed, err
}

func replaceFriends(ctx context.Context, tx *tx, memberID, lease string, friends []Friend, syncedAt, next time.Time) (int, int, error) {
	if err := checkConnected(ctx, tx, memberID); err != nil {
		return 0, 0, err
	}
	oldList, err := listFriends(ctx, tx, memberID)
	if err != nil {
		return 0, 0, err
	}
	old := make(map[string]string, len(oldList))
	for _, f := range oldList {
		old[f.FacebookUserID] = f.Name
	}
	want := map[string]string{}
	var order []string
	for _, f := range friends {
		if f.FacebookUserID == "" {
			continue
		}
		if _, dup := want[f.FacebookUserID]; !dup {
			order = append(order, f.FacebookUserID)
		}
		want[f.FacebookUserID] = f.Name
	}
	var added, removed int
	for id := range old {
		if _, keep := want[id]; keep {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM friends WHERE member_id = ? AND friend_facebook_user_id = ?`, memberID, id); err != nil {
			return 0, 0, err
		}
		removed++
	}
	for _, id := range order {
		name := want[id]
		oldName, had := old[id]
		switch {
		case !had:
			if _, err := tx.ExecContext(ctx, `INSERT INTO friends (member_id, friend_facebook_user_id, friend_name) VALUES (?, ?, ?)`,
				memberID, id, name); err != nil {
				return 0, 0, err
			}
			added++
		case oldName != name:
			if _, err := tx.ExecContext(ctx, `UPDATE friends SET friend_name = ? WHERE member_id = ? AND friend_facebook_user_id = ?`,
				name, memberID, id); err != nil {
				return 0, 0, err
			}
		}
	}
	syncedAt = msOr(syncedAt, tx.now)
	if _, err := tx.ExecContext(ctx, `UPDATE connections SET last_friend_sync = ?1, next_friend_sync = ?2,
			friend_sync_lease_until = CASE WHEN ?4 <> '' AND friend_sync_lease = ?4 THEN 0 ELSE friend_sync_lease_until END,
			friend_sync_lease = CASE WHEN ?4 <> '' AND friend_sync_lease = ?4 THEN '' ELSE friend_sync_lease END
		WHERE member_id = ?3`,
		syncedAt.UnixMilli(), ms0(next), memberID, lease); err != nil {
		return 0, 0, err
	}
	return added, removed, nil
}

// listFriends returns the member's friend list by name.
func listFriends(ctx context.Context, q querier, memberID string) ([]Friend, error) {
	return queryAll(ctx, q, func(rows *sql.Rows) (Friend, error) {
		var f Friend
		err := rows.Scan(&f.FacebookUserID, &f.Name)
		return f, err
	}, `SELECT friend_facebook_user_id, friend_name FROM friends WHERE member_id = ?
		ORDER BY friend_name, friend_facebook_user_id`, memberID)
}

// ListFriendMembers returns the member's friends who are connected members
// (status connected or reconnect_required), by name, and when the list was
// last synced (zero if never). A member without connection has no friends.
func (db *DB) ListFriendMembers(ctx context.Context, memberID string) ([]FriendMember, time.Time, error) {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, time.Time{}, wrap("list friend members", err)
	}
	defer tx.Rollback()
	var synced sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT last_friend_sync FROM connections WHERE member_id = ?`, memberID).Scan(&synced)
	if errors.Is(err, sql.ErrNoRows) {
		return []FriendMember{}, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, wrap("list friend members", err)
	}
	out, err := queryAll(ctx, tx, func(rows *sql.Rows) (FriendMember, error) {
		var fm FriendMember
		err := rows.Scan(&fm.MemberID, &fm.Name, &fm.FacebookUserID)
		return fm, err
	}, `SELECT fc.member_id, fc.name, fc.facebook_user_id
		FROM friends f JOIN connections fc ON fc.facebook_user_id = f.friend_facebook_user_id
		WHERE f.member_id = ? AND fc.member_id <> f.member_id
		ORDER BY fc.name, fc.member_id`, memberID)
	if err != nil {
		return nil, time.Time{}, wrap("list friend members", err)
	}
	return out, fromMS(synced), nil
}

// FriendsActivity returns what the member's friends shared, newest first, at
// most limit entries (<= 0 means 50, capped at 500) strictly before before
// (zero = now): only posted shares of friends who are connected members with
// sharing enabled, never a title the friend hid.
func (db *DB) FriendsActivity(ctx context.Context, memberID string, limit int, before time.Time) ([]Activity, error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		limit = 500
	}
	before = msOr(before, db.now().Add(time.Millisecond))
	out, err := queryAll(ctx, db.reader, func(rows *sql.Rows) (Activity, error) {
		var (
			a  Activity
			at int64
		)
		err := rows.Scan(&a.MemberID, &a.Name, &a.TitleID, &a.TitleName, &at)
		a.SharedAt = time.UnixMilli(at).UTC()
		return a, err
	}, `SELECT fc.member_id, fc.name, s.title_id, s.title_name, s.shared_at
		FROM friends f
		JOIN connections fc ON fc.facebook_user_id = f.friend_facebook_user_id
		JOIN members fm ON fm.member_id = fc.member_id AND fm.sharing_enabled = 1
		JOIN shares s ON s.member_id = fc.member_id AND s.status = 'posted' AND s.shared_at < ?2
		WHERE f.member_id = ?1 AND fc.member_id <> f.member_id
		  AND NOT EXISTS (SELECT 1 FROM hidden_titles h WHERE h.member_id = s.member_id AND h.title_id = s.title_id)
		ORDER BY s.shared_at DESC, s.id DESC
		LIMIT ?3`, memberID, before.UnixMilli(), limit)
	return out, wrap("friends activity", err)
}

// ClaimFriendSync takes the member's friend-sync lease until until and
// returns its token, so that one sync of a member runs at a time across every
// process sharing the database. ErrFriendSyncBusy if another holder's lease
// has not run out; ErrNotConnected if the member has no connection in status
// connected. Release the lease with ReleaseFriendSync; a holder that dies
// leaves it to run out.
func (db *DB) ClaimFriendSync(ctx context.Context, memberID string, until time.Time) (lease string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", wrap("claim friend sync", err)
	}
	lease = hex.EncodeToString(b[:])
	err = db.write(ctx, "claim friend sync", func(tx *tx) error {
		var status string
		var leaseUntil int64
		err := tx.QueryRowContext(ctx, `SELECT status, friend_sync_lease_until FROM connections WHERE member_id = ?`, memberID).Scan(&status, &leaseUntil)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && status != "connected"):
			return ErrNotConnected
		case err != nil:
			return err
		case leaseUntil > tx.now.UnixMilli():
			return ErrFriendSyncBusy
		}
		_, err = tx.ExecContext(ctx, `UPDATE connections SET friend_sync_lease = ?, friend_sync_lease_until = ? WHERE member_id = ?`,
			lease, ms0(until), memberID)
		return err
	})
	if err != nil {
		return "", err
	}
	return lease, nil
}

// ReleaseFriendSync gives the lease back if it is still the holder's (a
// lease that ran out and was taken by another sync is left alone).
func (db *DB) ReleaseFriendSync(ctx context.Context, memberID, lease string) error {
	return db.write(ctx, "release friend sync", func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET friend_sync_lease = '', friend_sync_lease_until = 0
			WHERE member_id = ? AND friend_sync_lease = ?`, memberID, lease)
		return err
	})
}

// ClaimDueFriendSyncs returns up to limit connected members whose friend
// sync is due at now (never-synced first, then oldest) and, in the same
// transaction, moves their next sync to retryAt: a second request for due
// members (another process's scheduler, a repeated {}) does not pick them
// again, and a sync that never completes comes due again at retryAt.
func (db *DB) ClaimDueFriendSyncs(ctx context.Context, now, retryAt time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ids []string
	err := db.write(ctx, "claim due friend syncs", func(tx *tx) error {
		var err error
		ids, err = queryAll(ctx, tx, scanString, `UPDATE connections SET next_friend_sync = ?
			WHERE member_id IN (SELECT member_id FROM connections
				WHERE status = 'connected' AND next_friend_sync <= ?
				ORDER BY next_friend_sync, member_id LIMIT ?)
			RETURNING member_id`, ms0(retryAt), now.UnixMilli(), limit)
		return err
	})
	sort.Strings(ids)
	return ids, err
}

// SetNextFriendSync sets when the member's friends are next due for a sync.
// ErrNotConnected if the member has no connection.
func (db *DB) SetNextFriendSync(ctx context.Context, memberID string, next time.Time) error {
	return db.write(ctx, "set next friend sync", func(tx *tx) error {
		return execOne(ctx, tx, ErrNotConnected, `UPDATE connections SET next_friend_sync = ? WHERE member_id = ?`, ms0(next), memberID)
	})
}
