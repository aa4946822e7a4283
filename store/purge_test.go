package store_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"watchshare/store"
)

func TestPurgeMember_ZeroResidue(t *testing.T) {
	const (
		victim      = "VICTIMIDCANARY"
		fbID        = "FBIDCANARY77001"
		name        = "NAMECANARY Quux"
		token       = "TOKENCANARY-EAA999"
		friendFB    = "FRIENDFBCANARY"
		friendName  = "FRIENDNAMECANARY"
		titleName   = "TITLENAMECANARY"
		session     = "SESSIONCANARY"
		returnTo    = "/RETURNTOCANARY"
		lastErr     = "LASTERRORCANARY"
		hiddenTitle = "HIDDENTITLECANARY"
	)
	purged := []string{fbID, name, token, friendFB, friendName, titleName, session, returnTo, lastErr,
		"ACTIONCANARY-1", "ACTIONCANARY-2", "ACTIONCANARY-3", "EVENTCANARY-1", "EVENTCANARY-2", "EVENTCANARY-3", "EVENTCANARY-4"}

	for _, tc := range []struct {
		name         string
		deleteHidden bool
		want         store.PurgeCounts
	}{
		{"disconnect keeps hidden titles", false,
			store.PurgeCounts{Connections: 1, Shares: 4, Friends: 2, FriendOf: 1, HiddenTitles: 0, OAuthStates: 1, Outbox: 1}},
		{"data deletion removes everything", true,
			store.PurgeCounts{Connections: 1, Shares: 4, Friends: 2, FriendOf: 1, HiddenTitles: 2, OAuthStates: 1, Outbox: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clock := MustOpenClock(t)
			ctx := context.Background()
			path := db.Path()

			// Seed the victim with canaries in every table.
			if _, err := db.SaveConnection(ctx, store.Connection{MemberID: victim, FacebookUserID: fbID, Name: name,
				Scopes: []string{"publish_actions"}, CanPublish: true, Token: token}); err != nil {
				t.Fatal(err)
			}
			connect(t, db, "other", "fb-other")
			if _, _, err := db.ReplaceFriends(ctx, victim, []store.Friend{{"fb-other", "Other"}, {friendFB, friendName}}, time.Time{}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.ReplaceFriends(ctx, "other", []store.Friend{{fbID, name}, {"fb-x", "X"}}, time.Time{}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			for i, title := range []string{"t1", "t2", hiddenTitle} {
				n := string(rune('1' + i))
				s, err := db.BeginShare(ctx, store.Share{MemberID: victim, TitleID: title, TitleName: titleName, SessionID: session,
					TitleURL: "https://www.example.com/" + titleName, EventID: "EVENTCANARY-" + n})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.CompleteShare(ctx, s.ID, "ACTIONCANARY-"+n, time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.BeginShare(ctx, store.Share{MemberID: victim, TitleID: "t4", TitleName: titleName, EventID: "EVENTCANARY-4"}); err != nil {
				t.Fatal(err)
			}
			_, dels, err := db.HideTitle(ctx, victim, hiddenTitle)
			if err != nil || len(dels) != 1 {
				t.Fatalf("HideTitle = %v, %v", dels, err)
			}
			if err := db.RetryOutbox(ctx, dels[0].ID, clock.Now(), lastErr); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.HideTitle(ctx, victim, "another-hidden"); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateOAuthState(ctx, store.OAuthState{State: "st", MemberID: victim, Verifier: "v", ReturnTo: returnTo}); err != nil {
				t.Fatal(err)
			}
			// Data of the other member that must survive.
			post(t, db, "other", "t1", "oe1", "other-action")

			for _, canary := range []string{fbID, name, friendName, "ACTIONCANARY-1", lastErr} {
				if len(fileHits(t, path, canary)) == 0 {
					t.Fatalf("canary %q not on disk before the purge: the scan proves nothing", canary)
				}
			}

			counts, err := db.PurgeMember(ctx, victim, store.PurgeOptions{Path: store.PurgeDataDeletion, DeleteHidden: tc.deleteHidden})
			if err != nil {
				t.Fatal(err)
			}
			if counts != tc.want {
				t.Fatalf("PurgeMember = %+v, want %+v", counts, tc.want)
			}

			canaries := purged
			if tc.deleteHidden {
				canaries = append(canaries, victim, hiddenTitle)
			} else if len(fileHits(t, path, hiddenTitle)) == 0 {
				t.Fatalf("kept hidden title %q not found on disk: the scan proves nothing", hiddenTitle)
			}
			for _, canary := range canaries {
				if hits := fileHits(t, path, canary); len(hits) != 0 {
					t.Errorf("canary %q still on disk after purge: %v", canary, hits)
				}
			}

			// Other members are untouched except for the member's entry in their friend list.
			ex, err := db.Export(ctx, "other")
			if err != nil {
				t.Fatal(err)
			}
			if want := []store.Friend{{"fb-x", "X"}}; !reflect.DeepEqual(ex.Friends, want) {
				t.Fatalf("other's friends = %v, want %v", ex.Friends, want)
			}
			if len(ex.Shares) != 1 || ex.Member.Status != store.StatusConnected {
				t.Fatalf("other's data changed: %+v", ex)
			}

			m, err := db.GetMember(ctx, victim)
			if err != nil || m.Status != store.StatusNotConnected || m.FacebookUserID != "" {
				t.Fatalf("GetMember after purge = %+v, %v", m, err)
			}
			hidden, err := db.ListHiddenTitles(ctx, victim)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(hidden), map[bool]int{false: 2, true: 0}[tc.deleteHidden]; got != want {
				t.Fatalf("hidden titles after purge = %d, want %d", got, want)
			}
			if _, err := db.MemberToken(ctx, victim); !errors.Is(err, store.ErrNotConnected) {
				t.Fatalf("MemberToken after purge = %v, want ErrNotConnected", err)
			}
			if _, err := db.ConsumeOAuthState(ctx, "st"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("ConsumeOAuthState after purge = %v, want ErrNotFound", err)
			}

			audits, err := db.PurgeAudits(ctx)
			if err != nil || len(audits) != 1 {
				t.Fatalf("PurgeAudits = %v, %v", audits, err)
			}
			a := audits[0]
			if a.Path != store.PurgeDataDeletion || a.Counts != tc.want || !a.At.Equal(clock.Now()) ||
				a.MemberRef != db.MemberRef(victim) || len(a.MemberRef) != 64 || strings.Contains(a.MemberRef, victim) {
				t.Fatalf("audit = %+v", a)
			}
			b, _ := json.Marshal(audits)
			for _, canary := range append(purged, victim) {
				if strings.Contains(string(b), canary) {
					t.Fatalf("audit %s mentions %q", b, canary)
				}
			}

			// Purging again is a no-op apart from its audit row.
			again, err := db.PurgeMember(ctx, victim, store.PurgeOptions{Path: store.PurgeDisconnect, DeleteHidden: tc.deleteHidden})
			if err != nil || again != (store.PurgeCounts{}) {
				t.Fatalf("PurgeMember again = %+v, %v; want zero counts", again, err)
			}
			if _, _, err := db.ReplaceFriends(ctx, victim, []store.Friend{{"fb-y", "Y"}}, time.Time{}, time.Time{}); !errors.Is(err, store.ErrNotConnected) {
				t.Fatalf("ReplaceFriends racing the purge = %v, want ErrNotConnected", err)
			}
		})
	}
}

func TestPurgeMember_Revoke(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	post(t, db, "m1", "t1", "e1", "act1")
	if _, _, err := db.HideTitle(ctx, "m1", "t1"); err != nil {
		t.Fatal(err)
	}
	revoke := &store.OutboxItem{}
	counts, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect, Revoke: revoke})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Outbox != 1 || revoke.ID == 0 {
		t.Fatalf("PurgeMember = %+v, revoke id %d; want the deletion dropped and a revoke queued", counts, revoke.ID)
	}
	raw := rawDB(t, db.Path())
	var ct []byte
	if err := raw.QueryRow(`SELECT token_ct FROM outbox WHERE id = ?`, revoke.ID).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ct), "token-of-m1") || len(fileHits(t, db.Path(), "token-of-m1")) != 0 {
		t.Fatal("revoke token stored in clear")
	}

	// A later purge (e.g. the data-deletion callback) keeps the queued revoke and adds no second one.
	second := &store.OutboxItem{}
	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDataDeletion, DeleteHidden: true, Revoke: second}); err != nil {
		t.Fatal(err)
	}
	if second.ID != revoke.ID {
		t.Fatalf("second revoke id = %d, want the queued %d", second.ID, revoke.ID)
	}
	items, err := db.ClaimOutbox(ctx, clock.Now(), 10, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimOutbox = %v, %v; want one revoke", items, err)
	}
	it := items[0]
	if it.Kind != store.OutboxRevoke || it.MemberID != "m1" || it.FacebookUserID != "fb1" || it.Token != "token-of-m1" ||
		!it.ExpiresAt.Equal(clock.Now().Add(store.OrphanTTL)) {
		t.Fatalf("revoke = %+v (token ok: %v)", it, it.Token == "token-of-m1")
	}
	if err := db.CompleteOutbox(ctx, it.ID); err != nil {
		t.Fatal(err)
	}

	// Nothing to revoke with: nothing queued.
	none := &store.OutboxItem{}
	if _, err := db.PurgeMember(ctx, "never-connected", store.PurgeOptions{Path: store.PurgeDisconnect, Revoke: none}); err != nil || none.ID != 0 {
		t.Fatalf("PurgeMember(never connected) = %v, revoke id %d; want nothing queued", err, none.ID)
	}
}

