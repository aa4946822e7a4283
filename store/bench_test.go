package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"watchshare/store"
)

func BenchmarkShareContextNotConnected(b *testing.B) {
	db := MustOpen(b)
	ctx := context.Background()
	for i := range 100 {
		connect(b, db, fmt.Sprint("m", i), fmt.Sprint("fb", i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.ShareContext(ctx, "never-connected", "t1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShareContextConnected(b *testing.B) {
	db := MustOpen(b)
	ctx := context.Background()
	connect(b, db, "m1", "fb1")
	for i := range 50 {
		post(b, db, "m1", fmt.Sprint("t", i%5), fmt.Sprint("e", i), fmt.Sprint("a", i))
	}
	if _, _, err := db.HideTitle(ctx, "m1", "t9"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.ShareContext(ctx, "m1", "t3"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBeginCompleteShare(b *testing.B) {
	db := MustOpen(b)
	ctx := context.Background()
	connect(b, db, "m1", "fb1")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		s, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: fmt.Sprint("t", i), EventID: fmt.Sprint("e", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CompleteShare(ctx, s.ID, fmt.Sprint("a", i), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBeginCompleteShareParallel: the two writes of a post from 32
// goroutines at once, as the worker makes them; group commit shares the
// fsyncs.
func BenchmarkBeginCompleteShareParallel(b *testing.B) {
	db := MustOpen(b)
	ctx := context.Background()
	connect(b, db, "m1", "fb1")
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			s, err := db.BeginShare(ctx, store.Share{MemberID: "m1", TitleID: fmt.Sprint("t", i), EventID: fmt.Sprint("e", i)})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := db.CompleteShare(ctx, s.ID, fmt.Sprint("a", i), time.Time{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
