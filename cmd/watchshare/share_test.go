package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/graph/graphtest"
	"watchshare/worker"
)

// drained waits until the stream's consumer has delivered and settled
// every message (see worker.Drained).
func (ts *testSystem) drained(stream string) {
	ts.t.Helper()
	waitFor(ts.t, stream+" drained", func() bool {
		done, _, err := worker.Drained(context.Background(), ts.sys.msg.js, stream, worker.DurableName)
		return err == nil && done
	})
}

// dlq returns the dead letters of a stream.
func (ts *testSystem) dlq(stream string) []*jetstream.RawStreamMsg {
	ts.t.Helper()
	ctx := context.Background()
	s, err := ts.sys.msg.js.Stream(ctx, worker.StreamDLQ)
	if err != nil {
		ts.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		ts.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if m.Subject == worker.DLQSubject(stream) {
			out = append(out, m)
		}
	}
	return out
}

// announcements collects social.event.* messages.
func (ts *testSystem) announcements() func() []map[string]any {
	ts.t.Helper()
	ch := make(chan *nats.Msg, 256)
	sub, err := ts.sys.msg.nc.ChanSubscribe("social.event.>", ch)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { sub.Unsubscribe() })
	var got []map[string]any
	return func() []map[string]any {
		for {
			select {
			case m := <-ch:
				var v map[string]any
				json.Unmarshal(m.Data, &v)
				v["subject"] = m.Subject
				got = append(got, v)
			default:
				return got
			}
		}
	}
}

