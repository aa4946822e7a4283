package sharing

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// usualEvent is shaped like the playback service's events (one unknown field).
const usualEvent = `{
  "event_id": "6f1c2a9e-1", "member_id": "m123", "profile_id": "p1", "kids_profile": false, "session_id": "s-8841",
  "title": {"id": "70143836", "type": "episode", "url": "https://www.example.com/title/70143836", "name": "Amélie, \u00e9pisode 1"},
  "watched_seconds": 754, "duration_seconds": 5400, "state": "playing", "occurred_at": "2026-11-28T11:59:00.123Z",
  "some_future_field": {"ignored": [true, null, 1.5e3, "}"]}
}`

// TestDecodeSimpleTakesUsualEvents: the usual shapes do not fall back to
// encoding/json (or the fast path would silently be the slow one).
func TestDecodeSimpleTakesUsualEvents(t *testing.T) {
	usual := strings.Replace(usualEvent, `\u00e9pisode`, "épisode", 1)
	for _, s := range []string{usual, `{"title":{"id":"t"},"watched_seconds":-0}`, "\t{}\n"} {
		if _, _, ok := decodeSimple([]byte(s)); !ok {
			t.Errorf("decodeSimple(%s) fell back to encoding/json", s)
		}
	}
	if _, _, ok := decodeSimple([]byte(usualEvent)); ok {
		t.Errorf("decodeSimple took a name with an escape")
	}
}

// FuzzDecodeSimple: whenever decodeSimple takes a payload it returns what
// encoding/json (decodeJSON) returns for it; DecodeWatchEvent's seeds and
// corpus are its seeds too.
func FuzzDecodeSimple(f *testing.F) {
	for _, s := range []string{
		usualEvent,
		`{"event_id":"e1","member_id":"m1","profile_id":"p1","kids_profile":false,"session_id":"s1",` +
			`"title":{"id":"t1","type":"movie","url":"https://www.example.com/title/t1","name":"Amélie"},` +
			`"watched_seconds":300,"duration_seconds":5400,"state":"playing","occurred_at":"2026-11-28T11:59:00Z"}`,
		`{"event_id":"e1","x":{"a":[1,"}",{"b":null}]},"title":{"id":"t1","extra":"\"q\""},"y":-0.5e3}`,
		`{"EVENT_ID":"e1"}`, `{"event_id":"e1","event_id":"e2"}`, `{"event_id":"\u0065"}`, `{"watched_seconds":1.5}`,
		`{"watched_seconds":-0}`, `{"watched_seconds":01}`, `{"kids_profile":null}`, `{"title":null}`, `{} }`, `{}x`,
		`{"title":{"id":"a"},"title":{"type":"movie"}}`, `{"ſtate":"x"}`, "{\"name\":\"\xff\"}", `{"x":[}`, ` {} `, ``,
	} {
		f.Add([]byte(s))
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWatchEvent")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		f.Fatalf("corpus %s: %d entries, %v", dir, len(entries), err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		// go test fuzz v1 / []byte("...")
		_, entry, _ := strings.Cut(string(b), "\n")
		v, err := unquoteCorpus(strings.TrimSpace(entry))
		if err != nil {
			f.Fatalf("corpus entry %s: %v", e.Name(), err)
		}
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, at, ok := decodeSimple(data)
		if !ok {
			return
		}
		want, wantAt, err := decodeJSON(data)
		if err != nil {
			t.Fatalf("decodeSimple(%q) took a payload encoding/json rejects: %v", data, err)
		}
		if ev != want || at != wantAt {
			t.Fatalf("decodeSimple(%q) = %+v, %q; encoding/json: %+v, %q", data, ev, at, want, wantAt)
		}
	})
}

func unquoteCorpus(s string) ([]byte, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
	v, err := strconv.Unquote(s)
	return []byte(v), err
}
