package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"watchshare/store"
)

func TestShareContext(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()

	sc, err := db.ShareContext(ctx, "never-seen", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Connected || sc.Hidden || sc.LastShare != nil || sc.Member.Status != store.StatusNotConnected || !sc.Member.SharingEnabled {
		t.Fatalf("ShareContext(never seen) = %+v", sc)
	}
	if v, _ := db.ChangeVersion(ctx); v != 0 {
		t.Fatalf("ShareContext wrote: ChangeVersion = %d", v)
	}

	connect(t, db, "m1", "fb1")
	sc, err = db.ShareContext(ctx, "m1", "t1")
	if err != nil || !sc.Connected || sc.Hidden || sc.LastShare != nil || sc.Member.FacebookUserID != "fb1" {
		t.Fatalf("ShareContext(connected) = %+v, %v", sc, err)
	}

	s := post(t, db, "m1", "t1", "e1", "act1")
	clock.Advance(time.Minute)
	sc, err = db.ShareContext(ctx, "m1", "t1")
	if err != nil || sc.LastShare == nil {
		t.Fatalf("ShareContext after post = %+v, %v", sc, err)
	}
	want := store.Share{ID: s.ID, MemberID: "m1", TitleID: "t1", TitleName: "Title t1", TitleURL: "https://www.example.com/title/t1",
		TitleType: "movie", SessionID: "s-e1", EventID: "e1", Status: store.SharePosted, ActionID: "act1",
		AttemptedAt: clock.Now().Add(-time.Minute), SharedAt: clock.Now().Add(-time.Minute)}
	if !reflect.DeepEqual(*sc.LastShare, want) {
		t.Fatalf("LastShare = %+v, want %+v", *sc.LastShare, want)
	}

	pending, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t1", EventID: "e2"})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ = db.ShareContext(ctx, "m1", "t1")
	if sc.LastShare == nil || sc.LastShare.ID != pending.ID || sc.LastShare.Status != store.SharePending {
		t.Fatalf("LastShare with a pending share = %+v, want share %d pending", sc.LastShare, pending.ID)
	}

	if _, _, err := db.HideTitle(ctx, "m1", "t2"); err != nil {
		t.Fatal(err)
	}
	if sc, _ := db.ShareContext(ctx, "m1", "t2"); !sc.Hidden || sc.LastShare != nil {
		t.Fatalf("ShareContext(hidden title) = %+v", sc)
	}
	if err := db.SetSharingEnabled(ctx, "m1", false); err != nil {
		t.Fatal(err)
	}
	if sc, _ := db.ShareContext(ctx, "m1", "t3"); sc.Member.SharingEnabled || !sc.Connected {
		t.Fatalf("ShareContext(paused) = %+v", sc)
	}
}

func TestBeginShare_Errors(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	connect(t, db, "rr", "fb-rr")
	if _, err := db.MarkReconnectRequired(ctx, "rr"); err != nil {
		t.Fatal(err)
	}
	connect(t, db, "paused", "fb-p")
	if err := db.SetSharingEnabled(ctx, "paused", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.HideTitle(ctx, "m1", "hidden"); err != nil {
		t.Fatal(err)
	}
	first, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t1", EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	posted := post(t, db, "m1", "t2", "e2", "act2")
	inFlight, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t8", EventID: "e8"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.HideTitle(ctx, "m1", "t8"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		s    store.Share
		want error
		// existing is the share a conflict error must carry (0 = none).
		existing int64
	}{
		{"never connected", store.Share{MemberID: "nobody", TitleID: "t1", EventID: "x1"}, store.ErrNotConnected, 0},
		{"reconnect required", store.Share{MemberID: "rr", TitleID: "t1", EventID: "x2"}, store.ErrNotConnected, 0},
		{"sharing paused", store.Share{MemberID: "paused", TitleID: "t1", EventID: "x3"}, store.ErrSharingDisabled, 0},
		{"hidden title", store.Share{MemberID: "m1", TitleID: "hidden", EventID: "x4"}, store.ErrHidden, 0},
		{"title already pending", store.Share{MemberID: "m1", TitleID: "t1", EventID: "x5"}, store.ErrConflict, first.ID},
		{"same event redelivered while pending", store.Share{MemberID: "m1", TitleID: "t1", EventID: "e1"}, store.ErrConflict, first.ID},
		{"same event already posted", store.Share{MemberID: "m1", TitleID: "t2", EventID: "e2"}, store.ErrConflict, posted.ID},
		{"same event, other title", store.Share{MemberID: "m1", TitleID: "t9", EventID: "e2"}, store.ErrConflict, posted.ID},
		{"pending share of a title hidden since", store.Share{MemberID: "m1", TitleID: "t8", EventID: "e8-redelivered"}, store.ErrConflict, inFlight.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.BeginShare(ctx, tc.s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("BeginShare = %v, want %v", err, tc.want)
			}
			if tc.existing == 0 {
				return
			}
			var pe *store.PendingShareError
			var de *store.DuplicateEventError
			switch {
			case errors.As(err, &pe):
				if pe.Existing.ID != tc.existing || pe.Existing.Status != store.SharePending {
					t.Fatalf("PendingShareError.Existing = %+v, want pending share %d", pe.Existing, tc.existing)
				}
			case errors.As(err, &de):
				if de.Existing.ID != tc.existing || de.Existing.Status != store.SharePosted {
					t.Fatalf("DuplicateEventError.Existing = %+v, want posted share %d", de.Existing, tc.existing)
				}
			default:
				t.Fatalf("BeginShare = %T, want a conflict error carrying the existing share", err)
			}
		})
	}
}

