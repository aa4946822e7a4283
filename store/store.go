package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Defaults and limits.
const (
	// ReaderConns is the size of the read-only pool.
	ReaderConns = 8
	// OAuthStateTTL is the lifetime of an OAuth state when OAuthState.ExpiresAt is zero.
	OAuthStateTTL = 10 * time.Minute
	// OrphanTTL is how long an outbox item that carries its own token (a
	// revoke, or a delete of a post that landed after a purge) is kept.
	OrphanTTL = 7 * 24 * time.Hour
	// HandoffLease is how long a delete_action queued by HideTitle is left to
	// the caller, who normally tries it at once, before ClaimOutbox hands it
	// to another worker.
	HandoffLease = 30 * time.Second
)

// pragmas shared by both pools. busy_timeout is in milliseconds.
// _stmt_cache_size keeps each connection's most recently used statements
// prepared (the driver resets them and clears their bindings when they are
// put back): a statement run again, such as every statement of a post, is
// not parsed and planned again.
const commonPragmas = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_foreign_keys=on&_secure_delete=on&_stmt_cache_size=" + stmtCacheSize

// stmtCacheSize is the number of statements kept prepared per connection;
// the hot paths (a skip, a post) use about fifteen.
const stmtCacheSize = "64"

// writerDSN is the DSN of the single-connection writer pool.
func writerDSN(p string) string {
	return "file:" + escapePath(p) + "?" + commonPragmas + "&_txlock=immediate"
}

// readerDSN is the DSN of the read-only pool.
func readerDSN(p string) string {
	return "file:" + escapePath(p) + "?" + commonPragmas + "&_query_only=1"
}

// escapePath escapes the characters that would end the path part of an SQLite URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

//go:embed migration/*.sql
var migrationFS embed.FS

// Options configures Open.
type Options struct {
	// TokenKey is the 32-byte AES-256 key sealing tokens and verifiers. Required.
	TokenKey []byte
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives operational messages (never secrets); nil discards them.
	Logger *slog.Logger
}

// DB is the watchshare database. It is safe for concurrent use.
type DB struct {
	writer *sql.DB // one connection, BEGIN IMMEDIATE
	reader *sql.DB // query_only pool
	// shareContextStmt is the hot-path read, prepared once (per reader connection).
	shareContextStmt *sql.Stmt
	path             string
	seal             *sealer
	auditKey         []byte
	nowFunc          func() time.Time
	log              *slog.Logger
	// checkpointOwed: a checkpoint after a purge was blocked by a reader;
	// CheckpointIfOwed retries it.
	checkpointOwed atomic.Bool

	// Group commit (see write): writes waiting for the next group, and
	// whether a group is being committed.
	wmu    sync.Mutex
	wqueue []*writeReq
	wbusy  bool
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and returns the DB. It fails if opts.TokenKey is not 32 bytes,
// and with ErrSchemaTooNew if the database was migrated by a newer binary. A
// new database file is created with mode 0600.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	seal, err := newSealer(opts.TokenKey)
	if err != nil {
		return nil, err
	}
	db := &DB{
		path:     path,
		seal:     seal,
		auditKey: deriveKey(opts.TokenKey, "watchshare/purge-audit/v1"),
		nowFunc:  opts.Now,
		log:      opts.Logger,
	}
	if db.nowFunc == nil {
		db.nowFunc = time.Now
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open: need a file path, got %q", path)
	}
	// Create the file ourselves so that it (and the -wal/-shm files SQLite
	// derives from it) is private to the owner.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, wrap("open", fmt.Errorf("%w: %w", ErrUnavailable, err))
	}

	db.writer, err = sql.Open("sqlite3", writerDSN(path))
	if err != nil {
		return nil, wrap("open", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)
	if err := db.writer.PingContext(ctx); err != nil {
		db.writer.Close()
		return nil, wrap("open", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.writer.Close()
		return nil, err
	}

	db.reader, err = sql.Open("sqlite3", readerDSN(path))
	if err != nil {
		db.writer.Close()
		return nil, wrap("open reader", err)
	}
	db.reader.SetMaxOpenConns(ReaderConns)
	db.reader.SetMaxIdleConns(ReaderConns)
	// Preparing opens a reader connection: it is the reader's ping.
	if db.shareContextStmt, err = db.reader.PrepareContext(ctx, shareContextSQL); err != nil {
		db.Close()
		return nil, wrap("open reader", err)
	}
	return db, nil
}

// Close closes both pools. SQLite checkpoints and removes the WAL when the
// last connection to the file closes.
func (db *DB) Close() error {
	var errs []error
	if db.shareContextStmt != nil {
		errs = append(errs, db.shareContextStmt.Close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return wrap("close", err)
	}
	return nil
}

// changeVersionSQL reads the counter behind ChangeVersion.
const changeVersionSQL = `SELECT version FROM change_version WHERE id = 1`

// Ping runs a real query on the writer and on the reader pool (readiness).
func (db *DB) Ping(ctx context.Context) error {
	var v int64
	if err := db.writer.QueryRowContext(ctx, changeVersionSQL).Scan(&v); err != nil {
		return wrap("ping writer", err)
	}
	if err := db.reader.QueryRowContext(ctx, changeVersionSQL).Scan(&v); err != nil {
		return wrap("ping reader", err)
	}
	return nil
}

// Checkpoint copies the WAL into the database file and truncates the WAL to
// zero bytes (PRAGMA wal_checkpoint(TRUNCATE)). It returns an ErrUnavailable
// error if a reader prevented the checkpoint from completing.
func (db *DB) Checkpoint(ctx context.Context) error {
	var busy, logFrames, checkpointed int
	err := db.writer.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed)
	if err != nil {
		return wrap("checkpoint", err)
	}
	if busy != 0 {
		return wrap("checkpoint", fmt.Errorf("%w: checkpoint blocked by a reader (%d of %d frames copied)", ErrUnavailable, checkpointed, logFrames))
	}
	return nil
}

// ChangeVersion returns a counter bumped in the same transaction by every
// write that changes whether or how a member can be posted for (connect,
// reconnect required, sharing toggled, hide/unhide, purge). A cache of
// posting decisions is valid while the counter is unchanged.
func (db *DB) ChangeVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.reader.QueryRowContext(ctx, changeVersionSQL).Scan(&v)
	return v, wrap("change version", err)
}

