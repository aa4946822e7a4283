package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// Sentinel errors. Methods wrap them with context; test with errors.Is.
var (
	// ErrNotFound: the row does not exist (unknown, already used, or purged).
	ErrNotFound = errors.New("not found")
	// ErrExpired: the row existed but its lifetime was over (it has been deleted).
	ErrExpired = errors.New("expired")
	// ErrConflict: a uniqueness rule was violated (duplicate event, a share already pending...).
	ErrConflict = errors.New("conflict")
	// ErrFacebookAccountInUse: the Facebook account is connected to another member.
	ErrFacebookAccountInUse = errors.New("facebook account connected to another member")
	// ErrNotConnected: the member has no (usable) Facebook connection.
	ErrNotConnected = errors.New("member not connected")
	// ErrFriendSyncBusy: another sync of the member's friends holds the lease.
	ErrFriendSyncBusy = errors.New("a friend sync of this member is already running")
	// ErrHidden: the member hid the title.
	ErrHidden = errors.New("title hidden by member")
	// ErrSharingDisabled: the member paused sharing.
	ErrSharingDisabled = errors.New("sharing disabled by member")
	// ErrStale: the share decision was based on state that changed since
	// (another delivery recorded a share of the title); decide again.
	ErrStale = errors.New("share state changed since it was read")
	// ErrDecrypt: a sealed secret failed authentication (tampered, moved to another
	// row, or sealed under another key).
	ErrDecrypt = errors.New("cannot decrypt secret")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("database schema newer than this binary")
	// ErrUnavailable: the database cannot serve the request right now (read-only,
	// disk full, I/O error, cannot open, busy, locked or no large-file support).
	// See IsUnavailable.
	ErrUnavailable = errors.New("database unavailable")
)

// IsUnavailable reports whether err means the database cannot be written (or
// read) right now: SQLITE_READONLY, SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN,
// SQLITE_BUSY, SQLITE_LOCKED or SQLITE_NOLFS. The work should be paused and
// retried, not dead-lettered.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return unavailableCode(se.Code)
	}
	return false
}

func unavailableCode(c sqlite3.ErrNo) bool {
	switch c {
	case sqlite3.ErrReadonly, sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrCantOpen,
		sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrNoLFS:
		return true
	}
	return false
}

// mapError is the one place where driver errors become sentinels. Errors that
// already carry a sentinel pass through unchanged.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.ExtendedCode {
	case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case sqlite3.ErrConstraintForeignKey:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if unavailableCode(se.Code) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// wrap adds the "store: op: " prefix and maps driver errors.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", op, mapError(err))
}

// PendingShareError is returned by BeginShare when a post of the same title
// for the same member is already in flight (a 'pending' row). Existing is that
// row, so the caller can reconcile it (look the post up, TakeOverShare,
// CompleteShare or AbandonShare). It matches ErrConflict with errors.Is.
type PendingShareError struct {
	Existing Share
}

func (e *PendingShareError) Error() string {
	return fmt.Sprintf("store: share %d of this title is already pending: %v", e.Existing.ID, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *PendingShareError) Is(target error) bool { return target == ErrConflict }

// DuplicateEventError is returned by BeginShare when the event id was already
// recorded for the member in a share that is no longer pending (posted or
// being deleted). Existing is that row. It matches ErrConflict with errors.Is.
type DuplicateEventError struct {
	Existing Share
}

func (e *DuplicateEventError) Error() string {
	return fmt.Sprintf("store: event already recorded in share %d (%s): %v", e.Existing.ID, e.Existing.Status, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *DuplicateEventError) Is(target error) bool { return target == ErrConflict }
