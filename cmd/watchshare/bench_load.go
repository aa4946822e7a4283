package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"watchshare/sharing"
)

// The bench's load: watch events shaped like real playback, and an
// independent model of the share rules that says which of them must end up
// on Facebook. The model is deliberately written from the contract's words,
// not by calling package sharing, so that the bench can catch the worker
// posting too much or too little.

// benchLoad describes the generated population and traffic.
type benchLoad struct {
	members    int     // member ids m0000000 .. m<members-1>
	connected  float64 // share of members connected
	mix        string  // "playback" or "posts"
	cross      float64 // playback: share of sessions that reach the share threshold
	kids       float64 // share of sessions on a kids profile
	hiddenPick float64 // members with a hidden title pick it this often
	shareAfter time.Duration
	maxAge     time.Duration
}

const (
	benchMixPlayback  = "playback"
	benchMixPosts     = "posts"
	benchHeartbeat    = 30 // seconds of play between two heartbeats
	benchActive       = 2000
	benchTitles       = 20000
	benchFBUserOffset = 100000000
)

// Members are identified by index. The first nConnected indices are
// connected; among those, every 100th (offset 7) has paused sharing and every
// 50th (offset 3) hid one title. These are plain functions of the index so
// that the bench keeps no state per member.

func (l benchLoad) nConnected() int { return int(float64(l.members)*l.connected + 0.5) }

func benchMemberID(i int) string { return fmt.Sprintf("m%07d", i) }

func benchFBUser(i int) string { return fmt.Sprint(benchFBUserOffset + i) }

func (l benchLoad) isConnected(i int) bool { return i < l.nConnected() }

func (l benchLoad) isPaused(i int) bool { return l.isConnected(i) && i%100 == 7 }

// hiddenTitle is the title member i hid, or -1.
func (l benchLoad) hiddenTitle(i int) int {
	if !l.isConnected(i) || i%50 != 3 {
		return -1
	}
	return i % benchTitles
}

// benchTitle is title i of the catalog: mostly movies and episodes, some
// short episodes (8 minutes, shared at half their duration) and shows
// without a duration.
type benchTitle struct {
	id       string
	typ      sharing.TitleType
	duration int64
}

func benchTitleOf(i int) benchTitle {
	t := benchTitle{id: fmt.Sprintf("t%d", i)}
	switch {
	case i%25 == 0:
		t.typ, t.duration = sharing.TitleEpisode, 480
	case i%10 < 6:
		t.typ, t.duration = sharing.TitleMovie, 5400
	case i%10 < 9:
		t.typ, t.duration = sharing.TitleEpisode, 1200+int64(i%16)*60
	default:
		t.typ = sharing.TitleShow
	}
	return t
}

func (t benchTitle) url() string { return "https://www.example.com/title/" + t.id }

// thresholdBeats is the number of heartbeats after which a session of t is
// past the share threshold.
func (l benchLoad) thresholdBeats(t benchTitle) int {
	secs := int64(l.shareAfter / time.Second)
	if t.duration > 0 && (t.duration+1)/2 < secs {
		secs = (t.duration + 1) / 2
	}
	return int((secs + benchHeartbeat - 1) / benchHeartbeat)
}

type benchSession struct {
	id     string
	member int
	title  int
	kids   bool
	beats  int // heartbeats in the session
	sent   int
}

// benchGen generates the event stream: benchActive sessions play at once,
// each heartbeat picks one of them at random, and a finished session is
// replaced by a new one. Every event is a fresh value; nothing is kept per
// event or per member.
type benchGen struct {
	load     benchLoad
	rng      *rand.Rand
	active   []*benchSession
	sessions int
	events   int
	start    time.Time // occurred_at of the first event
	step     time.Duration
}

func newBenchGen(l benchLoad, seed uint64, n int, now time.Time) *benchGen {
	g := &benchGen{load: l, rng: rand.New(rand.NewPCG(seed, 0x5eed)), start: now.Add(-30 * time.Minute)}
	g.step = 30 * time.Minute / time.Duration(max(n, 1))
	return g
}

