package resilience

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

// streamLoad is the workload of the streaming cases: members connected
// through the OAuth flow, each with sessions of heartbeats.
type streamLoad struct {
	members, titles, beats, cross int
	publishFor                    time.Duration // spread of the publishing
	settleWithin                  time.Duration // bound of the wait for terminal states
}

func defaultLoad() streamLoad {
	return size(
		// 40 members × 3 titles × 5 heartbeats = 600 events, 80 posts; the
		// last heartbeat of a session crosses the threshold.
		streamLoad{members: 40, titles: 3, beats: 5, cross: 4, publishFor: 12 * time.Second, settleWithin: 3 * time.Minute},
		// 150 × 4 × 5 = 3,000 events, 450 posts; the third heartbeat
		// crosses and two more follow above the threshold.
		streamLoad{members: 150, titles: 4, beats: 5, cross: 2, publishFor: 60 * time.Second, settleWithin: 6 * time.Minute},
	)
}

// setupStream starts a rig and a worker, connects the members and returns
// the plan (not published yet).
func setupStream(t *testing.T, tag string, l streamLoad) (*rig, plan) {
	t.Helper()
	r := newRig(t, rigOptions{})
	r.start()
	members := r.connectMembers(tag, l.members)
	p := makePlan(tag, members, l.titles, l.beats, l.cross)
	t.Logf("%d members connected; %d events for %d sessions, %d posts expected", len(members), len(p.events), p.pairs, len(p.expect))
	return r, p
}

