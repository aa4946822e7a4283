package store_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"watchshare/store"
)

// TestGroupCommit: writes that run at the same time are committed together,
// yet a failing write undoes only its own changes and gets its own error.
func TestGroupCommit(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%5 == 0 {
				// Fails inside its transaction: the member has no connection.
				_, errs[i] = db.BeginShare(ctx, store.Share{MemberID: "ghost", TitleID: fmt.Sprint("t", i), EventID: fmt.Sprint("e", i)})
				return
			}
			errs[i] = db.SetSharingEnabled(ctx, fmt.Sprint("m", i), false)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%5 == 0 {
			if !errors.Is(err, store.ErrNotConnected) {
				t.Errorf("BeginShare %d = %v, want ErrNotConnected", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SetSharingEnabled %d = %v", i, err)
		}
		m, err := db.GetMember(ctx, fmt.Sprint("m", i))
		if err != nil || m.SharingEnabled {
			t.Errorf("GetMember(m%d) = %+v, %v, want sharing disabled", i, m, err)
		}
	}
	if shares, err := db.ListShares(ctx, "ghost"); err != nil || len(shares) != 0 {
		t.Fatalf("ghost's shares = %v, %v", shares, err)
	}
}

// TestWriteCanceledContext: a write whose context ended before its turn is
// not run, and the others of its group are unaffected.
func TestWriteCanceledContext(t *testing.T) {
	db := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.SetSharingEnabled(ctx, "m1", false); !errors.Is(err, context.Canceled) {
		t.Fatalf("SetSharingEnabled with a canceled context = %v", err)
	}
	if m, err := db.GetMember(context.Background(), "m1"); err != nil || !m.SharingEnabled {
		t.Fatalf("GetMember = %+v, %v, want untouched", m, err)
	}
}

// TestGroupCommit_Savepoints: in one group, a write that fails or panics
// after changing a row undoes only its own change; the others commit.
func TestGroupCommit_Savepoints(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	insert := `INSERT INTO members (member_id, sharing_enabled, created_at) VALUES (?, 1, 0)`
	held, release := make(chan struct{}), make(chan struct{})
	leaderDone := make(chan error, 1)
	go func() {
		leaderDone <- db.Write(ctx, func(exec func(string, ...any) error) error {
			close(held)
			<-release // hold the commit so that the writes below queue as one group
			return exec(insert, "leader")
		})
	}()
	waitQueued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for db.QueuedWrites() != n {
			if time.Now().After(deadline) {
				t.Fatalf("QueuedWrites = %d, want %d", db.QueuedWrites(), n)
			}
			runtime.Gosched()
		}
	}
	<-held
	errFail := errors.New("fails after its insert")
	writes := []func(exec func(string, ...any) error) error{
		func(exec func(string, ...any) error) error { return exec(insert, "kept-1") },
		func(exec func(string, ...any) error) error {
			if err := exec(insert, "failed"); err != nil {
				return err
			}
			return errFail
		},
		func(exec func(string, ...any) error) error {
			if err := exec(insert, "panicked"); err != nil {
				return err
			}
			panic("boom")
		},
		func(exec func(string, ...any) error) error { return exec(insert, "kept-2") },
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, f := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Write(ctx, f)
		}()
		waitQueued(i + 1) // queued in this order
	}
	close(release)
	if err := <-leaderDone; err != nil {
		t.Fatalf("leader = %v", err)
	}
	wg.Wait()
	if errs[0] != nil || errs[3] != nil {
		t.Fatalf("kept writes = %v, %v", errs[0], errs[3])
	}
	if !errors.Is(errs[1], errFail) {
		t.Fatalf("failing write = %v, want %v", errs[1], errFail)
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "panic") {
		t.Fatalf("panicking write = %v, want a panic error", errs[2])
	}
	var got string
	if err := rawDB(t, db.Path()).QueryRow(`SELECT group_concat(member_id, ' ') FROM
		(SELECT member_id FROM members ORDER BY member_id)`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := "kept-1 kept-2 leader"; got != want {
		t.Fatalf("members = %v, want %v", got, want)
	}
}

// TestWrite_FailureRollsBack: a write alone in its group that fails after a
// change leaves nothing.
func TestWrite_FailureRollsBack(t *testing.T) {
	db := MustOpen(t)
	errFail := errors.New("fails after its insert")
	err := db.Write(context.Background(), func(exec func(string, ...any) error) error {
		if err := exec(`INSERT INTO members (member_id, sharing_enabled, created_at) VALUES ('lone', 1, 0)`); err != nil {
			return err
		}
		return errFail
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Write = %v, want %v", err, errFail)
	}
	var n int
	if err := rawDB(t, db.Path()).QueryRow(`SELECT COUNT(*) FROM members`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("members after the failed write = %d, %v; want 0", n, err)
	}
}