func TestPurgeByFacebookUserID(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	if _, _, err := db.PurgeByFacebookUserID(ctx, "fb-unknown", store.PurgeOptions{Path: store.PurgeDeauthorize}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PurgeByFacebookUserID(unknown) = %v, want ErrNotFound", err)
	}
	id, counts, err := db.PurgeByFacebookUserID(ctx, "fb1", store.PurgeOptions{Path: store.PurgeDeauthorize})
	if err != nil || id != "m1" || counts.Connections != 1 {
		t.Fatalf("PurgeByFacebookUserID = %q, %+v, %v", id, counts, err)
	}
	if _, _, err := db.PurgeByFacebookUserID(ctx, "fb1", store.PurgeOptions{Path: store.PurgeDeauthorize}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PurgeByFacebookUserID again = %v, want ErrNotFound", err)
	}
}

func TestDeletionRequests(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	if _, err := db.GetDeletionRequest(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDeletionRequest(unknown) = %v, want ErrNotFound", err)
	}
	if err := db.CompleteDeletionRequest(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompleteDeletionRequest(unknown) = %v, want ErrNotFound", err)
	}
	if err := db.CreateDeletionRequest(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDeletionRequest(ctx, "c1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateDeletionRequest(dup) = %v, want ErrConflict", err)
	}
	requested := clock.Now()
	got, err := db.GetDeletionRequest(ctx, "c1")
	if want := (store.DeletionRequest{Code: "c1", Status: store.DeletionPending, RequestedAt: requested}); err != nil || got != want {
		t.Fatalf("GetDeletionRequest = %+v, %v; want %+v", got, err, want)
	}
	clock.Advance(time.Second)
	for range 2 {
		if err := db.CompleteDeletionRequest(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	got, err = db.GetDeletionRequest(ctx, "c1")
	if want := (store.DeletionRequest{Code: "c1", Status: store.DeletionComplete, RequestedAt: requested, CompletedAt: requested.Add(time.Second)}); err != nil || got != want {
		t.Fatalf("GetDeletionRequest = %+v, %v; want %+v", got, err, want)
	}
}

func TestExport(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	empty, err := db.Export(ctx, "never-seen")
	if err != nil || empty.Member.Status != store.StatusNotConnected || len(empty.Shares) != 0 {
		t.Fatalf("Export(never seen) = %+v, %v", empty, err)
	}

	connect(t, db, "m1", "fb1")
	post(t, db, "m1", "t1", "e1", "act1")
	post(t, db, "m1", "t2", "e2", "act2")
	if _, _, err := db.HideTitle(ctx, "m1", "t2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ReplaceFriends(ctx, "m1", []store.Friend{{"fb2", "B"}}, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ex, err := db.Export(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if ex.MemberID != "m1" || ex.Member.FacebookUserID != "fb1" || len(ex.Shares) != 2 || len(ex.HiddenTitles) != 1 ||
		len(ex.Friends) != 1 || len(ex.Outbox) != 1 || len(ex.Audit) != 0 {
		t.Fatalf("Export = %+v", ex)
	}
	var ct []byte
	if err := rawDB(t, db.Path()).QueryRow(`SELECT token_ct FROM connections WHERE member_id = 'm1'`).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"token-of-m1", base64.StdEncoding.EncodeToString(ct), string(ct)} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("export contains a token or ciphertext: %s", b)
		}
	}
	for _, key := range []string{`"member_id"`, `"shares"`, `"hidden_titles"`, `"friends"`, `"outbox"`, `"action_id"`, `"facebook_user_id"`} {
		if !strings.Contains(string(b), key) {
			t.Fatalf("export JSON lacks %s: %s", key, b)
		}
	}

	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect}); err != nil {
		t.Fatal(err)
	}
	ex, err = db.Export(ctx, "m1")
	if err != nil || len(ex.Audit) != 1 || len(ex.Shares) != 0 || len(ex.Friends) != 0 || len(ex.Outbox) != 0 || len(ex.HiddenTitles) != 1 {
		t.Fatalf("Export after purge = %+v, %v", ex, err)
	}
}

