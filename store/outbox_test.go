package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"watchshare/store"
)

func TestClaimOutbox_Lease(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "outbox.db")
	db := MustOpenAt(t, path, store.Options{Now: clock.Now})
	other := MustOpenAt(t, path, store.Options{Now: clock.Now}) // a second process
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	post(t, db, "m1", "t1", "e1", "act1")
	post(t, db, "m1", "t2", "e2", "act2")
	for _, title := range []string{"t1", "t2"} {
		if _, _, err := db.HideTitle(ctx, "m1", title); err != nil {
			t.Fatal(err)
		}
	}
	now := clock.Now()
	if items, err := db.ClaimOutbox(ctx, now, 10, time.Minute); err != nil || len(items) != 0 {
		t.Fatalf("ClaimOutbox during the handoff lease = %v, %v; want nothing", items, err)
	}
	now = now.Add(store.HandoffLease)
	const lease = 2 * time.Minute
	first, err := db.ClaimOutbox(ctx, now, 1, lease)
	if err != nil || len(first) != 1 || first[0].ActionID != "act1" || first[0].Token != "token-of-m1" {
		t.Fatalf("ClaimOutbox(limit 1) = %v, %v; want act1 with the member's token", first, err)
	}
	if !first[0].NextAttemptAt.Equal(now.Add(lease)) {
		t.Fatalf("NextAttemptAt = %v, want now+lease %v", first[0].NextAttemptAt, now.Add(lease))
	}
	second, err := other.ClaimOutbox(ctx, now, 10, lease)
	if err != nil || len(second) != 1 || second[0].ActionID != "act2" {
		t.Fatalf("ClaimOutbox by another process = %v, %v; want only act2", second, err)
	}
	if again, err := other.ClaimOutbox(ctx, now.Add(lease-time.Millisecond), 10, lease); err != nil || len(again) != 0 {
		t.Fatalf("ClaimOutbox within the lease = %v, %v; want nothing", again, err)
	}

	if err := db.RetryOutbox(ctx, first[0].ID, now.Add(time.Hour), "graph: 500 at https://graph/x?access_token=SECRET1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RetryOutbox(ctx, 424242, now, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RetryOutbox(unknown) = %v, want ErrNotFound", err)
	}
	after, err := db.ClaimOutbox(ctx, now.Add(lease), 10, lease)
	if err != nil || len(after) != 1 || after[0].ID != second[0].ID {
		t.Fatalf("ClaimOutbox after the lease = %v, %v; want the unfinished act2 only", after, err)
	}
	if err := db.CompleteOutbox(ctx, after[0].ID); err != nil {
		t.Fatal(err)
	}
	retried, err := db.ClaimOutbox(ctx, now.Add(time.Hour), 10, lease)
	if err != nil || len(retried) != 1 || retried[0].ID != first[0].ID {
		t.Fatalf("ClaimOutbox at the retry time = %v, %v; want act1", retried, err)
	}
	if r := retried[0]; r.Attempts != 1 || r.LastError != "graph: 500 at https://graph/x?access_token=[REDACTED]" {
		t.Fatalf("retried item: attempts %d, last error %q", r.Attempts, r.LastError)
	}
}

func TestOutbox_ExpiryAndCounts(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	for _, a := range []string{"a1", "a2"} {
		if err := db.RecordOrphanAction(ctx, store.OutboxItem{MemberID: "gone", ActionID: a, Token: "tok"}); err != nil {
			t.Fatal(err)
		}
	}
	connect(t, db, "m1", "fb1")
	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect, Revoke: &store.OutboxItem{}}); err != nil {
		t.Fatal(err)
	}
	counts, err := db.OutboxCounts(ctx)
	if err != nil || counts[store.OutboxDeleteAction] != 2 || counts[store.OutboxRevoke] != 1 {
		t.Fatalf("OutboxCounts = %v, %v; want 2 deletions and 1 revoke", counts, err)
	}
	if n, err := db.DropExpiredOutbox(ctx, clock.Now().Add(store.OrphanTTL-time.Millisecond)); err != nil || n != 0 {
		t.Fatalf("DropExpiredOutbox before expiry = %d, %v; want 0", n, err)
	}
	if items, err := db.ClaimOutbox(ctx, clock.Now().Add(store.OrphanTTL), 10, time.Minute); err != nil || len(items) != 0 {
		t.Fatalf("ClaimOutbox of expired items = %v, %v; want none", items, err)
	}
	if n, err := db.DropExpiredOutbox(ctx, clock.Now().Add(store.OrphanTTL)); err != nil || n != 3 {
		t.Fatalf("DropExpiredOutbox = %d, %v; want 3", n, err)
	}
	if counts, _ := db.OutboxCounts(ctx); counts[store.OutboxDeleteAction]+counts[store.OutboxRevoke] != 0 {
		t.Fatalf("OutboxCounts after drop = %v", counts)
	}
}

func TestClaimOutbox_TokenDoesNotDecrypt(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	post(t, db, "m1", "t1", "e1", "act1")
	if _, _, err := db.HideTitle(ctx, "m1", "t1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordOrphanAction(ctx, store.OutboxItem{MemberID: "gone", ActionID: "act-orphan", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, db.Path())
	mustExec(t, raw, `UPDATE connections SET token_ct = x'00' WHERE member_id = 'm1'`)
	mustExec(t, raw, `UPDATE outbox SET token_ct = x'00' WHERE member_id = 'gone'`)
	items, err := db.ClaimOutbox(ctx, clock.Now().Add(store.HandoffLease), 10, time.Minute)
	if err != nil || len(items) != 2 {
		t.Fatalf("ClaimOutbox = %v, %v; want both items despite the bad tokens", items, err)
	}
	for _, it := range items {
		if it.Token != "" {
			t.Fatalf("item %d has a token after a failed decrypt", it.ID)
		}
	}
}

// TestClaimOutbox_RevokeAfterDeletions: a revocation is not claimed while
// the member still has post deletions queued, which need the app's access
// (found by resilience.TestGraphOutageCompletesLater: the revocation ran
// first and the deletions could never succeed).
func TestClaimOutbox_RevokeAfterDeletions(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	db := MustOpenAt(t, filepath.Join(t.TempDir(), "outbox.db"), store.Options{Now: clock.Now})
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	connect(t, db, "m2", "fb2")
	for _, m := range []string{"m1", "m2"} {
		if _, err := db.PurgeMember(ctx, m, store.PurgeOptions{Path: store.PurgeDisconnect, Revoke: &store.OutboxItem{Token: "tok-" + m}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"act1", "act2"} {
		if err := db.RecordOrphanAction(ctx, store.OutboxItem{MemberID: "m1", ActionID: a, Token: "tok-m1"}); err != nil {
			t.Fatal(err)
		}
	}
	now := clock.Now().Add(time.Minute)
	claim := func() (deletes, revokes []string) {
		t.Helper()
		items, err := db.ClaimOutbox(ctx, now, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Kind == store.OutboxRevoke {
				revokes = append(revokes, it.MemberID)
			} else {
				deletes = append(deletes, it.ActionID)
				if err := db.CompleteOutbox(ctx, it.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		now = now.Add(time.Minute) // past the lease
		return deletes, revokes
	}
	if d, r := claim(); len(d) != 2 || len(r) != 1 || r[0] != "m2" {
		t.Fatalf("first claim: deletions %v, revocations %v; want both deletions and only m2's revocation", d, r)
	}
	if d, r := claim(); len(d) != 0 || len(r) != 2 {
		t.Fatalf("after the deletions: deletions %v, revocations %v; want both revocations", d, r)
	}
}
