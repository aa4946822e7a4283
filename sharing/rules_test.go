package sharing_test

import (
	"testing"
	"time"

	"watchshare/sharing"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func baseEvent() sharing.WatchEvent {
	return sharing.WatchEvent{
		EventID: "e1", MemberID: "m1", ProfileID: "p1", SessionID: "s1",
		Title:          sharing.Title{ID: "70143836", Type: sharing.TitleMovie, URL: "https://www.example.com/title/70143836", Name: "Some Film"},
		WatchedSeconds: 400, DurationSeconds: 5400, State: sharing.StatePlaying,
		OccurredAt: now.Add(-time.Minute),
	}
}

func connectedMember() sharing.MemberState {
	return sharing.MemberState{
		Status: sharing.Connected, CanPublish: true, ConsentAt: now.Add(-24 * time.Hour),
		SharingEnabled: true,
	}
}

func TestDecide(t *testing.T) {
	rules := sharing.Rules{}.WithDefaults()
	cases := []struct {
		name   string
		event  func(*sharing.WatchEvent)
		member func(*sharing.MemberState)
		want   sharing.Decision
	}{
		{name: "eligible", want: sharing.Decision{Post: true}},
		{name: "exactly share_after", event: func(e *sharing.WatchEvent) { e.WatchedSeconds = 300 }, want: sharing.Decision{Post: true}},
		{name: "below share_after", event: func(e *sharing.WatchEvent) { e.WatchedSeconds = 299 }, want: sharing.Decision{Reason: sharing.SkipBelowThreshold}},
		{name: "half of a short title", event: func(e *sharing.WatchEvent) { e.WatchedSeconds = 120; e.DurationSeconds = 240 }, want: sharing.Decision{Post: true}},
		{name: "just under half of a short title", event: func(e *sharing.WatchEvent) { e.WatchedSeconds = 119; e.DurationSeconds = 240 }, want: sharing.Decision{Reason: sharing.SkipBelowThreshold}},
		{name: "unknown duration below threshold", event: func(e *sharing.WatchEvent) { e.WatchedSeconds = 10; e.DurationSeconds = 0 }, want: sharing.Decision{Reason: sharing.SkipBelowThreshold}},
		{name: "kids profile", event: func(e *sharing.WatchEvent) { e.KidsProfile = true }, want: sharing.Decision{Reason: sharing.SkipKidsProfile}},
		{name: "stale event", event: func(e *sharing.WatchEvent) { e.OccurredAt = now.Add(-25 * time.Hour) }, want: sharing.Decision{Reason: sharing.SkipStale}},
		{name: "event at max age", event: func(e *sharing.WatchEvent) { e.OccurredAt = now.Add(-24 * time.Hour) }, want: sharing.Decision{Post: true}},
		{name: "never connected", member: func(m *sharing.MemberState) {
			*m = sharing.MemberState{Status: sharing.NotConnected, SharingEnabled: true}
		}, want: sharing.Decision{Reason: sharing.SkipNotConnected}},
		{name: "reconnect required", member: func(m *sharing.MemberState) { m.Status = sharing.ReconnectRequired }, want: sharing.Decision{Reason: sharing.SkipReconnect}},
		{name: "publish_actions declined", member: func(m *sharing.MemberState) { m.CanPublish = false }, want: sharing.Decision{Reason: sharing.SkipNoPermission}},
		{name: "consent expired", member: func(m *sharing.MemberState) { m.ConsentAt = now.Add(-17520 * time.Hour) }, want: sharing.Decision{Reason: sharing.SkipConsentExpired}},
		{name: "consent almost expired", member: func(m *sharing.MemberState) { m.ConsentAt = now.Add(-17520*time.Hour + time.Second) }, want: sharing.Decision{Post: true}},
		{name: "sharing paused", member: func(m *sharing.MemberState) { m.SharingEnabled = false }, want: sharing.Decision{Reason: sharing.SkipSharingPaused}},
		{name: "title hidden", member: func(m *sharing.MemberState) { m.TitleHidden = true }, want: sharing.Decision{Reason: sharing.SkipHidden}},
		{name: "same event already posted", member: func(m *sharing.MemberState) {
			m.LastShare = &sharing.PriorShare{EventID: "e1", SessionID: "s1", At: now.Add(-time.Minute)}
		}, want: sharing.Decision{Reason: sharing.SkipAlreadyProcessed}},
		{name: "posted in this session", member: func(m *sharing.MemberState) {
			m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s1", At: now.Add(-48 * time.Hour)}
		}, want: sharing.Decision{Reason: sharing.SkipSharedInSession}},
		{name: "posted in another session recently", member: func(m *sharing.MemberState) {
			m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s0", At: now.Add(-23 * time.Hour)}
		}, want: sharing.Decision{Reason: sharing.SkipSharedRecently}},
		{name: "posted in another session long ago", member: func(m *sharing.MemberState) {
			m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s0", At: now.Add(-24 * time.Hour)}
		}, want: sharing.Decision{Post: true}},
		{name: "post in flight", member: func(m *sharing.MemberState) {
			m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s1", At: now, Pending: true}
		}, want: sharing.Decision{Reason: sharing.SkipPostInFlight}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, m := baseEvent(), connectedMember()
			if tc.event != nil {
				tc.event(&ev)
			}
			if tc.member != nil {
				tc.member(&m)
			}
			if got := rules.Decide(now, ev, m); got != tc.want {
				t.Fatalf("Decide() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRulesCustomThresholds(t *testing.T) {
	rules := sharing.Rules{ShareAfter: 10 * time.Second, ReshareAfter: time.Hour, MaxEventAge: time.Minute, ConsentTTL: time.Hour}.WithDefaults()
	ev := baseEvent()
	ev.WatchedSeconds = 10
	ev.OccurredAt = now.Add(-30 * time.Second)
	m := connectedMember()
	m.ConsentAt = now.Add(-30 * time.Minute)
	if got := rules.Decide(now, ev, m); !got.Post {
		t.Fatalf("Decide() = %+v, want post", got)
	}
	m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s0", At: now.Add(-59 * time.Minute)}
	if got := rules.Decide(now, ev, m); got.Reason != sharing.SkipSharedRecently {
		t.Fatalf("Decide() = %+v, want shared_recently", got)
	}
	m.ConsentAt = now.Add(-time.Hour)
	if got := rules.Decide(now, ev, m); got.Reason != sharing.SkipConsentExpired {
		t.Fatalf("Decide() = %+v, want consent_expired", got)
	}
}

func TestGraphProperty(t *testing.T) {
	for typ, want := range map[sharing.TitleType]string{"movie": "movie", "episode": "episode", "show": "tv_show", "clip": ""} {
		if got := typ.GraphProperty(); got != want {
			t.Errorf("TitleType(%q).GraphProperty() = %q, want %q", typ, got, want)
		}
	}
}

func BenchmarkDecideNotConnected(b *testing.B) {
	rules := sharing.Rules{}.WithDefaults()
	ev := baseEvent()
	m := sharing.MemberState{Status: sharing.NotConnected}
	for b.Loop() {
		if rules.Decide(now, ev, m).Post {
			b.Fatal("posted")
		}
	}
}

func BenchmarkDecideConnected(b *testing.B) {
	rules := sharing.Rules{}.WithDefaults()
	ev := baseEvent()
	m := connectedMember()
	m.LastShare = &sharing.PriorShare{EventID: "e0", SessionID: "s0", At: now.Add(-48 * time.Hour)}
	for b.Loop() {
		if !rules.Decide(now, ev, m).Post {
			b.Fatal("skipped")
		}
	}
}