func TestShareRules(t *testing.T) {
	ts := newTestSystem(t, map[string]string{"WATCHSHARE_RESHARE_AFTER": "2h", "WATCHSHARE_CONSENT_TTL": "10h"})
	maya := ts.emu.AddUser(graphtest.User{ID: "200001", Name: "Maya Chen"})
	james := ts.emu.AddUser(graphtest.User{ID: "200002", Name: "James O'Connor"})
	ts.mustConnect("maya", maya.ID)
	ts.mustConnect("james", james.ID, "public_profile", "user_friends")
	ann := ts.announcements()

	posts := func() int { return len(ts.emu.Actions(maya.ID)) }
	step := func(name string, ev map[string]any, wantPosts int) {
		t.Helper()
		ts.publishWatch(ev)
		ts.drained(worker.StreamPlayback)
		if got := posts(); got != wantPosts {
			t.Fatalf("%s: %d posts on Facebook, want %d", name, got, wantPosts)
		}
	}

	step("below the threshold", watchEvent("maya", "s1", "t1", 299), 0)
	kids := watchEvent("maya", "s1", "t1", 600)
	kids["kids_profile"] = true
	step("kids profile", kids, 0)
	stale := watchEvent("maya", "s1", "t1", 600)
	stale["occurred_at"] = time.Now().Add(-25 * time.Hour).UTC().Format(time.RFC3339)
	step("stale event", stale, 0)
	step("eligible", watchEvent("maya", "s1", "t1", 300), 1)
	step("heartbeat after the post", watchEvent("maya", "s1", "t1", 330), 1)
	step("same title, new session, within 24h", watchEvent("maya", "s2", "t1", 900), 1)
	short := watchEvent("maya", "s3", "t2", 60)
	short["duration_seconds"] = 120
	step("half of a short title", short, 2)

	// Redelivered or re-published events never post twice.
	dup := watchEvent("maya", "s4", "t3", 400)
	step("first copy", dup, 3)
	data, _ := json.Marshal(dup)
	if _, err := ts.sys.msg.js.Publish(context.Background(), "playback.watch.maya", data); err != nil { // no Nats-Msg-Id: not deduplicated by the stream
		t.Fatal(err)
	}
	ts.drained(worker.StreamPlayback)
	if got := posts(); got != 3 {
		t.Fatalf("re-sent event: %d posts, want 3", got)
	}

	// Pause.
	if status, out := ts.api("PUT", "/v1/members/maya/sharing", map[string]any{"enabled": false}); status != 200 || out["sharing_enabled"] != false {
		t.Fatalf("pause: %d %v", status, out)
	}
	step("paused", watchEvent("maya", "s5", "t4", 600), 3)
	ts.mustAPI(http.StatusOK, "PUT", "/v1/members/maya/sharing", map[string]any{"enabled": true})
	step("resumed", watchEvent("maya", "s5", "t4", 630), 4)

	// Hidden before posting.
	if status, _ := ts.api("PUT", "/v1/members/maya/hidden-titles/t5", nil); status != 200 {
		t.Fatalf("hide: %d", status)
	}
	step("hidden title", watchEvent("maya", "s6", "t5", 900), 4)

	// After RESHARE_AFTER (2h here) the same title may be posted again.
	ts.clock.Advance(3 * time.Hour)
	step("reshare after RESHARE_AFTER", watchEvent("maya", "s7", "t1", 900), 5)

	// Consent expires after CONSENT_TTL (10h here).
	ts.clock.Advance(8 * time.Hour)
	step("consent expired", watchEvent("maya", "s8", "t6", 900), 5)
	if m := ts.member("maya"); m["status"] != "connected" {
		t.Fatalf("member = %v", m)
	}
	ts.clock.Advance(-11 * time.Hour)

	// A member who declined publish_actions is never posted for, and a
	// member who never connected costs no Graph call.
	ts.drained(worker.StreamCommands) // the friend syncs started by the connects are done
	before := len(ts.emu.Calls())
	step("no publish permission", watchEvent("james", "s1", "t1", 900), 5)
	step("never connected", watchEvent("nobody", "s1", "t1", 900), 5)
	if got := len(ts.emu.Calls()); got != before {
		t.Fatalf("%d Graph calls for members who cannot be posted for, want 0", got-before)
	}
	if len(ts.emu.Actions(james.ID)) != 0 {
		t.Fatal("posted for a member without publish_actions")
	}

	// The shares list and the announcements.
	status, out := ts.api("GET", "/v1/members/maya/shares", nil)
	if status != 200 {
		t.Fatalf("shares: %d", status)
	}
	if shares := out["shares"].([]any); len(shares) != 5 {
		t.Fatalf("shares = %d, want 5", len(shares))
	}
	waitFor(t, "shared announcements", func() bool {
		n := 0
		for _, a := range ann() {
			if a["subject"] == "social.event.shared" && a["member_id"] == "maya" && a["at"] != nil {
				n++
			}
		}
		return n == 5
	})
	if n := len(ts.emu.UnhandledCalls()); n != 0 {
		t.Fatalf("%d unhandled Graph calls", n)
	}
}

