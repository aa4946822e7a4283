package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"watchshare/store"
)

func TestToken_NeverOnDisk(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	const canary = "EAAcanaryTOKEN0123456789abcdefXYZ"
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1", Token: canary}); err != nil {
		t.Fatal(err)
	}
	got, err := db.MemberToken(ctx, "m1")
	if err != nil || got != canary {
		t.Fatalf("MemberToken = %q, %v; want the saved token", got, err)
	}
	if hits := fileHits(t, db.Path(), canary); len(hits) != 0 {
		t.Fatalf("token found on disk before checkpoint: %v", hits)
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if hits := fileHits(t, db.Path(), canary); len(hits) != 0 {
		t.Fatalf("token found on disk after checkpoint: %v", hits)
	}
}

func TestToken_Tampering(t *testing.T) {
	flip := func(i int) func(m1, m2 []byte) []byte {
		return func(_, m2 []byte) []byte {
			out := append([]byte(nil), m2...)
			out[i] ^= 0x01
			return out
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(m1, m2 []byte) []byte // returns m2's new token_ct
	}{
		{"copied to another member", func(m1, _ []byte) []byte { return m1 }},
		{"bit flipped in version", flip(0)},
		{"bit flipped in nonce", flip(5)},
		{"bit flipped in ciphertext", flip(20)},
		{"bit flipped in tag", func(_, m2 []byte) []byte { return flip(len(m2)-1)(nil, m2) }},
		{"truncated", func(_, m2 []byte) []byte { return m2[:20] }},
		{"empty", func(_, _ []byte) []byte { return []byte{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpen(t)
			ctx := context.Background()
			connect(t, db, "m1", "fb1")
			connect(t, db, "m2", "fb2")
			raw := rawDB(t, db.Path())
			var m1, m2 []byte
			if err := raw.QueryRow(`SELECT token_ct FROM connections WHERE member_id = 'm1'`).Scan(&m1); err != nil {
				t.Fatal(err)
			}
			if err := raw.QueryRow(`SELECT token_ct FROM connections WHERE member_id = 'm2'`).Scan(&m2); err != nil {
				t.Fatal(err)
			}
			mustExec(t, raw, `UPDATE connections SET token_ct = ? WHERE member_id = 'm2'`, tc.tamper(m1, m2))
			_, err := db.MemberToken(ctx, "m2")
			if !errors.Is(err, store.ErrDecrypt) {
				t.Fatalf("MemberToken after tampering = %v, want ErrDecrypt", err)
			}
			if strings.Contains(err.Error(), "token-of-") {
				t.Fatalf("error %q contains a token", err)
			}
			if tok, err := db.MemberToken(ctx, "m1"); err != nil || tok != "token-of-m1" {
				t.Fatalf("MemberToken(m1) = %q, %v", tok, err)
			}
		})
	}
}

func TestToken_OtherKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	db := MustOpenAt(t, path, store.Options{})
	connect(t, db, "m1", "fb1")
	other := make([]byte, 32)
	db2 := MustOpenAt(t, path, store.Options{TokenKey: other})
	if _, err := db2.MemberToken(context.Background(), "m1"); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("MemberToken under another key = %v, want ErrDecrypt", err)
	}
}

func TestSecrets_NotPrinted(t *testing.T) {
	const secret = "SECRETcanary42"
	values := []any{
		store.Connection{MemberID: "m1", Token: secret},
		store.OAuthState{State: secret, MemberID: "m1", Verifier: secret},
		store.OutboxItem{ID: 1, MemberID: "m1", Token: secret},
	}
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, v := range values {
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(format, v); strings.Contains(s, secret) {
				t.Errorf("Sprintf(%q, %T) = %q, contains the secret", format, v, s)
			}
		}
		if b, _ := json.Marshal(v); strings.Contains(string(b), secret) {
			t.Errorf("json.Marshal(%T) = %s, contains the secret", v, b)
		}
		logger.Info("x", "v", v)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("slog output contains the secret: %s", logs.String())
	}
}

