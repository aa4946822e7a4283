package service_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/service"
	"watchshare/store"
)

// While another process holds a member's friend-sync lease, a command's sync
// answers sync_in_progress at once and an HTTP sync waits (here until its
// context ends) without calling Facebook; once the lease is back, it syncs.
func TestSyncFriendsWhileAnotherSyncRuns(t *testing.T) {
	svc, db, emu := newBenchService(t)
	ctx := context.Background()
	u := emu.AddUser(graphtest.User{Name: "Busy Syncer"})
	emu.GenerateFriends(u.ID, 3, "public_profile", "user_friends")
	token := emu.AuthorizeApp(u.ID, "public_profile", "user_friends")
	now := time.Now()
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: u.ID, Name: u.Name,
		Token: token, TokenExpiresAt: now.Add(time.Hour), ConnectedAt: now, ConsentAt: now}); err != nil {
		t.Fatal(err)
	}
	lease, err := db.ClaimFriendSync(ctx, "m1", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	_, err = svc.SyncFriendsIfIdle(ctx, "m1")
	var se *service.Error
	if !errors.As(err, &se) || se.Kind != service.KindConflict || se.Code != "sync_in_progress" {
		t.Fatalf("SyncFriendsIfIdle during another sync = %v, want a KindConflict sync_in_progress", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := svc.SyncFriends(wctx, "m1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SyncFriends during another sync = %v, want it to wait until its context ends", err)
	}
	if n := emu.CallCount("GET", "/me/friends"); n != 0 {
		t.Fatalf("%d friend-list calls while another sync held the lease", n)
	}

	if err := db.ReleaseFriendSync(ctx, "m1", lease); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.SyncFriends(ctx, "m1"); err != nil || res.Friends != 3 {
		t.Fatalf("SyncFriends after the lease came back = %+v, %v", res, err)
	}
}
