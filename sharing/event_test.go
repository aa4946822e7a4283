package sharing_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"watchshare/sharing"
)

const validEvent = `{
  "event_id": "6f1c2a9e-1",
  "member_id": "m123",
  "profile_id": "p1",
  "kids_profile": false,
  "session_id": "s-8841",
  "title": {"id": "70143836", "type": "movie", "url": "https://www.example.com/title/70143836", "name": "Some Film"},
  "watched_seconds": 754,
  "duration_seconds": 5400,
  "state": "playing",
  "occurred_at": "2026-11-28T11:59:00Z",
  "some_future_field": {"ignored": true}
}`

func TestDecodeWatchEventValid(t *testing.T) {
	ev, err := sharing.DecodeWatchEvent([]byte(validEvent), now)
	if err != nil {
		t.Fatalf("DecodeWatchEvent: %v", err)
	}
	if ev.MemberID != "m123" || ev.Title.Type != sharing.TitleMovie || ev.WatchedSeconds != 754 || ev.OccurredAt.IsZero() {
		t.Fatalf("DecodeWatchEvent = %+v", ev)
	}
}

func TestDecodeWatchEventInvalid(t *testing.T) {
	mutate := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(validEvent), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	title := func(m map[string]any) map[string]any { return m["title"].(map[string]any) }
	cases := []struct {
		name, payload, field string
	}{
		{"malformed json", `{"event_id": `, ""},
		{"not an object", `[1,2]`, ""},
		{"trailing data", validEvent + ` {}`, ""},
		{"too large", `{"event_id":"` + strings.Repeat("x", sharing.MaxEventBytes) + `"}`, ""},
		{"missing event id", mutate(func(m map[string]any) { delete(m, "event_id") }), "event_id"},
		{"missing member id", mutate(func(m map[string]any) { delete(m, "member_id") }), "member_id"},
		{"member id out of alphabet", mutate(func(m map[string]any) { m["member_id"] = "m/1" }), "member_id"},
		{"member id too long", mutate(func(m map[string]any) { m["member_id"] = strings.Repeat("m", 65) }), "member_id"},
		{"session id missing", mutate(func(m map[string]any) { m["session_id"] = "" }), "session_id"},
		{"title id out of alphabet", mutate(func(m map[string]any) { title(m)["id"] = "a b" }), "title.id"},
		{"unknown title type", mutate(func(m map[string]any) { title(m)["type"] = "clip" }), "title.type"},
		{"relative url", mutate(func(m map[string]any) { title(m)["url"] = "/title/1" }), "title.url"},
		{"http url", mutate(func(m map[string]any) { title(m)["url"] = "http://www.example.com/title/1" }), "title.url"},
		{"javascript url", mutate(func(m map[string]any) { title(m)["url"] = "javascript:alert(1)" }), "title.url"},
		{"unknown state", mutate(func(m map[string]any) { m["state"] = "buffering" }), "state"},
		{"negative seconds", mutate(func(m map[string]any) { m["watched_seconds"] = -1 }), "watched_seconds"},
		{"absurd seconds", mutate(func(m map[string]any) { m["watched_seconds"] = 1e9 }), "watched_seconds"},
		{"fractional seconds", mutate(func(m map[string]any) { m["watched_seconds"] = 1.5 }), ""},
		{"negative duration", mutate(func(m map[string]any) { m["duration_seconds"] = -5 }), "duration_seconds"},
		{"missing occurred_at", mutate(func(m map[string]any) { delete(m, "occurred_at") }), "occurred_at"},
		{"bad occurred_at", mutate(func(m map[string]any) { m["occurred_at"] = "yesterday" }), "occurred_at"},
		{"future occurred_at", mutate(func(m map[string]any) { m["occurred_at"] = "2026-11-29T12:00:00Z" }), "occurred_at"},
		{"wrong type", mutate(func(m map[string]any) { m["kids_profile"] = "no" }), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sharing.DecodeWatchEvent([]byte(tc.payload), now)
			var ie *sharing.InvalidEventError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeWatchEvent err = %v, want *InvalidEventError", err)
			}
			if !errors.Is(err, sharing.ErrInvalidEvent) {
				t.Fatalf("errors.Is(%v, ErrInvalidEvent) = false", err)
			}
			if ie.Field != tc.field {
				t.Fatalf("Field = %q, want %q (err %v)", ie.Field, tc.field, err)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{"m1": true, "A-b_c.9": true, "": false, "a b": false, "é": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false} {
		if got := sharing.ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzWatchEvent(f *testing.F) {
	f.Add([]byte(validEvent))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"title":{"url":"https://"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := sharing.DecodeWatchEvent(data, now)
		if err != nil {
			if !errors.Is(err, sharing.ErrInvalidEvent) {
				t.Fatalf("error %v is not ErrInvalidEvent", err)
			}
			return
		}
		if !sharing.ValidID(ev.MemberID) || !sharing.ValidID(ev.Title.ID) || ev.Title.Type.GraphProperty() == "" {
			t.Fatalf("accepted an invalid event: %+v", ev)
		}
		// Decode → encode → decode is stable.
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		ev2, err := sharing.DecodeWatchEvent(b, now)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if ev2 != ev {
			t.Fatalf("round trip changed the event: %+v != %+v", ev2, ev)
		}
	})
}

func BenchmarkDecodeWatchEvent(b *testing.B) {
	data := []byte(validEvent)
	for b.Loop() {
		if _, err := sharing.DecodeWatchEvent(data, now); err != nil {
			b.Fatal(err)
		}
	}
}