func TestShareBadInputGoesToDLQ(t *testing.T) {
	ts := newTestSystem(t, nil)
	good := watchEvent("m1", "s1", "t1", 600)
	mutate := func(f func(m map[string]any)) []byte {
		ev := watchEvent("m1", "s1", "t1", 600)
		f(ev)
		b, _ := json.Marshal(ev)
		return b
	}
	cases := []struct {
		name    string
		subject string
		msgID   string
		data    []byte
		reason  string
	}{
		{"malformed json", "playback.watch.m1", "bad-1", []byte(`{"event_id":`), "malformed JSON"},
		{"missing member", "playback.watch.m1", "", mutate(func(m map[string]any) { delete(m, "member_id") }), "member_id"},
		{"member out of alphabet", "playback.watch.m1", "", mutate(func(m map[string]any) { m["member_id"] = "m 1" }), "member_id"},
		{"relative url", "playback.watch.m1", "", mutate(func(m map[string]any) { m["title"].(map[string]any)["url"] = "/t/1" }), "title.url"},
		{"http url", "playback.watch.m1", "", mutate(func(m map[string]any) { m["title"].(map[string]any)["url"] = "http://x.example/t/1" }), "title.url"},
		{"unknown type", "playback.watch.m1", "", mutate(func(m map[string]any) { m["title"].(map[string]any)["type"] = "clip" }), "title.type"},
		{"unknown state", "playback.watch.m1", "", mutate(func(m map[string]any) { m["state"] = "rewinding" }), "state"},
		{"negative seconds", "playback.watch.m1", "", mutate(func(m map[string]any) { m["watched_seconds"] = -3 }), "watched_seconds"},
		{"absurd seconds", "playback.watch.m1", "", mutate(func(m map[string]any) { m["watched_seconds"] = 99999999 }), "watched_seconds"},
		{"event id differs from Nats-Msg-Id", "playback.watch.m1", "other-id", mutate(func(m map[string]any) {}), "Nats-Msg-Id"},
		{"member differs from subject", "playback.watch.m2", "", mutate(func(m map[string]any) {}), "subject"},
		{"over 64 KiB", "playback.watch.m1", "", mutate(func(m map[string]any) { m["padding"] = strings.Repeat("x", 70<<10) }), "byte limit"},
	}
	for _, tc := range cases {
		msg := nats.NewMsg(tc.subject)
		msg.Data = tc.data
		id := tc.msgID
		if id == "" {
			var ev map[string]any
			if json.Unmarshal(tc.data, &ev) == nil {
				id, _ = ev["event_id"].(string)
			}
		}
		if id != "" {
			msg.Header.Set(nats.MsgIdHdr, id)
		}
		if _, err := ts.sys.msg.js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatalf("%s: publish: %v", tc.name, err)
		}
	}
	ts.publishWatch(good) // the worker keeps going
	ts.drained(worker.StreamPlayback)
	dead := ts.dlq(worker.StreamPlayback)
	if len(dead) != len(cases) {
		t.Fatalf("%d dead letters, want %d (once each)", len(dead), len(cases))
	}
	for _, tc := range cases {
		found := 0
		for _, d := range dead {
			if string(d.Data) != string(tc.data) || d.Header.Get("Watchshare-Subject") != tc.subject {
				continue
			}
			found++
			if reason := d.Header.Get("Watchshare-Error"); !strings.Contains(reason, tc.reason) {
				t.Errorf("%s: Watchshare-Error = %q, want it to mention %q", tc.name, reason, tc.reason)
			}
		}
		if found != 1 {
			t.Errorf("%s: %d dead letters with the unchanged payload, want 1", tc.name, found)
		}
	}
}

