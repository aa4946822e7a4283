package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"watchshare/store"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// MustOpen opens a fresh database under tb.TempDir() and closes it at cleanup.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return MustOpenAt(tb, filepath.Join(tb.TempDir(), "watchshare.db"), store.Options{})
}

// MustOpenAt opens the database at path; a nil TokenKey means the test key
// and a nil Logger logs to tb.
func MustOpenAt(tb testing.TB, path string, opts store.Options) *store.DB {
	tb.Helper()
	if opts.TokenKey == nil {
		opts.TokenKey = testKey
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	db, err := store.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return db
}

// MustOpenClock opens a fresh database whose clock the test controls.
func MustOpenClock(tb testing.TB) (*store.DB, *testClock) {
	tb.Helper()
	c := &testClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	return MustOpenAt(tb, filepath.Join(tb.TempDir(), "watchshare.db"), store.Options{Now: c.Now}), c
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rawDB opens a second handle on the file with the production writer DSN,
// for tests that must reach under the API.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", store.WriterDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })
	return raw
}

func mustExec(tb testing.TB, db *sql.DB, q string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		tb.Fatalf("exec %q: %v", q, err)
	}
}

// fileHits counts occurrences of canary in the .db, -wal and -shm files.
func fileHits(tb testing.TB, path, canary string) map[string]int {
	tb.Helper()
	hits := map[string]int{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		if n := bytes.Count(b, []byte(canary)); n > 0 {
			hits[filepath.Base(path+suffix)] = n
		}
	}
	return hits
}

func connect(tb testing.TB, db *store.DB, memberID, fbID string) {
	tb.Helper()
	_, err := db.SaveConnection(context.Background(), store.Connection{
		MemberID: memberID, FacebookUserID: fbID, Name: "Name of " + memberID,
		Scopes: []string{"user_friends", "publish_actions"}, CanPublish: true,
		Token: "token-of-" + memberID, TokenExpiresAt: time.Now().Add(60 * 24 * time.Hour),
	})
	if err != nil {
		tb.Fatalf("SaveConnection(%s) = %v", memberID, err)
	}
}

// post runs BeginShare+CompleteShare and returns the posted share.
func post(tb testing.TB, db *store.DB, memberID, titleID, eventID, actionID string) store.Share {
	tb.Helper()
	ctx := context.Background()
	s, err := db.BeginShare(ctx, store.Share{MemberID: memberID, TitleID: titleID, TitleName: "Title " + titleID,
		TitleURL: "https://www.example.com/title/" + titleID, TitleType: "movie", SessionID: "s-" + eventID, EventID: eventID})
	if err != nil {
		tb.Fatalf("BeginShare(%s, %s) = %v", memberID, titleID, err)
	}
	hidden, err := db.CompleteShare(ctx, s.ID, actionID, time.Time{})
	if err != nil || hidden {
		tb.Fatalf("CompleteShare(%d) = %v, %v", s.ID, hidden, err)
	}
	s.Status, s.ActionID = store.SharePosted, actionID
	return s
}

