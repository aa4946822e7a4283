package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/store"
	"watchshare/worker"
)

// residue counts the canaries left in the database files.
func (ts *testSystem) residue(canaries ...string) int { return store.Residue(ts.sys.cfg.DB, canaries) }

// seedMember connects member as a distinctively named Facebook user, posts
// one title and syncs friends; it returns the canaries to look for.
func (ts *testSystem) seedMember(member, fbID, name string, friendOf ...string) []string {
	ts.t.Helper()
	u := ts.emu.AddUser(graphtest.User{ID: fbID, Name: name})
	for _, f := range friendOf {
		ts.emu.AddFriends(u.ID, f)
	}
	ts.mustConnect(member, u.ID)
	ts.publishWatch(watchEvent(member, "s1", "p-"+member, 600))
	waitFor(ts.t, "post of "+member, func() bool { return len(ts.emu.Actions(u.ID)) == 1 })
	waitFor(ts.t, "recorded share of "+member, func() bool {
		_, out := ts.api("GET", "/v1/members/"+member+"/shares", nil)
		s, _ := out["shares"].([]any)
		return len(s) == 1
	})
	if status, out := ts.api("POST", "/v1/members/"+member+"/friends/sync", nil); status != 200 {
		ts.t.Fatalf("sync %s: %d %v", member, status, out)
	}
	canaries := []string{u.ID, name}
	for _, tok := range ts.emu.Tokens(u.ID) {
		canaries = append(canaries, tok.Token)
	}
	for _, a := range ts.emu.Actions(u.ID) {
		canaries = append(canaries, a.ID)
	}
	return canaries
}

func TestDisconnectPurgesWithoutTrace(t *testing.T) {
	ts := newTestSystem(t, nil)
	ts.seedMember("keeper", "700001", "Kept Friend")
	canaries := ts.seedMember("leaver", "700002", "Zanzibar Quuxley", "700001")
	ts.mustAPI(http.StatusOK, "POST", "/v1/members/keeper/friends/sync", nil)
	ts.mustAPI(http.StatusOK, "PUT", "/v1/members/leaver/hidden-titles/h9", nil)
	if fr := ts.mustAPI(http.StatusOK, "GET", "/v1/members/keeper/friends", nil); !strings.Contains(friendIDs(fr), "leaver") {
		t.Fatalf("keeper's friends before = %v", fr)
	}
	if n := ts.residue(canaries...); n == 0 {
		t.Fatal("canaries not on disk before the purge: the scan would prove nothing")
	}

	status, out := ts.api("POST", "/v1/members/leaver/disconnect", map[string]any{"delete_posts": true})
	if status != 200 || out["status"] != "not_connected" || out["revocation"] != "done" {
		t.Fatalf("disconnect = %d %v", status, out)
	}
	if ts.emu.Authorized("700002") || len(ts.emu.Actions("700002")) != 0 {
		t.Fatal("app not revoked or posts not deleted at Facebook")
	}
	if n := ts.residue(canaries...); n != 0 {
		t.Fatalf("%d canary bytes of the purged member left in the database files", n)
	}
	if fr := ts.mustAPI(http.StatusOK, "GET", "/v1/members/keeper/friends", nil); strings.Contains(friendIDs(fr), "leaver") {
		t.Fatalf("keeper's friends after = %v", fr)
	}
	hidden := ts.mustAPI(http.StatusOK, "GET", "/v1/members/leaver/hidden-titles", nil)
	if titles, _ := hidden["titles"].([]any); len(titles) != 1 {
		t.Fatalf("hidden titles after disconnect = %v, want kept", hidden)
	}
	exp := ts.mustAPI(http.StatusOK, "GET", "/v1/members/leaver/export", nil)
	data, _ := json.Marshal(exp)
	for _, c := range canaries {
		if bytes.Contains(data, []byte(c)) {
			t.Fatalf("export still mentions %q", c)
		}
	}
	// An event after the disconnect posts nothing.
	ts.publishWatch(watchEvent("leaver", "s2", "late", 900))
	ts.drained(worker.StreamPlayback)
	if n := len(ts.emu.Actions("700002")); n != 0 {
		t.Fatalf("%d posts after disconnect", n)
	}
	// Idempotent.
	if status, out := ts.api("POST", "/v1/members/leaver/disconnect", nil); status != 200 || out["status"] != "not_connected" {
		t.Fatalf("second disconnect = %d %v", status, out)
	}
}

