package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

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
