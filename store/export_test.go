package store

import (
	"context"
	"database/sql"
)

// Test hooks, visible to package store_test only.

// WriterDSN and ReaderDSN are the production DSNs.
var (
	WriterDSN = writerDSN
	ReaderDSN = readerDSN
)

// Pools exposes the writer and reader pools.
func (db *DB) Pools() (writer, reader *sql.DB) { return db.writer, db.reader }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// MemberRef is the audit reference of a member id.
func (db *DB) MemberRef(memberID string) string { return db.memberRef(memberID) }

// MapError exposes mapError.
var MapError = mapError

// ScrubError exposes scrubError.
var ScrubError = scrubError

// SHA256Hex exposes sha256Hex.
var SHA256Hex = sha256Hex

// Write runs f in a write (see write), with exec running a statement in its
// transaction.
func (db *DB) Write(ctx context.Context, f func(exec func(query string, args ...any) error) error) error {
	return db.write(ctx, "test write", func(tx *tx) error {
		return f(func(query string, args ...any) error {
			_, err := tx.ExecContext(ctx, query, args...)
			return err
		})
	})
}

// QueuedWrites is the number of writes waiting for the next group commit.
func (db *DB) QueuedWrites() int {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	return len(db.wqueue)
}