func TestShareFacebookErrors(t *testing.T) {
	ts := newTestSystem(t, nil)
	u := ts.emu.AddUser(graphtest.User{ID: "300001", Name: "Daniel Okafor"})
	ts.mustConnect("dan", u.ID)
	ann := ts.announcements()
	route := "POST /me/video.watches"

	t.Run("transient errors are retried", func(t *testing.T) {
		ts.emu.FailNext(route, 1, graphtest.Fault{Code: 2})
		ts.emu.FailNext(route, 1, graphtest.Fault{Status: 502, Body: "<html>bad gateway</html>"})
		ts.publishWatch(watchEvent("dan", "s1", "a1", 600))
		waitFor(t, "post after transient errors", func() bool { return len(ts.emu.Actions(u.ID)) == 1 })
		ts.drained(worker.StreamPlayback)
	})
	t.Run("rate limits back off and post later", func(t *testing.T) {
		ts.emu.FailNext(route, 1, graphtest.Fault{Code: 4})
		ts.emu.FailNext(route, 1, graphtest.Fault{Code: 17})
		ts.publishWatch(watchEvent("dan", "s2", "a2", 600))
		waitFor(t, "post after rate limits", func() bool { return len(ts.emu.Actions(u.ID)) == 2 })
	})
	t.Run("answer lost after the post: reconciled, not posted twice", func(t *testing.T) {
		ts.emu.DropNext(route, 1)
		ts.publishWatch(watchEvent("dan", "s3", "a3", 600))
		waitFor(t, "reconciled share", func() bool {
			_, out := ts.api("GET", "/v1/members/dan/shares", nil)
			for _, s := range out["shares"].([]any) {
				if s.(map[string]any)["title_id"] == "a3" {
					return true
				}
			}
			return false
		})
		n := 0
		for _, a := range ts.emu.Actions(u.ID) {
			if strings.HasSuffix(a.ObjectURL, "/a3") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d posts of a3, want 1", n)
		}
	})
	t.Run("answer lost, then the reconciliation read fails: still posted once", func(t *testing.T) {
		// Found by resilience.TestGraphFaults: the failed read used to drop
		// the pending row, and the next delivery posted again.
		ts.emu.DropNext(route, 1)
		ts.emu.FailNext("GET /me/video.watches", 1, graphtest.Fault{Status: 503, Body: graphtest.HTMLErrorPage})
		ts.publishWatch(watchEvent("dan", "s3b", "a3b", 600))
		waitFor(t, "reconciled share", func() bool {
			_, out := ts.api("GET", "/v1/members/dan/shares", nil)
			for _, s := range out["shares"].([]any) {
				if s.(map[string]any)["title_id"] == "a3b" {
					return true
				}
			}
			return false
		})
		ts.drained(worker.StreamPlayback)
		n := 0
		for _, c := range ts.emu.Calls() {
			if c.Route == route && strings.HasSuffix(c.Params.Get("movie"), "/a3b") && (c.Status == 200 || c.Dropped) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d posts of a3b executed, want 1", n)
		}
	})
	t.Run("other errors are dead-lettered with the Graph error", func(t *testing.T) {
		ts.emu.FailNext(route, 1, graphtest.Fault{Code: 100, Message: "(#100) Object at URL has og:type of 'website'"})
		ts.publishWatch(watchEvent("dan", "s4", "a4", 600))
		waitFor(t, "dead letter", func() bool { return len(ts.dlq(worker.StreamPlayback)) == 1 })
		if reason := ts.dlq(worker.StreamPlayback)[0].Header.Get("Watchshare-Error"); !strings.Contains(reason, "code=100") {
			t.Fatalf("Watchshare-Error = %q", reason)
		}
	})
	t.Run("190 marks the member reconnect_required", func(t *testing.T) {
		ts.emu.InvalidateTokens(u.ID, 460)
		ts.publishWatch(watchEvent("dan", "s5", "a5", 600))
		waitFor(t, "reconnect_required", func() bool { return ts.member("dan")["status"] == "reconnect_required" })
		waitFor(t, "announcement", func() bool {
			for _, a := range ann() {
				if a["subject"] == "social.event.reconnect_required" && a["member_id"] == "dan" {
					return true
				}
			}
			return false
		})
		calls := ts.emu.CallCount("POST", "/me/video.watches")
		ts.publishWatch(watchEvent("dan", "s6", "a6", 600))
		ts.drained(worker.StreamPlayback)
		if got := ts.emu.CallCount("POST", "/me/video.watches"); got != calls {
			t.Fatalf("%d posts attempted after reconnect_required", got-calls)
		}
		ts.mustConnect("dan", u.ID)
		ts.publishWatch(watchEvent("dan", "s7", "a7", 600))
		waitFor(t, "post after reconnect", func() bool {
			for _, a := range ts.emu.Actions(u.ID) {
				if strings.HasSuffix(a.ObjectURL, "/a7") {
					return true
				}
			}
			return false
		})
	})
}

