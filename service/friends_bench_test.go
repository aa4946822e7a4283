package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/store"
)

// BenchmarkSyncFriends: friend syncs of members with 200 friends each, over
// loopback HTTP to the emulator (every page) and into SQLite. "changed"
// replaces a fifth of each list every time; "unchanged" is the steady state
// of a scheduled sync.
func BenchmarkSyncFriends(b *testing.B) {
	for _, changed := range []bool{false, true} {
		name := "unchanged"
		if changed {
			name = "changed"
		}
		b.Run(name, func(b *testing.B) {
			svc, db, emu := newBenchService(b)
			ctx := context.Background()
			const members = 20
			type syncer struct {
				id, fbID string
				friends  []graphtest.User
			}
			var all []syncer
			now := time.Now()
			for i := range members {
				u := emu.AddUser(graphtest.User{Name: fmt.Sprintf("Syncer %d", i)})
				friends := emu.GenerateFriends(u.ID, 200, "public_profile", "user_friends")
				token := emu.AuthorizeApp(u.ID, "public_profile", "user_friends")
				id := fmt.Sprintf("m%d", i)
				if _, err := db.SaveConnection(ctx, store.Connection{MemberID: id, FacebookUserID: u.ID, Name: u.Name,
					Token: token, TokenExpiresAt: now.Add(time.Hour), ConnectedAt: now, ConsentAt: now}); err != nil {
					b.Fatal(err)
				}
				all = append(all, syncer{id, u.ID, friends})
				if _, err := svc.SyncFriends(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				s := all[i%members]
				i++
				if changed { // 40 friends leave and come back on the next round
					if (i/members)%2 == 0 {
						for _, f := range s.friends[:40] {
							emu.RemoveFriends(s.fbID, f.ID)
						}
					} else {
						for _, f := range s.friends[:40] {
							emu.AddFriends(s.fbID, f.ID)
						}
					}
				}
				res, err := svc.SyncFriends(ctx, s.id)
				if err != nil || (res.Friends != 200 && res.Friends != 160) {
					b.Fatalf("SyncFriends = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
		})
	}
}
