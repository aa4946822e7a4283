package service_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"watchshare/graph"
	"watchshare/graph/graphtest"
	"watchshare/oauth"
	"watchshare/service"
	"watchshare/sharing"
	"watchshare/store"
)

func newBenchService(b testing.TB) (*service.Service, *store.DB, *graphtest.Server) {
	b.Helper()
	// A large hourly budget: with Facebook's default of 200 calls per user
	// and hour the emulator's X-App-Usage would (rightly) throttle us.
	emu := &graphtest.Server{AppCallsPerHour: 1 << 30}
	emu.Start()
	b.Cleanup(emu.Close)
	key := make([]byte, 32)
	rand.Read(key)
	db, err := store.Open(context.Background(), b.TempDir()+"/bench.db", store.Options{TokenKey: key})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	flow, err := oauth.New(oauth.Config{AppID: graphtest.DefaultAppID, AppSecret: graphtest.DefaultAppSecret,
		DialogURL: emu.DialogURL(), TokenURL: emu.TokenURL(), RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(service.Config{
		DB: db, Flow: flow,
		Graph: &graph.Client{AppID: graphtest.DefaultAppID, AppSecret: graphtest.DefaultAppSecret, BaseURL: emu.GraphURL()},
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc, db, emu
}

func benchEvent(member, title string, watched int64) sharing.WatchEvent {
	return sharing.WatchEvent{
		EventID: fmt.Sprintf("%s-%s-%d", member, title, watched), MemberID: member, SessionID: "s1",
		Title:          sharing.Title{ID: title, Type: sharing.TitleMovie, URL: "https://www.example.com/title/" + title, Name: title},
		WatchedSeconds: watched, DurationSeconds: 5400, State: sharing.StatePlaying, OccurredAt: time.Now(),
	}
}

// BenchmarkProcessWatchNotConnected: an eligible heartbeat of a member who
// never connected (one indexed read, no write, no Graph call).
func BenchmarkProcessWatchNotConnected(b *testing.B) {
	svc, _, _ := newBenchService(b)
	ctx := context.Background()
	ev := benchEvent("stranger", "t1", 600)
	b.ReportAllocs()
	for b.Loop() {
		out, err := svc.ProcessWatch(ctx, ev)
		if err != nil || out.Skipped != sharing.SkipNotConnected {
			b.Fatalf("ProcessWatch = %+v, %v", out, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProcessWatchConnected: heartbeats of a connected member whose
// title was already posted in this session (the common connected case).
func BenchmarkProcessWatchConnected(b *testing.B) {
	svc, db, emu := newBenchService(b)
	ctx := context.Background()
	u := emu.AddUser(graphtest.User{Name: "Bench"})
	token := emu.AuthorizeApp(u.ID, "public_profile", "user_friends", "publish_actions")
	now := time.Now()
	if _, err := db.SaveConnection(ctx, store.Connection{MemberID: "fan", FacebookUserID: u.ID, Name: u.Name,
		Scopes: []string{"publish_actions"}, CanPublish: true, Token: token, TokenExpiresAt: now.Add(time.Hour),
		ConnectedAt: now, ConsentAt: now}); err != nil {
		b.Fatal(err)
	}
	if out, err := svc.ProcessWatch(ctx, benchEvent("fan", "t1", 600)); err != nil || !out.Posted {
		b.Fatalf("first post = %+v, %v", out, err)
	}
	ev := benchEvent("fan", "t1", 630)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := svc.ProcessWatch(ctx, ev)
		if err != nil || out.Skipped != sharing.SkipAlreadyProcessed && out.Skipped != sharing.SkipSharedInSession {
			b.Fatalf("ProcessWatch = %+v, %v", out, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProcessWatchPost: posting a new title each time (store writes
// with synchronous=FULL plus one Graph call to the emulator).
func BenchmarkProcessWatchPost(b *testing.B) {
	svc, db, emu := newBenchService(b)
	ctx := context.Background()
	u := emu.AddUser(graphtest.User{Name: "Poster"})
	token := emu.AuthorizeApp(u.ID, "public_profile", "publish_actions")
	now := time.Now()
	db.SaveConnection(ctx, store.Connection{MemberID: "poster", FacebookUserID: u.ID, Name: u.Name,
		CanPublish: true, Token: token, TokenExpiresAt: now.Add(time.Hour), ConnectedAt: now, ConsentAt: now})
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		out, err := svc.ProcessWatch(ctx, benchEvent("poster", fmt.Sprintf("t%d", i), 600))
		if err != nil || !out.Posted {
			b.Fatalf("ProcessWatch = %+v, %v", out, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
