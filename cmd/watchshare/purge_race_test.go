package main

import (
	"context"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/worker"
)

// seedRacingPost seeds member (one post), then has Facebook store a second
// post at once but answer late, and waits until that post is stored: the
// member's post is in flight. It returns the canaries, action ids included.
func (ts *testSystem) seedRacingPost(member, fbID, name string) []string {
	ts.t.Helper()
	canaries := ts.seedMember(member, fbID, name)
	ts.emu.SetReplyLatency("POST /me/video.watches", 1500*time.Millisecond)
	ts.publishWatch(watchEvent(member, "s2", "racing-title", 900))
	waitFor(ts.t, "the racing post stored at Facebook", func() bool { return len(ts.emu.Actions(fbID)) == 2 })
	for _, a := range ts.emu.Actions(fbID) {
		canaries = append(canaries, a.ID)
	}
	return canaries
}

// A post that lands at Facebook after the member disconnected (its reply was
// still on the way when the purge ran) is deleted at Facebook and recorded
// nowhere; the app is revoked only once that post has settled.
func TestPostRacingPurgeIsDeleted(t *testing.T) {
	ts := newTestSystem(t, nil)
	const fbID = "730001"
	canaries := ts.seedRacingPost("racer", fbID, "Rhiannon Racewell")

	status, out := ts.api("POST", "/v1/members/racer/disconnect", map[string]any{"delete_posts": true})
	if status != 200 || out["status"] != "not_connected" || out["revocation"] != "pending" {
		t.Fatalf("disconnect with a post in flight = %d %v, want revocation pending", status, out)
	}
	if !ts.emu.Authorized(fbID) {
		t.Fatal("the app was revoked while a post was in flight: that post could not be deleted any more")
	}
	waitFor(t, "the racing post deleted at Facebook", func() bool { return len(ts.emu.Actions(fbID)) == 0 })
	ts.drained(worker.StreamPlayback)
	if _, sh := ts.api("GET", "/v1/members/racer/shares", nil); len(sh["shares"].([]any)) != 0 {
		t.Fatalf("shares after the race = %v", sh)
	}

	// Once posts in flight have surely settled, the revocation goes out.
	ts.emu.SetReplyLatency("POST /me/video.watches", 0)
	ts.clock.Advance(time.Minute)
	waitFor(t, "the revocation", func() bool { return !ts.emu.Authorized(fbID) })
	// A reader may hold up the WAL checkpoint for a moment; housekeeping
	// completes it.
	waitFor(t, "no residue", func() bool { return ts.residue(canaries...) == 0 })
	if calls := ts.emu.CallCount("POST", "/me/video.watches"); calls != 2 {
		t.Fatalf("%d posts attempted, want 2", calls)
	}
}

// The member removes the app at Facebook while a post is in flight: the post
// lands after the deauthorize purge, and its deletion cannot succeed (the
// app has no access any more), so nothing is kept for it either.
func TestPostRacingDeauthorizeLeavesNothing(t *testing.T) {
	ts := newTestSystem(t, nil)
	ts.emu.DeauthorizeURL = ts.base + "/facebook/deauthorize"
	const fbID = "730002"
	canaries := ts.seedRacingPost("leaver", fbID, "Leopold Leftapp")
	if err := ts.emu.RemoveApp(context.Background(), fbID); err != nil {
		t.Fatal(err)
	}
	ts.drained(worker.StreamPlayback)
	waitFor(t, "no residue of the orphan post", func() bool { return ts.residue(canaries...) == 0 })
	if m := ts.member("leaver"); m["status"] != "not_connected" {
		t.Fatalf("member = %v", m)
	}
}

// A member hides a posted title while Facebook is down (the deletion is
// queued), then disconnects: the hide still happens at Facebook once it is
// back, and only then is the app revoked; afterwards nothing is left.
func TestHideThenDisconnectDuringOutage(t *testing.T) {
	ts := newTestSystem(t, nil)
	const fbID = "730003"
	canaries := ts.seedMember("hider", fbID, "Hester Hideaway")
	for _, a := range ts.emu.Actions(fbID) {
		canaries = append(canaries, a.ID)
	}
	ts.emu.SetOutage(graphtest.Outage503)
	status, out := ts.api("PUT", "/v1/members/hider/hidden-titles/p-hider", nil)
	if status != 200 || out["pending_deletions"] != float64(1) {
		t.Fatalf("hide during the outage = %d %v", status, out)
	}
	status, out = ts.api("POST", "/v1/members/hider/disconnect", map[string]any{"delete_posts": false})
	if status != 200 || out["revocation"] != "pending" {
		t.Fatalf("disconnect during the outage = %d %v", status, out)
	}
	ts.emu.SetOutage(graphtest.OutageNone)
	ts.clock.Advance(time.Hour) // past every backoff
	waitFor(t, "the hidden title's post deleted at Facebook", func() bool { return len(ts.emu.Actions(fbID)) == 0 })
	waitFor(t, "the revocation", func() bool { return !ts.emu.Authorized(fbID) })
	waitFor(t, "no residue", func() bool { return ts.residue(canaries...) == 0 })
}