func TestPurgeMember_RevokeWithoutUsableToken(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	mustExec(t, rawDB(t, db.Path()), `UPDATE connections SET token_ct = x'00' WHERE member_id = 'm1'`)
	revoke := &store.OutboxItem{}
	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect, Revoke: revoke}); err != nil {
		t.Fatal(err)
	}
	if revoke.ID == 0 {
		t.Fatal("no revoke queued: the Facebook id alone is enough to queue one")
	}
	items, err := db.ClaimOutbox(ctx, clock.Now(), 10, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimOutbox = %v, %v; want the revoke", items, err)
	}
	if it := items[0]; it.ID != revoke.ID || it.Kind != store.OutboxRevoke || it.FacebookUserID != "fb1" || it.Token != "" {
		t.Fatalf("revoke = %+v; want fb1 without a token", it)
	}
}

// A reader on an old snapshot blocks the checkpoint after a purge; the purge
// still commits, the checkpoint is owed, and CheckpointIfOwed completes it
// once the reader is gone: then no byte of the member is left.
func TestPurgeMember_CheckpointBlockedByReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchshare.db")
	db := MustOpenAt(t, path, store.Options{})
	ctx := context.Background()
	const fbID = "FBIDCANARY-BLOCKED"
	connect(t, db, "m1", fbID)
	if err := db.Checkpoint(ctx); err != nil { // the connection is in the main file
		t.Fatal(err)
	}

	// Another process holds a read transaction open across the purge.
	other, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	reader, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRow(`SELECT COUNT(*) FROM connections`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader sees %d connections, %v", n, err)
	}
	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect}); err != nil {
		t.Fatalf("PurgeMember with a reader open = %v", err)
	}
	if hits := fileHits(t, path, fbID); len(hits) == 0 {
		t.Log("the checkpoint was not blocked; nothing owed to test") // still checks below
	}
	reader.Rollback()
	if err := db.CheckpointIfOwed(ctx); err != nil {
		t.Fatalf("CheckpointIfOwed = %v", err)
	}
	if hits := fileHits(t, path, fbID); len(hits) != 0 {
		t.Fatalf("Facebook id left after the owed checkpoint: %v", hits)
	}
	if err := db.CheckpointIfOwed(ctx); err != nil { // nothing owed any more
		t.Fatalf("second CheckpointIfOwed = %v", err)
	}
}