func TestOAuthState(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	const state, verifier = "state-CANARY-abc", "verifier-CANARY-xyz"
	if err := db.CreateOAuthState(ctx, store.OAuthState{State: state, MemberID: "m1", Verifier: verifier, ReturnTo: "/account/x"}); err != nil {
		t.Fatal(err)
	}
	for _, canary := range []string{state, verifier} {
		if hits := fileHits(t, db.Path(), canary); len(hits) != 0 {
			t.Fatalf("%q found on disk: %v", canary, hits)
		}
	}
	got, err := db.ConsumeOAuthState(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	want := store.OAuthState{State: state, MemberID: "m1", Verifier: verifier, ReturnTo: "/account/x",
		CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(store.OAuthStateTTL)}
	if got != want {
		t.Fatalf("ConsumeOAuthState = %+v, want %+v", got, want)
	}
	if _, err := db.ConsumeOAuthState(ctx, state); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second ConsumeOAuthState = %v, want ErrNotFound", err)
	}
	if _, err := db.ConsumeOAuthState(ctx, "never-issued"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeOAuthState(unknown) = %v, want ErrNotFound", err)
	}

	t.Run("expired", func(t *testing.T) {
		if err := db.CreateOAuthState(ctx, store.OAuthState{State: "old", MemberID: "m1", Verifier: "v"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(store.OAuthStateTTL)
		if _, err := db.ConsumeOAuthState(ctx, "old"); !errors.Is(err, store.ErrExpired) {
			t.Fatalf("ConsumeOAuthState(expired) = %v, want ErrExpired", err)
		}
		if _, err := db.ConsumeOAuthState(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConsumeOAuthState(expired, again) = %v, want ErrNotFound (deleted)", err)
		}
	})

	t.Run("DeleteExpiredOAuthStates", func(t *testing.T) {
		for i := range 3 {
			if err := db.CreateOAuthState(ctx, store.OAuthState{State: fmt.Sprint("s", i), MemberID: "m1", Verifier: "v",
				ExpiresAt: clock.Now().Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Minute)
		n, err := db.DeleteExpiredOAuthStates(ctx)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpiredOAuthStates = %d, %v; want 2", n, err)
		}
	})

	t.Run("verifier bound to state", func(t *testing.T) {
		for _, s := range []string{"a-state", "b-state"} {
			if err := db.CreateOAuthState(ctx, store.OAuthState{State: s, MemberID: "m1", Verifier: "v-" + s}); err != nil {
				t.Fatal(err)
			}
		}
		raw := rawDB(t, db.Path())
		mustExec(t, raw, `UPDATE oauth_states SET verifier_ct = (SELECT verifier_ct FROM oauth_states WHERE state_hash = ?) WHERE state_hash = ?`,
			store.SHA256Hex("a-state"), store.SHA256Hex("b-state"))
		if _, err := db.ConsumeOAuthState(ctx, "b-state"); !errors.Is(err, store.ErrDecrypt) {
			t.Fatalf("ConsumeOAuthState with a moved verifier = %v, want ErrDecrypt", err)
		}
	})
}

func TestOAuthState_ConcurrentConsumers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oauth.db")
	dbs := []*store.DB{MustOpenAt(t, path, store.Options{}), MustOpenAt(t, path, store.Options{})}
	ctx := context.Background()
	for round := range 20 {
		state := fmt.Sprint("state-", round)
		if err := dbs[0].CreateOAuthState(ctx, store.OAuthState{State: state, MemberID: "m1", Verifier: "v"}); err != nil {
			t.Fatal(err)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			wins     int
			notFound int
		)
		for g := range 8 {
			wg.Go(func() {
				_, err := dbs[g%2].ConsumeOAuthState(ctx, state)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrNotFound):
					notFound++
				default:
					t.Errorf("ConsumeOAuthState = %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || notFound != 7 {
			t.Fatalf("round %d: %d winners, %d not found; want 1 and 7", round, wins, notFound)
		}
	}
}

func TestGetMember(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()

	got, err := db.GetMember(ctx, "never-seen")
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Member{MemberID: "never-seen", Status: store.StatusNotConnected, SharingEnabled: true}); !reflect.DeepEqual(got, want) {
		t.Fatalf("GetMember(never seen) = %+v, want %+v", got, want)
	}

	expires := clock.Now().Add(60 * 24 * time.Hour)
	replaced, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1", Name: "Ann",
		Scopes: []string{"user_friends", "publish_actions"}, CanPublish: true, Token: "t1", TokenExpiresAt: expires})
	if err != nil || replaced {
		t.Fatalf("SaveConnection = %v, %v; want false, nil", replaced, err)
	}
	got, err = db.GetMember(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Member{MemberID: "m1", Status: store.StatusConnected, FacebookUserID: "fb1", Name: "Ann",
		Scopes: []string{"user_friends", "publish_actions"}, CanPublish: true, SharingEnabled: true,
		ConnectedAt: clock.Now(), ConsentAt: clock.Now(), TokenExpiresAt: expires}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetMember = %+v, want %+v", got, want)
	}
	byFB, err := db.MemberByFacebookUserID(ctx, "fb1")
	if err != nil || !reflect.DeepEqual(byFB, want) {
		t.Fatalf("MemberByFacebookUserID = %+v, %v; want %+v", byFB, err, want)
	}
	if _, err := db.MemberByFacebookUserID(ctx, "fb-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MemberByFacebookUserID(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := db.MemberToken(ctx, "never-seen"); !errors.Is(err, store.ErrNotConnected) {
		t.Fatalf("MemberToken(never seen) = %v, want ErrNotConnected", err)
	}
}

func TestSaveConnection_Reconnect(t *testing.T) {
	db, clock := MustOpenClock(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	if err := db.SetSharingEnabled(ctx, "m1", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.HideTitle(ctx, "m1", "t1"); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.MarkReconnectRequired(ctx, "m1"); err != nil || !changed {
		t.Fatalf("MarkReconnectRequired = %v, %v; want true", changed, err)
	}
	if changed, err := db.MarkReconnectRequired(ctx, "m1"); err != nil || changed {
		t.Fatalf("MarkReconnectRequired again = %v, %v; want false", changed, err)
	}
	if changed, err := db.MarkReconnectRequired(ctx, "nobody"); err != nil || changed {
		t.Fatalf("MarkReconnectRequired(nobody) = %v, %v; want false, nil", changed, err)
	}
	if ids, err := db.ConnectedMemberIDs(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("ConnectedMemberIDs = %v, %v; want none", ids, err)
	}
	clock.Advance(time.Hour)
	replaced, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1", Token: "new-token"})
	if err != nil || !replaced {
		t.Fatalf("SaveConnection(reconnect) = %v, %v; want true", replaced, err)
	}
	m, err := db.GetMember(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != store.StatusConnected || m.SharingEnabled || !m.ConnectedAt.Equal(clock.Now()) {
		t.Fatalf("after reconnect: %+v; want connected, sharing still paused, connected now", m)
	}
	if tok, err := db.MemberToken(ctx, "m1"); err != nil || tok != "new-token" {
		t.Fatalf("MemberToken = %q, %v; want new-token", tok, err)
	}
	if hidden, err := db.IsHidden(ctx, "m1", "t1"); err != nil || !hidden {
		t.Fatalf("IsHidden after reconnect = %v, %v; want true", hidden, err)
	}
	if ids, err := db.ConnectedMemberIDs(ctx); err != nil || !reflect.DeepEqual(ids, []string{"m1"}) {
		t.Fatalf("ConnectedMemberIDs = %v, %v; want [m1]", ids, err)
	}
}

func TestSaveConnection_FacebookAccountInUse(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	_, err := db.SaveConnection(ctx, store.Connection{MemberID: "m2", FacebookUserID: "fb1", Token: "t"})
	if !errors.Is(err, store.ErrFacebookAccountInUse) {
		t.Fatalf("SaveConnection(m2, fb1) = %v, want ErrFacebookAccountInUse", err)
	}
	if m, err := db.GetMember(ctx, "m2"); err != nil || m.Status != store.StatusNotConnected {
		t.Fatalf("GetMember(m2) = %+v, %v; want not_connected", m, err)
	}
	// Once m1 is purged the account is free.
	if _, err := db.PurgeMember(ctx, "m1", store.PurgeOptions{Path: store.PurgeDisconnect}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "m2", FacebookUserID: "fb1", Token: "t"}); err != nil {
		t.Fatalf("SaveConnection after purge = %v", err)
	}
}

func TestSaveConnection_SwitchAccountDropsOldFriendData(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "m1", "fb1")
	connect(t, db, "m2", "fb2")
	if _, _, err := db.ReplaceFriends(ctx, "m2", []store.Friend{{"fb1", "Old Account"}}, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ReplaceFriends(ctx, "m1", []store.Friend{{"fb2", "B"}}, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "m1", FacebookUserID: "fb1-new", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m1", "m2"} {
		ex, err := db.Export(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.Friends) != 0 {
			t.Fatalf("%s friends after account switch = %v, want none", id, ex.Friends)
		}
	}
}

// ImportConnections saves all connections or none, each with its first
// friend sync scheduled.
func TestImportConnections(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	connect(t, db, "owner", "fb-taken")
	next := time.UnixMilli(time.Now().Add(24 * time.Hour).UnixMilli()).UTC()
	conn := func(member, fb string) store.Connection {
		return store.Connection{MemberID: member, FacebookUserID: fb, Name: "N " + member, Token: "tok-" + member}
	}
	err := db.ImportConnections(ctx, []store.Connection{conn("i1", "fb-i1"), conn("i2", "fb-taken")}, next)
	if !errors.Is(err, store.ErrFacebookAccountInUse) {
		t.Fatalf("ImportConnections with a taken account = %v, want ErrFacebookAccountInUse", err)
	}
	if m, err := db.GetMember(ctx, "i1"); err != nil || m.Status != store.StatusNotConnected {
		t.Fatalf("i1 after the failed import = %+v, %v; want not connected", m, err)
	}
	if err := db.ImportConnections(ctx, []store.Connection{conn("i1", "fb-i1"), conn("i2", "fb-i2")}, next); err != nil {
		t.Fatalf("ImportConnections = %v", err)
	}
	for _, id := range []string{"i1", "i2"} {
		m, err := db.GetMember(ctx, id)
		if err != nil || m.Status != store.StatusConnected || !m.NextFriendSync.Equal(next) {
			t.Fatalf("GetMember(%s) = %+v, %v; want connected, next friend sync %v", id, m, err, next)
		}
		if tok, err := db.MemberToken(ctx, id); err != nil || tok != "tok-"+id {
			t.Fatalf("MemberToken(%s) = %q, %v", id, tok, err)
		}
	}
	if err := db.ImportConnections(ctx, []store.Connection{{MemberID: "i3"}}, next); err == nil {
		t.Fatal("ImportConnections without a token succeeded")
	}
}