func TestShareLifecycle(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")

	s, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t1", TitleName: "One", EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == 0 || s.Status != store.SharePending || !s.AttemptedAt.Equal(clock.Now()) {
		t.Fatalf("BeginShare = %+v", s)
	}

	t.Run("TakeOverShare", func(t *testing.T) {
		clock.Advance(10 * time.Minute)
		got, err := db.TakeOverShare(ctx, s.ID, "e1-redelivered")
		if err != nil {
			t.Fatal(err)
		}
		if !got.AttemptedAt.Equal(clock.Now()) || got.EventID != "e1-redelivered" || got.Status != store.SharePending {
			t.Fatalf("TakeOverShare = %+v", got)
		}
		if _, err := db.TakeOverShare(ctx, 999999, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TakeOverShare(unknown) = %v, want ErrNotFound", err)
		}
	})

	sharedAt := clock.Now().Add(-time.Second)
	hidden, err := db.CompleteShare(ctx, s.ID, "act1", sharedAt)
	if err != nil || hidden {
		t.Fatalf("CompleteShare = %v, %v", hidden, err)
	}
	if hidden, err := db.CompleteShare(ctx, s.ID, "act1", sharedAt); err != nil || hidden {
		t.Fatalf("CompleteShare again = %v, %v; want no-op", hidden, err)
	}
	if _, err := db.CompleteShare(ctx, s.ID, "act-other", sharedAt); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CompleteShare with another action = %v, want ErrConflict", err)
	}
	if _, err := db.TakeOverShare(ctx, s.ID, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeOverShare(posted) = %v, want ErrNotFound", err)
	}
	if err := db.AbandonShare(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AbandonShare(posted) = %v, want ErrNotFound", err)
	}

	clock.Advance(time.Hour)
	s2 := post(t, db, "m1", "t2", "e2", "act2")
	shares, err := db.ListShares(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 2 || shares[0].ID != s2.ID || shares[1].ID != s.ID || !shares[1].SharedAt.Equal(sharedAt) {
		t.Fatalf("ListShares = %+v, want [%d %d] newest first", shares, s2.ID, s.ID)
	}

	t.Run("AbandonShare", func(t *testing.T) {
		p, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t3", EventID: "e3"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AbandonShare(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.AbandonShare(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("AbandonShare again = %v, want ErrNotFound", err)
		}
		// The event may be tried again: nothing was posted.
		if _, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t3", EventID: "e3"}); err != nil {
			t.Fatalf("BeginShare after abandon = %v", err)
		}
	})

	t.Run("hidden meanwhile", func(t *testing.T) {
		p, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t4", EventID: "e4"})
		if err != nil {
			t.Fatal(err)
		}
		if _, dels, err := db.HideTitle(ctx, "m1", "t4"); err != nil || len(dels) != 0 {
			t.Fatalf("HideTitle = %v, %v; want no deletions yet", dels, err)
		}
		hidden, err := db.CompleteShare(ctx, p.ID, "act4", time.Time{})
		if err != nil || !hidden {
			t.Fatalf("CompleteShare = %v, %v; want hidden meanwhile", hidden, err)
		}
		if n, err := db.PendingDeletions(ctx, "m1", "t4"); err != nil || n != 1 {
			t.Fatalf("PendingDeletions = %d, %v; want 1", n, err)
		}
		items, err := db.ClaimOutbox(ctx, clock.Now(), 10, time.Minute)
		if err != nil || len(items) != 1 {
			t.Fatalf("ClaimOutbox = %v, %v; want the deletion", items, err)
		}
		it := items[0]
		if it.Kind != store.OutboxDeleteAction || it.ActionID != "act4" || it.ShareID != p.ID || it.Token != "token-of-m1" || it.FacebookUserID != "fb1" {
			t.Fatalf("queued deletion = %+v (token ok: %v)", it, it.Token == "token-of-m1")
		}
		for _, sh := range mustList(t, db, "m1") {
			if sh.TitleID == "t4" {
				t.Fatalf("ListShares lists a share being deleted: %+v", sh)
			}
		}
		if err := db.CompleteOutbox(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
		ex, _ := db.Export(ctx, "m1")
		for _, sh := range ex.Shares {
			if sh.ID == p.ID {
				t.Fatalf("share %d still held after its deletion completed: %+v", p.ID, sh)
			}
		}
	})

	t.Run("complete after purge", func(t *testing.T) {
		p, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t5", EventID: "e5"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CompleteShare(ctx, p.ID, "act5", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CompleteShare after purge = %v, want ErrNotFound", err)
		}
		// A new share never reuses the purged id.
		connect(t, db, "m2", "fb2")
		s, err := db.BeginShare(ctx, store.Share{MemberID: "m2", TitleID: "t5", EventID: "e5"})
		if err != nil {
			t.Fatal(err)
		}
		if s.ID <= p.ID {
			t.Fatalf("new share id %d reuses a purged id (<= %d)", s.ID, p.ID)
		}
		if _, err := db.CompleteShare(ctx, p.ID, "act5", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CompleteShare(purged id) = %v, want ErrNotFound", err)
		}
		if err := db.RecordOrphanAction(ctx, store.OutboxItem{MemberID: "m1", ActionID: "act5", Token: "token-of-m1"}); err != nil {
			t.Fatal(err)
		}
		items, err := db.ClaimOutbox(ctx, clock.Now(), 10, time.Minute)
		if err != nil || len(items) != 1 {
			t.Fatalf("ClaimOutbox = %v, %v; want the orphan", items, err)
		}
		if it := items[0]; it.ActionID != "act5" || it.Token != "token-of-m1" || !it.ExpiresAt.Equal(clock.Now().Add(store.OrphanTTL)) || it.ShareID != 0 {
			t.Fatalf("orphan item = %+v (token ok: %v)", it, it.Token == "token-of-m1")
		}
	})
}

