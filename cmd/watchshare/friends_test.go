package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/worker"
)

// friendSyncs returns, per Facebook user, the friend-list requests the
// emulator received after since (every page of every sync).
func friendSyncs(emu *graphtest.Server, since time.Time) map[string][]graphtest.Call {
	out := map[string][]graphtest.Call{}
	for _, c := range emu.Calls() {
		if c.Route == "GET /me/friends" && c.Status == 200 && !c.Received.Before(since) {
			out[c.UserID] = append(out[c.UserID], c)
		}
	}
	return out
}

// firstPages counts the syncs in calls: one first page (no cursor) each.
func firstPages(calls []graphtest.Call) int {
	n := 0
	for _, c := range calls {
		if c.Params.Get("after") == "" {
			n++
		}
	}
	return n
}

// overlapping reports two requests of the same user that were in flight at
// the same time: two syncs running concurrently (one sync reads its pages
// one after another).
func overlapping(calls []graphtest.Call) (graphtest.Call, graphtest.Call, bool) {
	sort.Slice(calls, func(i, j int) bool { return calls[i].Received.Before(calls[j].Received) })
	for i := 1; i < len(calls); i++ {
		for j := 0; j < i; j++ {
			if calls[i].Received.Before(calls[j].Time) {
				return calls[j], calls[i], true
			}
		}
	}
	return graphtest.Call{}, graphtest.Call{}, false
}

func publishCommand(t *testing.T, ts *testSystem, subject string, payload any, msgID string) {
	t.Helper()
	data, _ := json.Marshal(payload)
	if _, err := worker.PublishCommand(context.Background(), ts.sys.msg.js, subject, data, msgID); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

// twoProcesses starts two serve processes sharing one NATS server, one
// database and one emulator.
func twoProcesses(t *testing.T) (a, b *testSystem) {
	t.Helper()
	a = newTestSystem(t, map[string]string{"WATCHSHARE_NATS_LISTEN": "127.0.0.1:0"})
	b = newSecondSystem(t, a, map[string]string{
		"WATCHSHARE_NATS_URL": a.sys.msg.embedded.ClientURL(),
		"WATCHSHARE_DB":       a.sys.cfg.DB,
	})
	return a, b
}

// Two serve processes on one database and NATS server, flooded with sync
// requests for the same members (commands and HTTP calls on both): no two
// syncs of a member ever run at the same time.
func TestFriendSyncOneAtATimeAcrossProcesses(t *testing.T) {
	a, b := twoProcesses(t)
	const members = 5
	users := make([]graphtest.User, members)
	for i := range users {
		users[i] = a.emu.AddUser(graphtest.User{ID: fmt.Sprintf("70000%d", i), Name: fmt.Sprintf("Syncer %d", i)})
		a.emu.GenerateFriends(users[i].ID, 250, "public_profile", "user_friends")
		a.mustConnect(fmt.Sprintf("s%d", i), users[i].ID)
	}
	a.drained(worker.StreamCommands) // the syncs that follow each connect
	// Each page takes a while, so that overlapping syncs would be seen.
	a.emu.SetLatency("GET /me/friends", 25*time.Millisecond)
	since := time.Now()

	var wg sync.WaitGroup
	for i := range users {
		member := fmt.Sprintf("s%d", i)
		for n := range 6 {
			publishCommand(t, a, worker.SubjectFriendsSync, map[string]string{"member_id": member}, fmt.Sprintf("flood-%s-%d", member, n))
		}
		for _, ts := range []*testSystem{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, res := ts.api("POST", "/v1/members/"+member+"/friends/sync", nil); status != 200 || res["friends"] != float64(250) {
					t.Errorf("HTTP sync of %s = %d %v", member, status, res)
				}
			}()
		}
	}
	wg.Wait()
	a.drained(worker.StreamCommands)

	total := 0
	for user, calls := range friendSyncs(a.emu, since) {
		total += firstPages(calls)
		if c1, c2, ok := overlapping(calls); ok {
			t.Errorf("user %s: two friend syncs at once: %s–%s and %s–%s", user,
				c1.Received.Format("15:04:05.000"), c1.Time.Format("15:04:05.000"),
				c2.Received.Format("15:04:05.000"), c2.Time.Format("15:04:05.000"))
		}
	}
	// Every HTTP call synced (10), and some commands did too.
	if total < 2*members {
		t.Fatalf("%d syncs ran, want at least %d", total, 2*members)
	}
	t.Logf("%d syncs of %d members, none concurrent with another of the same member", total, members)
}

// {} syncs every member whose sync is due, once, even when two processes'
// schedulers both ask; members not due, or who must reconnect, are left out.
func TestFriendSyncDueMembersOnce(t *testing.T) {
	a, b := twoProcesses(t)
	users := map[string]graphtest.User{}
	for i := range 8 {
		member := fmt.Sprintf("d%d", i)
		users[member] = a.emu.AddUser(graphtest.User{ID: fmt.Sprintf("71000%d", i), Name: "Due " + member})
		a.emu.GenerateFriends(users[member].ID, 120, "public_profile", "user_friends")
		a.mustConnect(member, users[member].ID)
	}
	a.drained(worker.StreamCommands)
	// A day and more later everyone is due, except d6, who synced just now,
	// and d7, whose token Facebook no longer accepts.
	for _, ts := range []*testSystem{a, b} {
		ts.clock.Advance(27 * time.Hour)
	}
	if status, _ := a.api("POST", "/v1/members/d6/friends/sync", nil); status != 200 {
		t.Fatalf("sync d6 = %d", status)
	}
	a.emu.InvalidateTokens(users["d7"].ID, 460)
	a.api("POST", "/v1/members/d7/friends/sync", nil)
	if m := a.member("d7"); m["status"] != "reconnect_required" {
		t.Fatalf("d7 = %v", m)
	}
	since := time.Now()

	// Both schedulers tick, and an operator sends {} as well.
	publishCommand(t, a, worker.SubjectFriendsSync, map[string]any{}, "tick-a")
	publishCommand(t, b, worker.SubjectFriendsSync, map[string]any{}, "tick-b")
	publishCommand(t, a, worker.SubjectFriendsSync, map[string]any{}, "operator")
	waitFor(t, "the due syncs", func() bool {
		return len(friendSyncs(a.emu, since)) >= 6
	})
	a.drained(worker.StreamCommands)

	syncs := friendSyncs(a.emu, since)
	for member, u := range users {
		want := 1
		if member == "d6" || member == "d7" {
			want = 0
		}
		if got := firstPages(syncs[u.ID]); got != want {
			t.Errorf("member %s synced %d times, want %d", member, got, want)
		}
	}
	// The next {} finds no one due: the syncs moved everyone a period ahead.
	since = time.Now()
	publishCommand(t, b, worker.SubjectFriendsSync, map[string]any{}, "tick-again")
	a.drained(worker.StreamCommands)
	if n := len(friendSyncs(a.emu, since)); n != 0 {
		t.Fatalf("a second {} synced %d members, want 0", n)
	}
}