func TestHideAfterPostDeletesAction(t *testing.T) {
	ts := newTestSystem(t, nil)
	u := ts.emu.AddUser(graphtest.User{ID: "400001", Name: "Sofía Martínez"})
	ts.mustConnect("sofia", u.ID)
	ts.publishWatch(watchEvent("sofia", "s1", "h1", 600))
	ts.publishWatch(watchEvent("sofia", "s1", "h2", 600))
	waitFor(t, "two posts", func() bool { return len(ts.emu.Actions(u.ID)) == 2 })

	status, out := ts.api("PUT", "/v1/members/sofia/hidden-titles/h1", nil)
	if status != 200 || out["hidden"] != true || out["deleted_actions"] != float64(1) || out["pending_deletions"] != float64(0) {
		t.Fatalf("hide = %d %v", status, out)
	}
	if acts := ts.emu.Actions(u.ID); len(acts) != 1 || !strings.HasSuffix(acts[0].ObjectURL, "/h2") {
		t.Fatalf("actions after hide = %v", acts)
	}
	out = ts.mustAPI(http.StatusOK, "GET", "/v1/members/sofia/hidden-titles", nil)
	if titles := out["titles"].([]any); len(titles) != 1 || titles[0].(map[string]any)["title_id"] != "h1" {
		t.Fatalf("hidden titles = %v", out)
	}
	// Never posted again, also in a new session.
	ts.publishWatch(watchEvent("sofia", "s9", "h1", 900))
	ts.drained(worker.StreamPlayback)
	if n := len(ts.emu.Actions(u.ID)); n != 1 {
		t.Fatalf("%d actions, want 1", n)
	}

	// A deletion that fails during an outage is retried until done.
	ts.emu.SetOutage(graphtest.Outage503)
	status, out = ts.api("PUT", "/v1/members/sofia/hidden-titles/h2", nil)
	if status != 200 || out["deleted_actions"] != float64(0) || out["pending_deletions"] != float64(1) {
		t.Fatalf("hide during outage = %d %v", status, out)
	}
	ts.emu.SetOutage(graphtest.OutageNone)
	ts.clock.Advance(time.Minute) // past the retry backoff
	waitFor(t, "pending deletion done", func() bool { return len(ts.emu.Actions(u.ID)) == 0 })

	// Unhide: allowed again, nothing re-posted.
	if status, _ := ts.api("DELETE", "/v1/members/sofia/hidden-titles/h2", nil); status != http.StatusOK {
		t.Fatalf("unhide: %d", status)
	}
	if n := len(ts.emu.Actions(u.ID)); n != 0 {
		t.Fatalf("unhide re-posted: %d actions", n)
	}
}

func TestTwoWorkersPostOnce(t *testing.T) {
	a := newTestSystem(t, map[string]string{"WATCHSHARE_NATS_LISTEN": "127.0.0.1:0"})
	users := make([]graphtest.User, 10)
	for i := range users {
		users[i] = a.emu.AddUser(graphtest.User{ID: fmt.Sprintf("50000%d", i), Name: fmt.Sprintf("User %d", i)})
		a.mustConnect(fmt.Sprintf("w%d", i), users[i].ID)
	}
	// A second serve process on the same NATS server and database.
	b := newSecondSystem(t, a, map[string]string{
		"WATCHSHARE_NATS_URL": a.sys.msg.embedded.ClientURL(),
		"WATCHSHARE_DB":       a.sys.cfg.DB,
	})
	ackedBefore := b.sys.msg.consumer.Stats().Acked
	for i := range users {
		for hb := 0; hb < 5; hb++ {
			for title := 0; title < 3; title++ {
				a.publishWatch(watchEvent(fmt.Sprintf("w%d", i), "s1", fmt.Sprintf("x%d", title), 300+30*hb))
			}
		}
	}
	a.drained(worker.StreamPlayback)
	for i, u := range users {
		if n := len(a.emu.Actions(u.ID)); n != 3 {
			t.Errorf("member w%d: %d posts, want 3", i, n)
		}
	}
	if a.sys.msg.consumer.Stats().Acked == 0 || b.sys.msg.consumer.Stats().Acked == ackedBefore {
		t.Fatalf("the work was not shared: first process acked %d, second %d", a.sys.msg.consumer.Stats().Acked, b.sys.msg.consumer.Stats().Acked-ackedBefore)
	}
}
