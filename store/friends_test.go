package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"watchshare/store"
)

func TestReplaceFriends(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	if _, _, err := db.ReplaceFriends(ctx, "m1", []store.Friend{{"fb2", "B"}}, time.Time{}, time.Time{}); !errors.Is(err, store.ErrNotConnected) {
		t.Fatalf("ReplaceFriends(not connected) = %v, want ErrNotConnected", err)
	}
	connect(t, db, "m1", "fb1")
	next := clock.Now().Add(24 * time.Hour)
	for _, tc := range []struct {
		name           string
		friends        []store.Friend
		added, removed int
		want           []store.Friend
	}{
		{"first sync", []store.Friend{{"fb2", "B"}, {"fb3", "C"}, {"fb2", "B2"}}, 2, 0, []store.Friend{{"fb2", "B2"}, {"fb3", "C"}}},
		{"same again", []store.Friend{{"fb2", "B2"}, {"fb3", "C"}}, 0, 0, []store.Friend{{"fb2", "B2"}, {"fb3", "C"}}},
		{"one left, one came, one renamed", []store.Friend{{"fb3", "Cee"}, {"fb4", "D"}}, 1, 1, []store.Friend{{"fb3", "Cee"}, {"fb4", "D"}}},
		{"empty", nil, 0, 2, []store.Friend{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, err := db.ReplaceFriends(ctx, "m1", tc.friends, clock.Now(), next)
			if err != nil || added != tc.added || removed != tc.removed {
				t.Fatalf("ReplaceFriends = %d, %d, %v; want %d, %d", added, removed, err, tc.added, tc.removed)
			}
			ex, err := db.Export(ctx, "m1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ex.Friends, tc.want) {
				t.Fatalf("friends = %v, want %v", ex.Friends, tc.want)
			}
			if !ex.Member.LastFriendSync.Equal(clock.Now()) || !ex.Member.NextFriendSync.Equal(next) {
				t.Fatalf("sync times = %v, %v", ex.Member.LastFriendSync, ex.Member.NextFriendSync)
			}
		})
	}
}