func TestOpen_PragmasOnFreshConnections(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()

	type pragmas struct {
		journal                                  string
		synchronous, busy, fk, secure, queryOnly int
	}
	read := func(t *testing.T, c *sql.Conn) pragmas {
		t.Helper()
		var p pragmas
		for _, q := range []struct {
			sql  string
			dest any
		}{
			{"PRAGMA journal_mode", &p.journal},
			{"PRAGMA synchronous", &p.synchronous},
			{"PRAGMA busy_timeout", &p.busy},
			{"PRAGMA foreign_keys", &p.fk},
			{"PRAGMA secure_delete", &p.secure},
			{"PRAGMA query_only", &p.queryOnly},
		} {
			if err := c.QueryRowContext(ctx, q.sql).Scan(q.dest); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		return p
	}
	check := func(t *testing.T, p pragmas, queryOnly int) {
		t.Helper()
		want := pragmas{"wal", 2, 5000, 1, 1, queryOnly}
		if p != want {
			t.Fatalf("pragmas = %+v, want %+v", p, want)
		}
	}

	for _, tc := range []struct {
		name      string
		dsn       string
		queryOnly int
	}{
		{"writer", store.WriterDSN(db.Path()), 0},
		{"reader", store.ReaderDSN(db.Path()), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := sql.Open("sqlite3", tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			// Hold 12 connections at once so each one is freshly opened.
			var conns []*sql.Conn
			for range 12 {
				c, err := pool.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				check(t, read(t, c), tc.queryOnly)
			}
			if got := pool.Stats().OpenConnections; got < 10 {
				t.Fatalf("open connections = %d, want >= 10", got)
			}
			for _, c := range conns {
				c.Close()
			}
		})
	}

	t.Run("db pools", func(t *testing.T) {
		writer, reader := db.Pools()
		if got := writer.Stats().MaxOpenConnections; got != 1 {
			t.Fatalf("writer MaxOpenConnections = %d, want 1", got)
		}
		w, err := writer.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, read(t, w), 0)
		w.Close()
		var conns []*sql.Conn
		for range store.ReaderConns {
			c, err := reader.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			check(t, read(t, c), 1)
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
	})

	t.Run("reader refuses writes", func(t *testing.T) {
		_, reader := db.Pools()
		_, err := reader.ExecContext(ctx, `DELETE FROM members`)
		if err == nil {
			t.Fatal("write through the reader pool succeeded")
		}
	})
}

func TestOpen_MigrationsAppliedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	type row struct {
		version   int
		name      string
		appliedAt int64
	}
	list := func() []row {
		raw, err := sql.Open("sqlite3", store.ReaderDSN(path))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.version, &r.name, &r.appliedAt); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}

	db, err := store.Open(ctx, path, store.Options{TokenKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	first := list()
	if len(first) == 0 || first[len(first)-1].version != store.LatestSchemaVersion() {
		t.Fatalf("schema_migrations = %v, want up to version %d", first, store.LatestSchemaVersion())
	}
	if first[0].version != 1 || first[0].name != "init" {
		t.Fatalf("first migration = %+v, want version 1 named init", first[0])
	}

	db, err = store.Open(ctx, path, store.Options{TokenKey: testKey, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	second := list()
	if fmt.Sprint(second) != fmt.Sprint(first) {
		t.Fatalf("after re-open schema_migrations = %v, want unchanged %v", second, first)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Fatalf("database file mode = %v, want 0600", got)
	}
}

func TestOpen_SchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{TokenKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawDB(t, path)
	mustExec(t, raw, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`)
	raw.Close()

	_, err = store.Open(ctx, path, store.Options{TokenKey: testKey})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	for _, v := range []string{"9999", fmt.Sprintf("%04d", store.LatestSchemaVersion())} {
		if !strings.Contains(err.Error(), v) {
			t.Fatalf("error %q does not name version %s", err, v)
		}
	}
}

func TestOpen_BadKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), store.Options{TokenKey: make([]byte, n)})
		if err == nil {
			t.Fatalf("Open with a %d-byte key succeeded", n)
		}
	}
}

func TestPingAndCheckpoint(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	connect(t, db, "m1", "fb1")
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatalf("Checkpoint = %v", err)
	}
	info, err := os.Stat(db.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != 0 {
		t.Fatalf("-wal size after TRUNCATE checkpoint = %d, want 0", info.Size())
	}
}

func TestErrors(t *testing.T) {
	t.Run("IsUnavailable", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			want bool
		}{
			{nil, false},
			{errors.New("x"), false},
			{store.ErrNotFound, false},
			{sqlite3.Error{Code: sqlite3.ErrReadonly}, true},
			{sqlite3.Error{Code: sqlite3.ErrFull}, true},
			{sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrFsync}, true},
			{sqlite3.Error{Code: sqlite3.ErrCantOpen}, true},
			{sqlite3.Error{Code: sqlite3.ErrBusy}, true},
			{sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}, false},
			{fmt.Errorf("wrapped: %w", sqlite3.Error{Code: sqlite3.ErrFull}), true},
		} {
			if got := store.IsUnavailable(tc.err); got != tc.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		}
	})
	t.Run("MapError", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			want error
		}{
			{sql.ErrNoRows, store.ErrNotFound},
			{sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}, store.ErrConflict},
			{sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintPrimaryKey}, store.ErrConflict},
			{sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintForeignKey}, store.ErrNotFound},
			{sqlite3.Error{Code: sqlite3.ErrFull}, store.ErrUnavailable},
			{store.ErrHidden, store.ErrHidden},
		} {
			if got := store.MapError(tc.err); !errors.Is(got, tc.want) {
				t.Errorf("MapError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		}
	})
	t.Run("real readonly database", func(t *testing.T) {
		db := MustOpen(t)
		ro, err := sql.Open("sqlite3", "file:"+db.Path()+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		_, err = ro.Exec(`INSERT INTO members (member_id, created_at) VALUES ('x', 0)`)
		if !store.IsUnavailable(err) {
			t.Fatalf("IsUnavailable(%v) = false, want true", err)
		}
	})
	t.Run("ScrubError", func(t *testing.T) {
		got := store.ScrubError(`Get "https://graph/me?access_token=EAAB123&appsecret_proof=abc": EOF`)
		if strings.Contains(got, "EAAB123") || strings.Contains(got, "abc\"") {
			t.Fatalf("ScrubError kept a secret: %q", got)
		}
		if long := store.ScrubError(strings.Repeat("é", 2000)); len(long) > 1000 {
			t.Fatalf("ScrubError length = %d, want <= 1000", len(long))
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3,200 fsynced transactions")
	}
	path := filepath.Join(t.TempDir(), "contention.db")
	// Two handles on the file, as two processes would have.
	dbs := []*store.DB{MustOpenAt(t, path, store.Options{}), MustOpenAt(t, path, store.Options{})}
	const goroutines, writes = 16, 200
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*writes)
	for g := range goroutines {
		wg.Go(func() {
			db := dbs[g%len(dbs)]
			for i := range writes {
				if _, _, err := db.HideTitle(ctx, fmt.Sprintf("m%02d", g), fmt.Sprintf("t%03d", i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			t.Fatalf("HideTitle = %v (database locked)", err)
		}
		t.Fatalf("HideTitle = %v", err)
	}
	var n int
	raw := rawDB(t, path)
	if err := raw.QueryRow(`SELECT COUNT(*) FROM hidden_titles`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*writes {
		t.Fatalf("hidden_titles rows = %d, want %d", n, goroutines*writes)
	}
	var integrity string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
}

func TestChangeVersion(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	last, err := db.ChangeVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, wantBump bool, f func() error) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v, err := db.ChangeVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := v > last; got != wantBump {
			t.Fatalf("%s: version %d -> %d, bumped = %v, want %v", name, last, v, got, wantBump)
		}
		last = v
	}
	step("connect", true, func() error { connect(t, db, "m1", "fb1"); return nil })
	step("pause", true, func() error { return db.SetSharingEnabled(ctx, "m1", false) })
	step("pause again", false, func() error { return db.SetSharingEnabled(ctx, "m1", false) })
	step("resume", true, func() error { return db.SetSharingEnabled(ctx, "m1", true) })
	step("hide", true, func() error { _, _, err := db.HideTitle(ctx, "m1", "t1"); return err })
	step("hide again", false, func() error { _, _, err := db.HideTitle(ctx, "m1", "t1"); return err })
	step("unhide", true, func() error { _, err := db.UnhideTitle(ctx, "m1", "t1"); return err })
	step("unhide again", false, func() error { _, err := db.UnhideTitle(ctx, "m1", "t1"); return err })
	step("reconnect required", true, func() error { _, err := db.MarkReconnectRequired(ctx, "m1"); return err })
	step("reconnect required again", false, func() error { _, err := db.MarkReconnectRequired(ctx, "m1"); return err })
	step("friends sync", false, func() error {
		_, _, err := db.ReplaceFriends(ctx, "m1", []store.Friend{{"fb2", "B"}}, time.Time{}, time.Time{})
		return err
	})
	step("purge", true, func() error {
		_, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect})
		return err
	})
}

func TestOpen_NeedsFilePath(t *testing.T) {
	t.Chdir(t.TempDir()) // were a name taken as a file, it lands here
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if db, err := store.Open(context.Background(), p, store.Options{TokenKey: testKey}); err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded, want an error", p)
		}
	}
}