func TestDisconnectDuringGraphOutageRevokesLater(t *testing.T) {
	ts := newTestSystem(t, nil)
	canaries := ts.seedMember("m1", "710001", "Outage Person")
	ts.emu.SetOutage(graphtest.Outage503)
	status, out := ts.api("POST", "/v1/members/m1/disconnect", nil)
	if status != 200 || out["revocation"] != "pending" {
		t.Fatalf("disconnect during outage = %d %v", status, out)
	}
	if m := ts.member("m1"); m["status"] != "not_connected" {
		t.Fatalf("member = %v", m)
	}
	ts.emu.SetOutage(graphtest.OutageNone)
	ts.clock.Advance(time.Minute)
	waitFor(t, "revocation after the outage", func() bool { return !ts.emu.Authorized("710001") })
	// What the retry needed (Facebook id, sealed token) is gone with it.
	waitFor(t, "no residue once revoked", func() bool { return ts.residue(canaries...) == 0 })
}

func TestDisconnectCommandOnNATS(t *testing.T) {
	ts := newTestSystem(t, nil)
	canaries := ts.seedMember("m1", "720001", "Nats Person")
	publishCommand(t, ts, worker.SubjectDisconnect, map[string]any{"member_id": "m1", "delete_posts": false}, "disc-m1")
	waitFor(t, "purge by command", func() bool { return ts.member("m1")["status"] == "not_connected" })
	if ts.emu.Authorized("720001") {
		t.Fatal("app not revoked")
	}
	if n := ts.residue(canaries...); n != 0 {
		t.Fatalf("%d canary bytes left after the NATS disconnect", n)
	}
}

