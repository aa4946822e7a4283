package resilience

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/store"
	"watchshare/worker"
)

// postAll publishes p, waits until every event is terminal and checks that
// every expected post was made once; it returns the members' live actions.
func (r *rig) postAll(p plan) map[string][]graphtest.Action {
	r.t.Helper()
	if err := r.publishAll(p.events, 0); err != nil {
		r.t.Fatal(err)
	}
	_, tl, st := r.settle(2*time.Minute, p)
	r.check(tl, st, p)
	if r.t.Failed() {
		r.t.FailNow()
	}
	out := map[string][]graphtest.Action{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for m, fb := range r.fbOf {
		out[m] = r.emu.Actions(fb)
	}
	return out
}

// disconnectCommand publishes social.cmd.disconnect for member.
func (r *rig) disconnectCommand(member string, deletePosts bool) {
	r.t.Helper()
	data, _ := json.Marshal(map[string]any{"member_id": member, "delete_posts": deletePosts})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := worker.PublishCommand(ctx, r.js, worker.SubjectDisconnect, data, "disconnect-"+member); err != nil {
		r.t.Fatal(err)
	}
}

// status is the member's connection status from GET /v1/members/{member}
// ("" if it could not be read).
func (r *rig) status(member string) string {
	code, out, err := r.api("GET", "/v1/members/"+member, nil)
	if err != nil || code != http.StatusOK {
		return ""
	}
	s, _ := out["status"].(string)
	return s
}

// fb is the member's Facebook user id.
func (r *rig) fb(member string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fbOf[member]
}

// live counts the member's live posts at Facebook.
func (r *rig) live(member string) int { return len(r.emu.Actions(r.fb(member))) }

// authorized reports whether the member's Facebook user still has the app.
func (r *rig) authorized(member string) bool { return r.emu.Authorized(r.fb(member)) }

// TestGraphOutageCompletesLater hides titles and disconnects members (over
// HTTP and over NATS, with and without deleting their posts) while Facebook
// is down, restarts the worker with SIGKILL while it is still down, and
// then checks that every deletion and revocation completes once Facebook is
// back (the outbox runs every 5 s, with backoff).
func TestGraphOutageCompletesLater(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.start()
	ids := r.connectMembers("o", 6)
	hideA, hideB, discDel, discKeep, natsDel, bystander := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	before := r.postAll(makePlan("o", ids, 3, 2, 1)) // two posted titles each

	r.emu.SetOutage(graphtest.Outage503)
	pendingDeletions, pendingRevocations := 0, 0
	for _, m := range []string{hideA, hideB} {
		out := r.mustAPI(http.StatusOK, "PUT", "/v1/members/"+m+"/hidden-titles/o0", nil)
		if out["pending_deletions"] != 1.0 {
			t.Errorf("hide %s during the outage = %v, want 1 pending deletion", m, out)
		}
		pendingDeletions++
	}
	for _, tc := range []struct {
		member      string
		deletePosts bool
	}{{discDel, true}, {discKeep, false}} {
		out := r.mustAPI(http.StatusOK, "POST", "/v1/members/"+tc.member+"/disconnect", map[string]any{"delete_posts": tc.deletePosts})
		if out["status"] != "not_connected" || out["revocation"] != "pending" {
			t.Errorf("disconnect %s during the outage = %v, want not_connected with the revocation pending", tc.member, out)
		}
		pendingRevocations++
		if tc.deletePosts {
			pendingDeletions += len(before[tc.member])
		}
	}
	r.disconnectCommand(natsDel, true)
	waitFor(t, time.Minute, "the NATS disconnect to purge "+natsDel, func() bool { return r.status(natsDel) == "not_connected" })
	pendingRevocations++
	pendingDeletions += len(before[natsDel])
	t.Logf("during the outage: %d deletions and %d revocations pending", pendingDeletions, pendingRevocations)

	// Across a restart, Facebook still down.
	r.restart()
	waitFor(t, time.Minute, "a failed outbox attempt after the restart", func() bool { return len(r.worker().logs("outbox item will be retried")) > 0 })
	r.emu.SetOutage(graphtest.OutageNone)
	back := time.Now()

	hidden := func(m string) bool {
		for _, a := range r.emu.Actions(r.fb(m)) {
			if a.ObjectURL == titleURL+"o0" {
				return false
			}
		}
		return true
	}
	took := waitFor(t, 3*time.Minute, "every deletion and revocation after the outage", func() bool {
		return hidden(hideA) && hidden(hideB) &&
			r.live(discDel) == 0 && !r.authorized(discDel) &&
			!r.authorized(discKeep) &&
			r.live(natsDel) == 0 && !r.authorized(natsDel)
	})
	// Nothing more than asked for.
	for m, want := range map[string]int{hideA: 1, hideB: 1, discKeep: 2, bystander: 2} {
		if got := r.live(m); got != want {
			t.Errorf("%s has %d live posts, want %d", m, got, want)
		}
	}
	if !r.authorized(bystander) || !r.authorized(hideA) {
		t.Error("a member who did not disconnect lost the app")
	}
	t.Logf("all %d deletions and %d revocations done %s after Facebook came back", pendingDeletions, pendingRevocations, took.Round(time.Second))
	summary(t, "pending_deletions=%d pending_revocations=%d worker_restarts=1 completed_within=%s after the outage", pendingDeletions, pendingRevocations, time.Since(back).Round(time.Second))
}

// TestKill9DuringPurge kills the worker with SIGKILL in the middle of a
// disconnect with delete_posts (Facebook slow to delete) and restarts it:
// the purge must complete (the NATS command is redelivered; over HTTP the
// account page retries) and leave no byte of the member's Facebook data.
func TestKill9DuringPurge(t *testing.T) {
	t.Parallel()
	posts := size(20, 40)
	for _, via := range []string{"nats", "http"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{})
			r.start()
			leaver, keeper := "leaver-"+via, "keeper-"+via
			fb, name := "9300000000017", "Zebulon Quaxworth-"+via
			r.connect(keeper, "9310000000029", "Kept Friend "+via)
			r.emu.AddUser(graphtest.User{ID: fb, Name: name})
			r.emu.AddFriends(fb, r.fb(keeper))
			r.connect(leaver, fb, name)
			r.mustAPI(http.StatusOK, "POST", "/v1/members/"+keeper+"/friends/sync", nil)
			r.mustAPI(http.StatusOK, "POST", "/v1/members/"+leaver+"/friends/sync", nil)
			if fr, _ := json.Marshal(r.mustAPI(http.StatusOK, "GET", "/v1/members/"+keeper+"/friends", nil)); !bytes.Contains(fr, []byte(leaver)) {
				t.Fatalf("the keeper's friends do not list %s before the purge: %s", leaver, fr)
			}
			r.postAll(makePlan("p", []string{leaver}, posts+1, 1, 0))

			canaries := []string{fb, name}
			for _, tok := range r.emu.Tokens(fb) {
				canaries = append(canaries, tok.Token)
			}
			for _, a := range r.emu.Actions(fb) {
				canaries = append(canaries, a.ID)
			}
			if n := store.Residue(r.db(), canaries); n == 0 {
				t.Fatal("no canary on disk before the purge: the scan would prove nothing")
			}

			r.emu.SetLatency("DELETE /{id}", 150*time.Millisecond)
			httpDone := make(chan struct{})
			if via == "nats" {
				close(httpDone)
				r.disconnectCommand(leaver, true)
			} else {
				go func() {
					defer close(httpDone)
					r.api("POST", "/v1/members/"+leaver+"/disconnect", map[string]any{"delete_posts": true}) // cut by the kill
				}()
			}
			waitFor(t, time.Minute, "the purge to be deleting posts", func() bool { return r.emu.CallCount("DELETE", "/{id}") >= posts/3 })
			r.restart()
			<-httpDone
			deletedBefore := posts - r.live(leaver)
			r.emu.SetLatency("DELETE /{id}", 0)
			if via == "http" {
				// The account page got no answer and asks again.
				out := r.mustAPI(http.StatusOK, "POST", "/v1/members/"+leaver+"/disconnect", map[string]any{"delete_posts": true})
				if out["status"] != "not_connected" {
					t.Fatalf("disconnect after the restart = %v", out)
				}
			}
			took := waitFor(t, 2*time.Minute, "the purge to complete after the restart", func() bool {
				return r.status(leaver) == "not_connected" && r.live(leaver) == 0 && !r.authorized(leaver)
			})
			waitFor(t, time.Minute, "PLAYBACK settled", func() bool {
				st, err := r.consumer()
				return err == nil && st.terminal()
			})
			// A checkpoint a reader held up (this test polls the API) is
			// completed by the housekeeping loop within seconds (README).
			hits := store.Residue(r.db(), canaries)
			clean := time.Now()
			for hits != 0 && time.Since(clean) < 30*time.Second {
				time.Sleep(100 * time.Millisecond)
				hits = store.Residue(r.db(), canaries)
			}
			if hits != 0 {
				t.Errorf("%d canary bytes of the purged member left in the database files 30s after the purge", hits)
			}
			fr := r.mustAPI(http.StatusOK, "GET", "/v1/members/"+keeper+"/friends", nil)
			if data, _ := json.Marshal(fr); bytes.Contains(data, []byte(leaver)) || bytes.Contains(data, []byte(name)) {
				t.Errorf("the keeper's friends still list the purged member: %s", data)
			}
			t.Logf("killed after %d of %d deletions; purge complete %s after the restart; residue %d bytes (%s after the purge)", deletedBefore, posts, took.Round(time.Second), hits, time.Since(clean).Round(100*time.Millisecond))
			summary(t, "posts=%d deleted_before_kill=%d purge_completed_within=%s residue=%d", posts, deletedBefore, took.Round(time.Second), hits)
		})
	}
}