// ---------------------------------------------------------------------------
// Migrations

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migration")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join("migration", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: two migrations with version %04d", ms[i].version)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the newest migration version this binary knows.
func LatestSchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return wrap("migrate", err)
	}
	var current int
	if err := db.writer.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return wrap("migrate", err)
	}
	if current > latest {
		return fmt.Errorf("store: database schema version %04d, this binary knows up to %04d: %w", current, latest, ErrSchemaTooNew)
	}
	for _, m := range ms {
		if m.version <= current {
			continue // applied before: no write transaction needed
		}
		if err := db.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, mapError(err))
		}
	}
	return nil
}

// applyMigration applies m in its own transaction unless another process did
// since migrate read the current version.
func (db *DB) applyMigration(ctx context.Context, m migration) error {
	tx, err := db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, tx.now.UnixMilli()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	db.log.Info("store: migration applied", slog.Int("version", m.version), slog.String("name", m.name))
	return nil
}

// ---------------------------------------------------------------------------
// Transactions and time

// tx is a write transaction with a fixed "now" (UTC, millisecond precision).
type tx struct {
	*sql.Tx
	now time.Time
}

// beginTx starts a write transaction (BEGIN IMMEDIATE on the writer).
func (db *DB) beginTx(ctx context.Context) (*tx, error) {
	t, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, now: db.now()}, nil
}

// maxGroupCommit bounds the writes committed together.
const maxGroupCommit = 128

// writeReq is one write waiting for its turn in a group commit.
type writeReq struct {
	ctx  context.Context
	f    func(*tx) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // the caller must commit the next group
}