func TestFacebookCallbacks(t *testing.T) {
	ts := newTestSystem(t, nil)
	ts.emu.DeauthorizeURL = ts.base + "/facebook/deauthorize"
	ts.emu.DataDeletionURL = ts.base + "/facebook/data-deletion"
	deauthCanaries := ts.seedMember("d1", "730001", "Deauth Person")
	delCanaries := ts.seedMember("d2", "730002", "Deletion Person")
	ts.mustAPI(http.StatusOK, "PUT", "/v1/members/d2/hidden-titles/h1", nil)

	post := func(path, sr string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", ts.base+path, strings.NewReader(url.Values{"signed_request": {sr}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return ts.do(req)
	}
	now := time.Now().Unix()
	forged := []string{
		"",
		"no-dot",
		graphtest.SignedRequest("wrong-secret", map[string]any{"algorithm": "HMAC-SHA256", "issued_at": now, "user_id": "730001"}),
		graphtest.SignedRequest(graphtest.DefaultAppSecret, map[string]any{"algorithm": "HMAC-SHA1", "issued_at": now, "user_id": "730001"}),
		graphtest.SignedRequest(graphtest.DefaultAppSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": now - 2*86400, "user_id": "730001"}),
		graphtest.SignedRequest(graphtest.DefaultAppSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": now + 3600, "user_id": "730001"}),
	}
	for i, sr := range forged {
		for _, path := range []string{"/facebook/deauthorize", "/facebook/data-deletion"} {
			if status, out := post(path, sr); status != 400 {
				t.Fatalf("forged %d on %s: %d %v", i, path, status, out)
			}
		}
	}
	if ts.member("d1")["status"] != "connected" || ts.member("d2")["status"] != "connected" {
		t.Fatal("a forged callback purged someone")
	}

	if err := ts.emu.RemoveApp(context.Background(), "730001"); err != nil {
		t.Fatal(err)
	}
	if m := ts.member("d1"); m["status"] != "not_connected" {
		t.Fatalf("after deauthorize: %v", m)
	}
	if n := ts.residue(deauthCanaries...); n != 0 {
		t.Fatalf("%d canary bytes left after deauthorize", n)
	}

	ans, err := ts.emu.RequestDataDeletion(context.Background(), "730002")
	if err != nil {
		t.Fatal(err)
	}
	if n := ts.residue(delCanaries...); n != 0 {
		t.Fatalf("%d canary bytes left after data deletion", n)
	}
	hidden := ts.mustAPI(http.StatusOK, "GET", "/v1/members/d2/hidden-titles", nil)
	if titles, _ := hidden["titles"].([]any); len(titles) != 0 {
		t.Fatalf("data deletion kept hidden titles: %v", hidden)
	}
	req, _ := http.NewRequest("GET", ans.URL, nil)
	status, st := ts.do(req)
	if status != 200 || st["status"] != "complete" || st["confirmation_code"] != ans.ConfirmationCode {
		t.Fatalf("deletion status = %d %v", status, st)
	}

	// A user we hold nothing for: deauthorize is a no-op, data deletion is
	// complete at once.
	stranger := map[string]any{"algorithm": "HMAC-SHA256", "issued_at": time.Now().Unix(), "user_id": "739999"}
	if status, out := post("/facebook/deauthorize", graphtest.SignedRequest(graphtest.DefaultAppSecret, stranger)); status != 200 {
		t.Fatalf("deauthorize of a stranger = %d %v", status, out)
	}
	status, out := post("/facebook/data-deletion", graphtest.SignedRequest(graphtest.DefaultAppSecret, stranger))
	if status != 200 || out["confirmation_code"] == nil {
		t.Fatalf("data deletion of a stranger = %d %v", status, out)
	}
	req, _ = http.NewRequest("GET", out["url"].(string), nil)
	if status, st := ts.do(req); status != 200 || st["status"] != "complete" {
		t.Fatalf("stranger's deletion status = %d %v", status, st)
	}
	req, _ = http.NewRequest("GET", ts.base+"/facebook/data-deletion/unknown0code", nil)
	if status, _ := ts.do(req); status != 404 {
		t.Fatalf("unknown confirmation code = %d, want 404", status)
	}
}

func TestFriendsSyncAndActivity(t *testing.T) {
	ts := newTestSystem(t, nil)
	me := ts.emu.AddUser(graphtest.User{ID: "800000", Name: "Many Friends"})
	friends := ts.emu.GenerateFriends(me.ID, 230, "public_profile", "user_friends")
	ts.mustConnect("me", me.ID)
	// Three of the 230 friends are connected members who shared something.
	for i, f := range friends[:3] {
		member := []string{"fa", "fb", "fc"}[i]
		ts.mustConnect(member, f.ID)
		ts.publishWatch(watchEvent(member, "s1", "title-"+member, 600))
	}
	waitFor(t, "three posts", func() bool {
		n := 0
		for _, f := range friends[:3] {
			n += len(ts.emu.Actions(f.ID))
		}
		return n == 3
	})
	ts.drained(worker.StreamPlayback)
	status, res := ts.api("POST", "/v1/members/me/friends/sync", nil)
	if status != 200 || res["friends"] != float64(230) {
		t.Fatalf("sync = %d %v", status, res)
	}
	fr := ts.mustAPI(http.StatusOK, "GET", "/v1/members/me/friends", nil)
	if got := strings.Split(friendIDs(fr), ","); len(got) != 3 {
		t.Fatalf("friends = %q", got)
	}
	if fr["synced_at"] == nil {
		t.Fatal("synced_at missing")
	}

	// Activity respects hidden titles, pause and disconnect.
	activity := func() string {
		return activityLine(ts.mustAPI(http.StatusOK, "GET", "/v1/members/me/friends/activity?limit=10", nil))
	}
	if a := activity(); strings.Count(a, ":") != 3 {
		t.Fatalf("activity = %q", a)
	}
	ts.mustAPI(http.StatusOK, "PUT", "/v1/members/fa/hidden-titles/title-fa", nil)
	ts.mustAPI(http.StatusOK, "PUT", "/v1/members/fb/sharing", map[string]any{"enabled": false})
	ts.mustAPI(http.StatusOK, "POST", "/v1/members/fc/disconnect", nil)
	if a := activity(); a != "" {
		t.Fatalf("activity after hide, pause and disconnect = %q", a)
	}

	// A failure on page 3 keeps the previous list.
	before := ts.mustAPI(http.StatusOK, "GET", "/v1/members/me/friends", nil)
	ts.emu.FailPage("GET /me/friends", 3, graphtest.Fault{Code: 2})
	if status, _ := ts.api("POST", "/v1/members/me/friends/sync", nil); status == 200 {
		t.Fatal("sync with a failing page 3 succeeded")
	}
	after := ts.mustAPI(http.StatusOK, "GET", "/v1/members/me/friends", nil)
	if friendIDs(after) != friendIDs(before) || after["synced_at"] != before["synced_at"] {
		t.Fatalf("friends after a failed sync = %v", after)
	}

	// An unfriend shrinks the list.
	ts.emu.RemoveFriends(me.ID, friends[0].ID)
	if status, res := ts.api("POST", "/v1/members/me/friends/sync", nil); status != 200 || res["removed"] != float64(1) {
		t.Fatalf("sync after unfriend = %d %v", status, res)
	}

	// 190 during a sync marks the member.
	ts.emu.InvalidateTokens(me.ID, 460)
	ts.api("POST", "/v1/members/me/friends/sync", nil)
	if m := ts.member("me"); m["status"] != "reconnect_required" {
		t.Fatalf("member after 190 = %v", m)
	}
}