// TestKill9MidStream kills the worker with SIGKILL at random moments while
// events flow, half of the time right after Facebook executed a post whose
// reply is held back (the window between the Graph call and the commit),
// and restarts it each time.
func TestKill9MidStream(t *testing.T) {
	t.Parallel()
	l := defaultLoad()
	kills := size(4, 10)
	r, p := setupStream(t, "k", l)
	const window = 250 * time.Millisecond
	r.emu.SetReplyLatency("POST /me/video.watches", window)

	published := r.publishInBackground(p.events, l.publishFor)
	gap := l.publishFor / time.Duration(kills)
	inWindow := 0
	for k := range kills {
		if k%2 == 1 {
			// Inside the window: right after the emulator executed a post.
			before := r.emu.CallCount("POST", "/me/video.watches")
			waitFor(t, time.Minute, "a post to kill inside of", func() bool {
				return r.emu.CallCount("POST", "/me/video.watches") > before
			})
			inWindow++
		} else {
			time.Sleep(gap/2 + rand.N(gap))
		}
		r.restart()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	took, tl, st := r.settle(l.settleWithin, p)
	reconciles := r.emu.CallCount("GET", "/me/video.watches")
	t.Logf("after %d SIGKILLs (%d inside the Graph-call-to-commit window): %v; %d reconciliation reads; terminal %s after the last event; consumer %+v",
		kills, inWindow, tl, reconciles, took.Round(time.Second), st)
	r.check(tl, st, p)
	summary(t, "kills=%d in_window=%d %v reconcile_reads=%d dlq=%d settled_in=%s", kills, inWindow, tl, reconciles, st.DLQ, took.Round(time.Second))
}

// TestSIGTERMUnderLoad stops the worker with SIGTERM while events flow: each
// exit must come within the contract's 15 s with status 0, and nothing may
// be lost or posted twice.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	l := defaultLoad()
	stops := size(3, 5)
	r, p := setupStream(t, "g", l)
	r.emu.SetReplyLatency("POST /me/video.watches", 100*time.Millisecond)

	published := r.publishInBackground(p.events, l.publishFor)
	gap := l.publishFor / time.Duration(stops)
	var slowest time.Duration
	for range stops {
		time.Sleep(gap/2 + rand.N(gap))
		code, took := r.worker().terminate(15 * time.Second)
		if code != 0 {
			r.worker().dumpLog(30)
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
		slowest = max(slowest, took)
		t.Logf("SIGTERM: exit %d after %s", code, took.Round(time.Millisecond))
		r.start()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	took, tl, st := r.settle(l.settleWithin, p)
	t.Logf("after %d SIGTERMs (slowest exit %s): %v; terminal %s after the last event; consumer %+v", stops, slowest.Round(time.Millisecond), tl, took.Round(time.Second), st)
	r.check(tl, st, p)
	summary(t, "sigterms=%d slowest_exit=%s %v dlq=%d settled_in=%s", stops, slowest.Round(time.Millisecond), tl, st.DLQ, took.Round(time.Second))
}

// TestNATSRestart stops the NATS server and starts it again (same port,
// same store) while events flow; the worker must reconnect by itself and
// report unready while NATS is down.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	l := defaultLoad()
	restarts := size(3, 5)
	r, p := setupStream(t, "n", l)
	r.emu.SetReplyLatency("POST /me/video.watches", 50*time.Millisecond)

	published := r.publishInBackground(p.events, l.publishFor)
	gap := l.publishFor / time.Duration(restarts)
	var slowestUnready, slowestReady time.Duration
	for range restarts {
		time.Sleep(gap/2 + rand.N(gap/2))
		r.nats.stop()
		unready := waitFor(t, 15*time.Second, "/readyz to turn unready with NATS down", func() bool { return r.readyz() != http.StatusOK })
		// Down for a while: the worker keeps trying to reconnect.
		time.Sleep(time.Second)
		if code := r.readyz(); code == http.StatusOK {
			t.Errorf("/readyz = 200 while NATS is down")
		}
		r.nats.start()
		ready := waitFor(t, 60*time.Second, "/readyz to turn ready after NATS came back", func() bool { return r.readyz() == http.StatusOK })
		slowestUnready, slowestReady = max(slowestUnready, unready), max(slowestReady, ready)
		t.Logf("NATS restart: /readyz unready %s after the stop, ready %s after the start", unready.Round(time.Millisecond), ready.Round(time.Millisecond))
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	took, tl, st := r.settle(l.settleWithin, p)
	t.Logf("after %d NATS restarts: %v; terminal %s after the last event; consumer %+v", restarts, tl, took.Round(time.Second), st)
	r.check(tl, st, p)
	summary(t, "nats_restarts=%d readyz_unready_within=%s ready_again_within=%s %v dlq=%d settled_in=%s",
		restarts, slowestUnready.Round(time.Millisecond), slowestReady.Round(time.Millisecond), tl, st.DLQ, took.Round(time.Second))
}

// TestGraphFaults makes the emulator fail a share of the post calls while
// events flow: bare 5xx pages, transient Graph errors, a member rate limit,
// connections closed before the call ran, and "commit then drop the
// response"; reconciliation reads fail now and then too.
func TestGraphFaults(t *testing.T) {
	t.Parallel()
	l := defaultLoad()
	r, p := setupStream(t, "f", l)
	const post = "POST /me/video.watches"
	type inject struct {
		name  string
		apply func()
	}
	faults := []inject{
		{"5xx html", func() { r.emu.FailNext(post, 1, graphtest.Fault{Status: 502, Body: graphtest.HTMLErrorPage}) }},
		{"code 2", func() { r.emu.FailNext(post, 1, graphtest.Fault{Code: 2}) }},
		{"drop after commit", func() { r.emu.DropNext(post, 1) }},
		{"code 1", func() { r.emu.FailNext(post, 1, graphtest.Fault{Code: 1}) }},
		{"closed before the call", func() { r.emu.FailNext(post, 1, graphtest.Fault{CloseConn: true}) }},
		{"drop after commit", func() { r.emu.DropNext(post, 1) }},
		{"5xx empty", func() { r.emu.FailNext(post, 1, graphtest.Fault{Status: 500}) }},
		{"reconcile read 503", func() {
			r.emu.FailNext("GET /me/video.watches", 1, graphtest.Fault{Status: 503, Body: graphtest.HTMLErrorPage})
		}},
	}
	// A member rate limit (code 17) holds that member off for a minute or
	// more (a fifth of the five-minute app backoff): a few of them.
	rateLimits := size(1, 3)

	published := r.publishInBackground(p.events, l.publishFor)
	stop := make(chan struct{})
	injected := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(l.publishFor / time.Duration(len(p.expect)/2)) // about one fault per two posts
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if i%25 == 12 && rateLimits > 0 {
				r.emu.FailNext(post, 1, graphtest.Fault{Code: 17})
				injected["code 17"]++
				rateLimits--
				continue
			}
			f := faults[i%len(faults)]
			f.apply()
			injected[f.name]++
		}
	}()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	took, tl, st := r.settle(l.settleWithin+2*time.Minute, p)
	r.emu.ClearFaults() // faults armed but never reached

	var refused, dropped int
	for _, c := range r.emu.Calls() {
		if c.Route == post && c.Injected {
			refused++
		}
		if c.Route == post && c.Dropped {
			dropped++
		}
	}
	t.Logf("faults armed: %v", injected)
	t.Logf("post calls refused by a fault: %d, executed then dropped: %d; %v; terminal %s after the last event; consumer %+v", refused, dropped, tl, took.Round(time.Second), st)
	r.check(tl, st, p)
	summary(t, "post_calls_refused=%d executed_then_dropped=%d %v reconcile_reads=%d dlq=%d settled_in=%s",
		refused, dropped, tl, r.emu.CallCount("GET", "/me/video.watches"), st.DLQ, took.Round(time.Second))
}