// write runs f in a write transaction and commits it. An error from
// beginning, from f or from the commit rolls f's changes back and is
// returned wrapped with op (see wrap), so f returns plain errors.
//
// Writes that arrive while a group is being committed are committed
// together (group commit): one transaction, each f in its own savepoint so
// that a failing f undoes only its own changes, and one fsync for all. Each
// f sees the changes of the writes before it, as if they had been separate
// transactions in that order, and write returns only once its changes are
// durable. A failed commit fails every write of the group. f runs on the
// goroutine of whichever caller leads the group; a panic in f becomes f's
// error.
func (db *DB) write(ctx context.Context, op string, f func(*tx) error) error {
	req := &writeReq{ctx: ctx, f: f, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	db.wmu.Lock()
	db.wqueue = append(db.wqueue, req)
	leader := !db.wbusy
	db.wbusy = true
	db.wmu.Unlock()
	if leader {
		db.commitGroup()
	}
	for {
		select {
		case <-req.done:
			return wrap(op, req.err)
		case <-req.lead:
			db.commitGroup()
		}
	}
}

// commitGroup commits the queued writes (at most maxGroupCommit) and hands
// the next group, if any, to the first caller still waiting.
func (db *DB) commitGroup() {
	db.wmu.Lock()
	n := min(len(db.wqueue), maxGroupCommit)
	group := slices.Clone(db.wqueue[:n])
	db.wqueue = db.wqueue[n:]
	db.wmu.Unlock()

	db.runGroup(group)
	for _, req := range group {
		close(req.done)
	}

	db.wmu.Lock()
	defer db.wmu.Unlock()
	if len(db.wqueue) == 0 {
		db.wbusy = false
		return
	}
	db.wqueue[0].lead <- struct{}{}
}

// runGroup runs the group's writes in one transaction and sets each err.
func (db *DB) runGroup(group []*writeReq) {
	fail := func(err error) {
		for _, req := range group {
			if req.err == nil {
				req.err = err
			}
		}
	}
	// Not a caller's context: database/sql rolls a transaction back when the
	// context it began with ends, and this one holds every caller's write.
	bg := context.Background()
	t, err := db.beginTx(bg)
	if err != nil {
		fail(err)
		return
	}
	defer t.Rollback()
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.err = err
			continue
		}
		if len(group) == 1 { // no savepoint needed: a failed write rolls the transaction back
			if req.err = runWrite(req, t); req.err != nil {
				return
			}
			break
		}
		if _, err := t.ExecContext(bg, `SAVEPOINT w`); err != nil {
			fail(err)
			return
		}
		req.err = runWrite(req, t)
		if req.err != nil {
			if _, err := t.ExecContext(bg, `ROLLBACK TO w`); err != nil {
				fail(err) // SQLite rolled the whole transaction back
				return
			}
		}
		if _, err := t.ExecContext(bg, `RELEASE w`); err != nil {
			fail(err)
			return
		}
	}
	if err := t.Commit(); err != nil {
		fail(err)
	}
}

// runWrite runs one write's f, turning a panic into its error.
func runWrite(req *writeReq, t *tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: panic in a write: %v", r)
		}
	}()
	return req.f(t)
}

// querier is what read helpers need: a *tx, a read *sql.Tx or the reader pool.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query and scans every row with scan. On success the result
// is never nil (an empty list marshals as []).
func queryAll[T any](ctx context.Context, q querier, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString scans a one-column row of text (for queryAll).
func scanString(rows *sql.Rows) (string, error) {
	var s string
	err := rows.Scan(&s)
	return s, err
}

// idAction is a share's or an outbox item's id and action id.
type idAction struct {
	id       int64
	actionID string
}

// scanIDAction scans (id, action_id) rows (for queryAll).
func scanIDAction(rows *sql.Rows) (idAction, error) {
	var r idAction
	err := rows.Scan(&r.id, &r.actionID)
	return r, err
}

// now is the current time truncated to what the database stores.
func (db *DB) now() time.Time { return msTime(db.nowFunc()) }

// msTime truncates t to millisecond precision in UTC (the stored precision).
func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// msOr is t at the stored precision, or def if t is zero.
func msOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return msTime(t)
}

// ms converts t for a nullable INTEGER column: zero time is NULL.
func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// ms0 converts t for a NOT NULL INTEGER column: zero time is 0.
func ms0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts a stored INTEGER back; NULL and 0 are the zero time.
func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// bumpVersion increments the change counter (see ChangeVersion).
func bumpVersion(ctx context.Context, tx *tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE change_version SET version = version + 1 WHERE id = 1`)
	return err
}

// ensureMember creates the member's settings row if missing.
func ensureMember(ctx context.Context, tx *tx, memberID string) error {
	if memberID == "" {
		return errors.New("empty member id")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO members (member_id, sharing_enabled, created_at) VALUES (?, 1, ?)
		ON CONFLICT (member_id) DO NOTHING`, memberID, tx.now.UnixMilli())
	return err
}

// execCount runs a statement and returns how many rows it changed.
func execCount(ctx context.Context, tx *tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// execOne runs a statement meant to change a row and returns none if it
// changed nothing.
func execOne(ctx context.Context, tx *tx, none error, query string, args ...any) error {
	n, err := execCount(ctx, tx, query, args...)
	if err == nil && n == 0 {
		return none
	}
	return err
}

// execBump runs a statement and, if it changed a row, bumps ChangeVersion;
// changed reports whether it did.
func execBump(ctx context.Context, tx *tx, query string, args ...any) (changed bool, err error) {
	n, err := execCount(ctx, tx, query, args...)
	if err != nil || n == 0 {
		return false, err
	}
	return true, bumpVersion(ctx, tx)
}

var secretParam = regexp.MustCompile(`(?i)(access_token|appsecret_proof|client_secret|code_verifier|code)=[^&\s"']*`)

// scrubError bounds an error text kept in the database and removes anything
// that looks like a credential in a URL.
func scrubError(s string) string {
	s = secretParam.ReplaceAllString(s, "$1=[REDACTED]")
	const max = 1000
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}