func TestHideTitle(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	a := post(t, db, "m1", "t1", "e1", "act1")
	clock.Advance(25 * time.Hour)
	b := post(t, db, "m1", "t1", "e2", "act2")
	other := post(t, db, "m1", "t2", "e3", "act3")

	hiddenAt, dels, err := db.HideTitle(ctx, "m1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !hiddenAt.Equal(clock.Now()) || len(dels) != 2 {
		t.Fatalf("HideTitle = %v, %v; want now and 2 deletions", hiddenAt, dels)
	}
	gotActions := map[string]int64{dels[0].ActionID: dels[0].ShareID, dels[1].ActionID: dels[1].ShareID}
	if want := map[string]int64{"act1": a.ID, "act2": b.ID}; !reflect.DeepEqual(gotActions, want) {
		t.Fatalf("deletions = %v, want %v", gotActions, want)
	}
	for _, d := range dels {
		if d.Kind != store.OutboxDeleteAction || d.Token != "" || !d.NextAttemptAt.Equal(clock.Now().Add(store.HandoffLease)) {
			t.Fatalf("deletion = %+v", d)
		}
	}
	if shares := mustList(t, db, "m1"); len(shares) != 1 || shares[0].ID != other.ID {
		t.Fatalf("ListShares after hide = %+v, want only share %d", shares, other.ID)
	}

	clock.Advance(time.Minute)
	hiddenAt2, dels2, err := db.HideTitle(ctx, "m1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !hiddenAt2.Equal(hiddenAt) || !reflect.DeepEqual(dels2, dels) {
		t.Fatalf("HideTitle again = %v, %+v; want %v, %+v", hiddenAt2, dels2, hiddenAt, dels)
	}
	counts, err := db.OutboxCounts(ctx)
	if err != nil || counts[store.OutboxDeleteAction] != 2 || counts[store.OutboxRevoke] != 0 {
		t.Fatalf("OutboxCounts = %v, %v; want 2 deletions", counts, err)
	}
	if n, _ := db.PendingDeletions(ctx, "m1", "t1"); n != 2 {
		t.Fatalf("PendingDeletions = %d, want 2", n)
	}
	if err := db.CompleteOutbox(ctx, dels[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteOutbox(ctx, dels[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompleteOutbox again = %v, want ErrNotFound", err)
	}
	if n, _ := db.PendingDeletions(ctx, "m1", "t1"); n != 1 {
		t.Fatalf("PendingDeletions = %d, want 1", n)
	}

	hidden, err := db.ListHiddenTitles(ctx, "m1")
	if err != nil || len(hidden) != 1 || hidden[0] != (store.HiddenTitle{TitleID: "t1", HiddenAt: hiddenAt}) {
		t.Fatalf("ListHiddenTitles = %v, %v", hidden, err)
	}
	clock.Advance(time.Minute)
	if _, _, err := db.HideTitle(ctx, "not-yet-a-member", "t9"); err != nil {
		t.Fatalf("HideTitle for a member never seen = %v", err)
	}
	if _, _, err := db.HideTitle(ctx, "m1", "t3"); err != nil {
		t.Fatal(err)
	}
	if hidden, _ := db.ListHiddenTitles(ctx, "m1"); len(hidden) != 2 || hidden[0].TitleID != "t3" {
		t.Fatalf("ListHiddenTitles = %v, want t3 first", hidden)
	}
	if ok, err := db.UnhideTitle(ctx, "m1", "t1"); err != nil || !ok {
		t.Fatalf("UnhideTitle = %v, %v", ok, err)
	}
	if ok, err := db.UnhideTitle(ctx, "m1", "t1"); err != nil || ok {
		t.Fatalf("UnhideTitle again = %v, %v; want false", ok, err)
	}
	if h, _ := db.IsHidden(ctx, "m1", "t1"); h {
		t.Fatal("IsHidden after unhide = true")
	}
	// Unhiding does not cancel the deletion already asked for.
	if n, _ := db.PendingDeletions(ctx, "m1", "t1"); n != 1 {
		t.Fatalf("PendingDeletions after unhide = %d, want 1", n)
	}
}

func mustList(tb testing.TB, db *store.DB, memberID string) []store.Share {
	tb.Helper()
	shares, err := db.ListShares(context.Background(), memberID)
	if err != nil {
		tb.Fatal(err)
	}
	return shares
}

func TestBeginShareAfter_Stale(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	if _, err := db.BeginShareAfter(ctx, store.Share{MemberID: "m1", TitleID: "t1", EventID: "e0"}, 7); !errors.Is(err, store.ErrStale) {
		t.Fatalf("BeginShareAfter(prev 7, none recorded) = %v, want ErrStale", err)
	}
	first := post(t, db, "m1", "t1", "e1", "act1")
	// The decision saw no share, but one was recorded since.
	if _, err := db.BeginShareAfter(ctx, store.Share{MemberID: "m1", TitleID: "t1", EventID: "e2"}, 0); !errors.Is(err, store.ErrStale) {
		t.Fatalf("BeginShareAfter(prev 0) = %v, want ErrStale", err)
	}
	sc, err := db.ShareContext(ctx, "m1", "t1")
	if err != nil || sc.LastShare == nil || sc.LastShare.ID != first.ID {
		t.Fatalf("ShareContext = %+v, %v; want LastShare %d", sc, err, first.ID)
	}
	// What ShareContext reports is what BeginShareAfter compares with.
	s, err := db.BeginShareAfter(ctx, store.Share{MemberID: "m1", TitleID: "t1", EventID: "e2"}, sc.LastShare.ID)
	if err != nil || s.Status != store.SharePending {
		t.Fatalf("BeginShareAfter(prev = LastShare) = %+v, %v", s, err)
	}
	// Other titles do not count.
	if _, err := db.BeginShareAfter(ctx, store.Share{MemberID: "m1", TitleID: "t2", EventID: "e3"}, 0); err != nil {
		t.Fatalf("BeginShareAfter(other title, prev 0) = %v", err)
	}
}

func TestTakeOverShare_EventConflict(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	post(t, db, "m1", "t1", "e1", "act1")
	p, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t2", EventID: "e2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.TakeOverShare(ctx, p.ID, "e1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("TakeOverShare with another share's event id = %v, want ErrConflict", err)
	}
	sc, err := db.ShareContext(ctx, "m1", "t2")
	if err != nil || sc.LastShare == nil || sc.LastShare.EventID != "e2" || !sc.LastShare.AttemptedAt.Equal(p.AttemptedAt) {
		t.Fatalf("share after the failed take-over = %+v, %v; want it unchanged", sc.LastShare, err)
	}
}

func TestWrites_RequiredFields(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"CreateOAuthState without state": func() error {
			return db.CreateOAuthState(ctx, store.OAuthState{MemberID: "m1", Verifier: "v"})
		},
		"CreateOAuthState without member": func() error {
			return db.CreateOAuthState(ctx, store.OAuthState{State: "s", Verifier: "v"})
		},
		"SaveConnection without token": func() error {
			_, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1"})
			return err
		},
		"BeginShare without event": func() error {
			_, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: "t1"})
			return err
		},
		"CompleteShare without action": func() error {
			_, err := db.CompleteShare(ctx, 1, "", time.Time{})
			return err
		},
		"HideTitle without title": func() error {
			_, _, err := db.HideTitle(ctx, "m1", "")
			return err
		},
		"HideTitle without member": func() error {
			_, _, err := db.HideTitle(ctx, "", "t1")
			return err
		},
		"RecordOrphanAction without action": func() error {
			return db.RecordOrphanAction(ctx, store.OutboxItem{MemberID: "m1", Token: "t"})
		},
		"PurgeMember without path": func() error {
			_, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{})
			return err
		},
		"CreateDeletionRequest without code": func() error {
			return db.CreateDeletionRequest(ctx, "")
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s succeeded", name)
		}
	}
	if ex, err := db.Export(ctx, "m1"); err != nil || ex.Member.Status != store.StatusNotConnected || len(ex.HiddenTitles) != 0 || len(ex.Audit) != 0 {
		t.Fatalf("Export after refused writes = %+v, %v; want nothing written", ex, err)
	}
}