// With KeepDeletions a disconnect keeps the deletions of titles the member
// hid: sealed (no action id, token or error text in the clear), still due,
// and ahead of the revocation, which goes anyway in its last hour.
func TestPurgeMember_KeepDeletions(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	const (
		action = "ACTIONCANARY-KEPT"
		token  = "TOKENCANARY-KEPT"
		errTxt = "ERRORCANARY-KEPT"
		left   = "ACTIONCANARY-LEFTOVER" // a deletion that failed just before the purge
	)
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1", Name: "M One",
		CanPublish: true, Token: token}); err != nil {
		t.Fatal(err)
	}
	post(t, db, "m1", "t1", "e1", action)
	_, dels, err := db.HideTitle(ctx, "m1", "t1")
	if err != nil || len(dels) != 1 {
		t.Fatalf("HideTitle = %v, %v", dels, err)
	}
	if err := db.RetryOutbox(ctx, dels[0].ID, clock.Now(), errTxt); err != nil {
		t.Fatal(err)
	}
	if n, err := db.QueuedDeletions(ctx, "m1"); err != nil || n != 1 {
		t.Fatalf("QueuedDeletions = %d, %v", n, err)
	}
	counts, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect, KeepDeletions: true,
		Revoke:    &store.OutboxItem{ExpiresAt: clock.Now().Add(7 * 24 * time.Hour)},
		Deletions: []store.OutboxItem{{ActionID: left, Token: token}}})
	if err != nil || counts.Outbox != 0 || counts.Shares != 1 {
		t.Fatalf("PurgeMember = %+v, %v", counts, err)
	}
	for _, canary := range []string{action, token, errTxt, left} {
		if hits := fileHits(t, db.Path(), canary); len(hits) != 0 {
			t.Errorf("%q in the clear after the purge: %v", canary, hits)
		}
	}
	now := clock.Now().Add(time.Minute)
	items, err := db.ClaimOutbox(ctx, now, 10, time.Minute)
	if err != nil || len(items) != 2 {
		t.Fatalf("ClaimOutbox = %v, %v; want the two deletions only (the revocation waits)", items, err)
	}
	got := map[string]bool{}
	for _, it := range items {
		if it.Kind != store.OutboxDeleteAction || it.Token != token || !it.OwnToken || it.ShareID != 0 || it.FacebookUserID != "" {
			t.Fatalf("deletion after the purge = %+v (token %q)", it, it.Token)
		}
		got[it.ActionID] = true
	}
	if !got[action] || !got[left] {
		t.Fatalf("deletions after the purge = %v, want %s and %s", got, action, left)
	}
	// The deletion keeps failing: in the revocation's last hour it goes anyway.
	late := clock.Now().Add(7*24*time.Hour - 30*time.Minute)
	items, err = db.ClaimOutbox(ctx, late, 10, time.Minute)
	if err != nil || len(items) != 3 || items[0].Kind != store.OutboxRevoke {
		t.Fatalf("ClaimOutbox in the revocation's last hour = %v, %v; want the revocation and the deletions", items, err)
	}
}