func TestReplaceFriends_Atomic(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	sets := [2][]store.Friend{}
	for i := range 40 {
		sets[0] = append(sets[0], store.Friend{FacebookUserID: fmt.Sprintf("a%02d", i), Name: "A"})
		sets[1] = append(sets[1], store.Friend{FacebookUserID: fmt.Sprintf("b%02d", i), Name: "B"})
	}
	if _, _, err := db.ReplaceFriends(ctx, "m1", sets[0], time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		for i := range 30 {
			if _, _, err := db.ReplaceFriends(ctx, "m1", sets[(i+1)%2], time.Time{}, time.Time{}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for reads := 0; ; reads++ {
		select {
		case <-stop:
			wg.Wait()
			return
		default:
		}
		ex, err := db.Export(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.Friends) != 40 || ex.Friends[0].Name != ex.Friends[39].Name {
			t.Fatalf("read %d saw a partial friend list: %d friends", reads, len(ex.Friends))
		}
	}
}

func TestFriendsActivity(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	for _, m := range []string{"me", "bob", "cat", "dan", "eve"} {
		connect(t, db, m, "fb-"+m)
	}
	friends := []store.Friend{{"fb-bob", "Bob"}, {"fb-cat", "Cat"}, {"fb-dan", "Dan"}, {"fb-eve", "Eve"}, {"fb-stranger", "Not a member"}}
	if _, _, err := db.ReplaceFriends(ctx, "me", friends, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	post(t, db, "bob", "t1", "b1", "ab1")
	clock.Advance(time.Minute)
	post(t, db, "bob", "t2", "b2", "ab2") // hidden below
	clock.Advance(time.Minute)
	post(t, db, "cat", "t3", "c1", "ac1") // cat pauses below
	clock.Advance(time.Minute)
	post(t, db, "dan", "t4", "d1", "ad1") // dan disconnects below
	clock.Advance(time.Minute)
	post(t, db, "eve", "t5", "e1", "ae1")
	clock.Advance(time.Minute)
	post(t, db, "me", "t6", "m1", "am1") // my own shares are not my friends' activity
	// A pending share is not activity.
	if _, err := db.BeginShare(ctx, store.Share{MemberID: "bob", TitleID: "t7", EventID: "b3"}); err != nil {
		t.Fatal(err)
	}

	if _, _, err := db.HideTitle(ctx, "bob", "t2"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSharingEnabled(ctx, "cat", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PurgeMember(ctx, "dan", store.PurgeOptions{Path: store.PurgeDisconnect}); err != nil {
		t.Fatal(err)
	}

	got, err := db.FriendsActivity(ctx, "me", 10, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	want := []store.Activity{
		{MemberID: "eve", Name: "Name of eve", TitleID: "t5", TitleName: "Title t5", SharedAt: base.Add(4 * time.Minute)},
		{MemberID: "bob", Name: "Name of bob", TitleID: "t1", TitleName: "Title t1", SharedAt: base},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FriendsActivity = %+v\nwant %+v", got, want)
	}
	if got, _ := db.FriendsActivity(ctx, "me", 1, time.Time{}); len(got) != 1 || got[0].MemberID != "eve" {
		t.Fatalf("FriendsActivity(limit 1) = %+v", got)
	}
	if got, _ := db.FriendsActivity(ctx, "me", 10, base.Add(4*time.Minute)); len(got) != 1 || got[0].MemberID != "bob" {
		t.Fatalf("FriendsActivity(before eve's post) = %+v", got)
	}

	members, synced, err := db.ListFriendMembers(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := []store.FriendMember{{"bob", "Name of bob", "fb-bob"}, {"cat", "Name of cat", "fb-cat"}, {"eve", "Name of eve", "fb-eve"}}
	if !reflect.DeepEqual(members, wantMembers) || !synced.Equal(base) {
		t.Fatalf("ListFriendMembers = %+v, %v; want %+v, %v", members, synced, wantMembers, base)
	}
	if members, synced, err := db.ListFriendMembers(ctx, "nobody"); err != nil || len(members) != 0 || !synced.IsZero() {
		t.Fatalf("ListFriendMembers(nobody) = %v, %v, %v", members, synced, err)
	}
}

func TestDueFriendSyncs(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	now := clock.Now()
	for _, m := range []string{"a", "b", "c", "d"} {
		connect(t, db, m, "fb-"+m)
	}
	for m, next := range map[string]time.Time{"a": now.Add(-time.Hour), "b": now.Add(-2 * time.Hour), "c": now.Add(time.Hour)} {
		if err := db.SetNextFriendSync(ctx, m, next); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.MarkReconnectRequired(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	connect(t, db, "e", "fb-e") // never synced: due first
	// The most overdue first (never synced, then oldest); c is not due, d
	// must reconnect.
	retry := now.Add(10 * time.Minute)
	if got, err := db.ClaimDueFriendSyncs(ctx, now, retry, 2); err != nil || !reflect.DeepEqual(got, []string{"b", "e"}) {
		t.Fatalf("ClaimDueFriendSyncs(limit 2) = %v, %v; want [b e]", got, err)
	}
	if got, err := db.ClaimDueFriendSyncs(ctx, now, retry, 10); err != nil || !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("ClaimDueFriendSyncs(limit 10) = %v, %v; want [a]", got, err)
	}
	if err := db.SetNextFriendSync(ctx, "nobody", now); !errors.Is(err, store.ErrNotConnected) {
		t.Fatalf("SetNextFriendSync(nobody) = %v, want ErrNotConnected", err)
	}
}

func TestClaimDueFriendSyncs(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	now := clock.Now()
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		connect(t, db, m, "fb-"+m)
	}
	if err := db.SetNextFriendSync(ctx, "c", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkReconnectRequired(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	retry := now.Add(10 * time.Minute)
	if got, err := db.ClaimDueFriendSyncs(ctx, now, retry, 2); err != nil || len(got) != 2 {
		t.Fatalf("ClaimDueFriendSyncs(limit 2) = %v, %v", got, err)
	}
	got, err := db.ClaimDueFriendSyncs(ctx, now, retry, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("second claim = %v, %v; want the one due member left", got, err)
	}
	if got, _ := db.ClaimDueFriendSyncs(ctx, now, retry, 10); len(got) != 0 {
		t.Fatalf("third claim = %v, want none: every due member was claimed once", got)
	}
	// A claimed sync that never completed comes due again at retryAt.
	if got, _ := db.ClaimDueFriendSyncs(ctx, retry, retry.Add(time.Hour), 10); !reflect.DeepEqual(got, []string{"a", "b", "e"}) {
		t.Fatalf("claim at retryAt = %v, want [a b e]", got)
	}
}

func TestClaimFriendSync(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrNotConnected) {
		t.Fatalf("claim(not connected) = %v, want ErrNotConnected", err)
	}
	connect(t, db, "m1", "fb1")
	lease, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute))
	if err != nil || lease == "" {
		t.Fatalf("claim = %q, %v", lease, err)
	}
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrFriendSyncBusy) {
		t.Fatalf("second claim = %v, want ErrFriendSyncBusy", err)
	}
	// The lease runs out; a stale holder's release does not free the new one.
	clock.Advance(2 * time.Minute)
	second, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("claim after expiry = %v", err)
	}
	if err := db.ReleaseFriendSync(ctx, "m1", lease); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrFriendSyncBusy) {
		t.Fatalf("claim after a stale release = %v, want ErrFriendSyncBusy", err)
	}
	if err := db.ReleaseFriendSync(ctx, "m1", second); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("claim after release = %v", err)
	}
	if _, err := db.MarkReconnectRequired(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrNotConnected) {
		t.Fatalf("claim(reconnect_required) = %v, want ErrNotConnected", err)
	}
}

// Concurrent claims from many goroutines: exactly one wins.
func TestClaimFriendSync_Exclusive(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute))
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrFriendSyncBusy) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 16 concurrent claims won, want 1", won)
	}
}

func TestReplaceFriendsLeased_GivesBackOnlyItsLease(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	lease, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ReplaceFriendsLeased(ctx, "m1", "someone-else", nil, clock.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); !errors.Is(err, store.ErrFriendSyncBusy) {
		t.Fatalf("claim after another holder's replace = %v, want ErrFriendSyncBusy", err)
	}
	if _, _, err := db.ReplaceFriendsLeased(ctx, "m1", lease, nil, clock.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimFriendSync(ctx, "m1", clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("claim after the holder's replace = %v", err)
	}
}