func (g *benchGen) newSession() *benchSession {
	l := g.load
	g.sessions++
	s := &benchSession{id: fmt.Sprintf("s%d", g.sessions), kids: g.rng.Float64() < l.kids}
	if l.mix == benchMixPosts {
		// One heartbeat past the threshold, of a connected member, for a
		// title from a catalog so large that it is new for the member.
		s.member = g.rng.IntN(max(l.nConnected(), 1))
		s.title = benchTitles + g.rng.IntN(1<<24)
	} else {
		s.member = g.rng.IntN(l.members)
		s.title = g.rng.IntN(benchTitles)
	}
	if h := l.hiddenTitle(s.member); h >= 0 && g.rng.Float64() < l.hiddenPick {
		s.title = h
	}
	h := l.thresholdBeats(benchTitleOf(s.title))
	switch {
	case l.mix == benchMixPosts:
		s.beats, s.sent = h, h-1
	case g.rng.Float64() < l.cross:
		s.beats = h + g.rng.IntN(5) // one to five heartbeats past the threshold
	default:
		s.beats = 1 + g.rng.IntN(max(h-1, 1)) // stops before it
	}
	return s
}

// next returns the next event and the indices of its member and title.
func (g *benchGen) next() (ev sharing.WatchEvent, member, title int) {
	l := g.load
	var s *benchSession
	if l.mix == benchMixPosts {
		s = g.newSession()
	} else {
		if len(g.active) == 0 {
			for range min(benchActive, l.members) {
				g.active = append(g.active, g.newSession())
			}
		}
		k := g.rng.IntN(len(g.active))
		s = g.active[k]
		if s.sent+1 == s.beats {
			g.active[k] = g.newSession()
		}
	}
	s.sent++
	t := benchTitleOf(s.title)
	watched := int64(s.sent) * benchHeartbeat
	state := sharing.StatePlaying
	switch {
	case s.sent == s.beats && t.duration > 0 && watched >= t.duration:
		state = sharing.StateCompleted
	case s.sent == s.beats:
		state = sharing.StateStopped
	case g.rng.IntN(20) == 0:
		state = sharing.StatePaused
	}
	occurred := g.start.Add(time.Duration(g.events) * g.step)
	if g.rng.IntN(300) == 0 {
		occurred = occurred.Add(-l.maxAge - time.Hour) // a replay from yesterday: stale
	}
	g.events++
	profile := "p1"
	if s.kids {
		profile = "kids"
	}
	ev = sharing.WatchEvent{
		EventID: fmt.Sprintf("ev-%d", g.events), MemberID: benchMemberID(s.member),
		ProfileID: profile, KidsProfile: s.kids, SessionID: s.id,
		Title:          sharing.Title{ID: t.id, Type: t.typ, URL: t.url(), Name: "Title " + t.id},
		WatchedSeconds: watched, DurationSeconds: t.duration, State: state,
		OccurredAt: occurred.UTC(),
	}
	return ev, s.member, s.title
}

// benchPair is one (member, title) that must be posted exactly once.
type benchPair struct{ member, titleURL string }

// benchModel is the independent reading of "When a title is shared": a
// title is posted once for a connected member who did not pause sharing or
// hide it, from a non-kids heartbeat no older than the maximum age, once
// the member watched the threshold or half of the title's duration; later
// heartbeats of it (same session or not, all within the reshare period)
// post nothing.
type benchModel struct {
	load     benchLoad
	now      time.Time
	expected map[benchPair]struct{}
}

func (m *benchModel) observe(ev sharing.WatchEvent, member, title int) {
	l := m.load
	if !l.isConnected(member) || l.isPaused(member) || ev.KidsProfile || l.hiddenTitle(member) == title {
		return
	}
	if m.now.Sub(ev.OccurredAt) > l.maxAge {
		return
	}
	threshold := int64(l.shareAfter / time.Second)
	if ev.WatchedSeconds < threshold && (ev.DurationSeconds == 0 || ev.WatchedSeconds*2 < ev.DurationSeconds) {
		return
	}
	m.expected[benchPair{ev.MemberID, ev.Title.URL}] = struct{}{}
}
