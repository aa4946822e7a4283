// Package store keeps watchshare's state in SQLite (github.com/mattn/go-sqlite3)
// and holds every SQL statement of the project.
//
// # Engine
//
// Open returns a *DB with two pools on the same file: a writer with a single
// connection, whose transactions start with BEGIN IMMEDIATE (so a transaction
// never fails to upgrade a read lock, and busy_timeout applies), and a
// read-only pool (query_only) for reads that write nothing; a read of several
// statements (Export, ListFriendMembers) runs in a read transaction there.
// Both use WAL, synchronous=FULL (a commit that returned survives power loss),
// busy_timeout=5000, foreign_keys=on and secure_delete=on. Several processes
// may share one database file; they serialise on SQLite's write lock.
//
// The schema lives in migration/NNNN_name.sql, embedded in the binary, applied
// forward-only in lexical order, one transaction each, and recorded in
// schema_migrations. A database newer than the binary is refused with
// ErrSchemaTooNew.
//
// Times are INTEGER unix milliseconds (UTC). Every public write runs in one
// transaction through DB.write, which begins it, rolls it back on error,
// commits it and wraps the error with the operation's name; larger bodies are
// unexported helpers taking (ctx, tx, ...).
//
// # Secrets
//
// Access tokens and PKCE verifiers are sealed with AES-256-GCM under
// Options.TokenKey (version byte || 96-bit random nonce || ciphertext+tag),
// with associated data naming the owner and purpose, so a ciphertext copied
// into another row fails with ErrDecrypt. No token or verifier ever appears in
// an error, a log line, or the String/GoString/LogValue of a type holding one.
//
// # Purge
//
// PurgeMember deletes, in one transaction, everything imported from or
// published to Facebook for a member (connection and token, shares and action
// ids, friend list, the member's entry in other members' friend lists, OAuth
// states, outbox items other than revokes) and records a purge_audit row holding only counts and
// a keyed hash of the member id; then it checkpoints the WAL with TRUNCATE so
// that, with secure_delete, no copy of the deleted bytes remains in the
// .db, -wal or -shm files.
//
// # Errors
//
// Methods return wrapped sentinels (ErrNotFound, ErrConflict, ...) that callers
// test with errors.Is; driver errors are translated in one place (mapError).
// IsUnavailable reports errors that mean the database cannot be written right
// now (read-only, disk full, I/O error, busy), for which a caller should pause
// and retry rather than give up on the work.
package store
