package sharing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MaxEventBytes is the largest watch event payload accepted (64 KiB).
const MaxEventBytes = 64 << 10

// MaxSeconds bounds watched_seconds and duration_seconds: a week. Anything
// larger is not a playback session but a bug upstream.
const MaxSeconds = 7 * 24 * 60 * 60

// maxClockSkew is how far in the future occurred_at may be before the event
// is rejected as invalid.
const maxClockSkew = time.Hour

// TitleType is the kind of title watched.
type TitleType string

// Title types of the contract.
const (
	TitleMovie   TitleType = "movie"
	TitleEpisode TitleType = "episode"
	TitleShow    TitleType = "show"
)

// GraphProperty is the Open Graph video.watches property naming the object
// for this title type: movie, episode or tv_show.
func (t TitleType) GraphProperty() string {
	switch t {
	case TitleMovie:
		return "movie"
	case TitleEpisode:
		return "episode"
	case TitleShow:
		return "tv_show"
	}
	return ""
}

// PlaybackState is the player's state when the event was emitted.
type PlaybackState string

// Playback states of the contract.
const (
	StatePlaying   PlaybackState = "playing"
	StatePaused    PlaybackState = "paused"
	StateStopped   PlaybackState = "stopped"
	StateCompleted PlaybackState = "completed"
)

// Title is the watched title as the playback service describes it.
type Title struct {
	ID   string    `json:"id"`
	Type TitleType `json:"type"`
	URL  string    `json:"url"`
	Name string    `json:"name"`
}

// WatchEvent is one message on playback.watch.<member_id>.
type WatchEvent struct {
	EventID         string        `json:"event_id"`
	MemberID        string        `json:"member_id"`
	ProfileID       string        `json:"profile_id"`
	KidsProfile     bool          `json:"kids_profile"`
	SessionID       string        `json:"session_id"`
	Title           Title         `json:"title"`
	WatchedSeconds  int64         `json:"watched_seconds"`
	DurationSeconds int64         `json:"duration_seconds"`
	State           PlaybackState `json:"state"`
	OccurredAt      time.Time     `json:"occurred_at"`
}

// InvalidEventError says why a watch event was rejected. Invalid events are
// never retried: they go to the dead-letter stream with Error() as reason.
type InvalidEventError struct {
	Field  string // JSON path of the offending field, empty for the whole payload
	Reason string
}

func (e *InvalidEventError) Error() string {
	if e.Field == "" {
		return "invalid watch event: " + e.Reason
	}
	return fmt.Sprintf("invalid watch event: %s: %s", e.Field, e.Reason)
}

// ErrInvalidEvent matches every *InvalidEventError with errors.Is.
var ErrInvalidEvent = errors.New("invalid watch event")

// Is lets errors.Is(err, ErrInvalidEvent) match.
func (e *InvalidEventError) Is(target error) bool { return target == ErrInvalidEvent }

func invalid(field, format string, args ...any) error {
	return &InvalidEventError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidID reports whether s is 1–64 characters of [A-Za-z0-9_.-], the
// alphabet of member, title and session ids.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// DecodeWatchEvent parses and validates one watch event payload. Unknown
// fields are ignored; everything the contract names is checked. now bounds
// occurred_at from above (events from the future are invalid).
func DecodeWatchEvent(data []byte, now time.Time) (WatchEvent, error) {
	if len(data) > MaxEventBytes {
		return WatchEvent{}, invalid("", "payload of %d bytes is over the %d byte limit", len(data), MaxEventBytes)
	}
	ev, occurredAt, ok := decodeSimple(data)
	if !ok {
		var err error
		if ev, occurredAt, err = decodeJSON(data); err != nil {
			return WatchEvent{}, err
		}
	}
	if occurredAt == "" {
		return WatchEvent{}, invalid("occurred_at", "missing")
	}
	t, err := time.Parse(time.RFC3339Nano, occurredAt)
	if err != nil {
		return WatchEvent{}, invalid("occurred_at", "not an RFC 3339 time")
	}
	ev.OccurredAt = t.UTC()
	if err := ev.Validate(now); err != nil {
		return WatchEvent{}, err
	}
	return ev, nil
}

// decodeJSON decodes data with encoding/json: every payload decodeSimple
// leaves to it, and the reference decodeSimple is tested against. It returns
// occurred_at unparsed.
func decodeJSON(data []byte) (WatchEvent, string, error) {
	var raw struct {
		WatchEvent
		OccurredAt string `json:"occurred_at"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return WatchEvent{}, "", invalid("", "malformed JSON: %v", err)
	}
	if dec.More() {
		return WatchEvent{}, "", invalid("", "trailing data after the JSON object")
	}
	return raw.WatchEvent, raw.OccurredAt, nil
}

// Validate checks every field the contract constrains.
func (ev WatchEvent) Validate(now time.Time) error {
	if ev.EventID == "" || len(ev.EventID) > 128 || strings.ContainsFunc(ev.EventID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return invalid("event_id", "must be 1–128 printable characters")
	}
	if !ValidID(ev.MemberID) {
		return invalid("member_id", "must be 1–64 characters of [A-Za-z0-9_.-]")
	}
	if !ValidID(ev.SessionID) {
		return invalid("session_id", "must be 1–64 characters of [A-Za-z0-9_.-]")
	}
	if len(ev.ProfileID) > 64 {
		return invalid("profile_id", "longer than 64 characters")
	}
	if !ValidID(ev.Title.ID) {
		return invalid("title.id", "must be 1–64 characters of [A-Za-z0-9_.-]")
	}
	if ev.Title.Type.GraphProperty() == "" {
		return invalid("title.type", "must be movie, episode or show, not %q", truncate(string(ev.Title.Type)))
	}
	if err := validTitleURL(ev.Title.URL); err != nil {
		return err
	}
	if len(ev.Title.Name) > 512 {
		return invalid("title.name", "longer than 512 bytes")
	}
	if ev.WatchedSeconds < 0 || ev.WatchedSeconds > MaxSeconds {
		return invalid("watched_seconds", "must be between 0 and %d", MaxSeconds)
	}
	if ev.DurationSeconds < 0 || ev.DurationSeconds > MaxSeconds {
		return invalid("duration_seconds", "must be between 0 and %d", MaxSeconds)
	}
	switch ev.State {
	case StatePlaying, StatePaused, StateStopped, StateCompleted:
	default:
		return invalid("state", "must be playing, paused, stopped or completed, not %q", truncate(string(ev.State)))
	}
	if ev.OccurredAt.IsZero() {
		return invalid("occurred_at", "missing")
	}
	if !now.IsZero() && ev.OccurredAt.After(now.Add(maxClockSkew)) {
		return invalid("occurred_at", "more than %s in the future", maxClockSkew)
	}
	return nil
}

func validTitleURL(s string) error {
	if s == "" {
		return invalid("title.url", "missing")
	}
	if len(s) > 2048 {
		return invalid("title.url", "longer than 2048 bytes")
	}
	if validURLs.has(s) {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return invalid("title.url", "must be an absolute https URL")
	}
	if u.Scheme != "https" {
		return invalid("title.url", "must use https, not %q", truncate(u.Scheme))
	}
	if u.Host == "" || u.User != nil {
		return invalid("title.url", "must be an absolute https URL with a host and no credentials")
	}
	validURLs.add(s)
	return nil
}

// validURLs remembers title URLs that passed validTitleURL, a pure function
// of the string: every heartbeat of a title carries its URL again, and
// url.Parse was the dearest step of decoding an event.
var validURLs = newURLSet(1<<14, 1<<20)

// urlSet is a set of recently added strings, safe for concurrent use. It
// holds two generations, each of at most maxLen strings and maxBytes bytes;
// when the current one is full, the previous one is dropped (what is still
// watched is soon added again). It holds no pointers but two byte slices:
// the garbage collector, which runs often in a worker with a small heap,
// does not walk it.
type urlSet struct {
	seed             maphash.Seed
	maxLen, maxBytes int
	mu               sync.RWMutex
	cur, old         urlGeneration
}

type urlGeneration struct {
	index map[uint64]uint64 // hash of the string → its offset<<32 | length in data
	data  []byte
}

func newURLSet(maxLen, maxBytes int) *urlSet {
	return &urlSet{seed: maphash.MakeSeed(), maxLen: maxLen, maxBytes: maxBytes}
}

func (g *urlGeneration) has(h uint64, s string) bool {
	v, ok := g.index[h]
	return ok && string(g.data[v>>32:v>>32+v&(1<<32-1)]) == s
}

func (u *urlSet) has(s string) bool {
	h := maphash.String(u.seed, s)
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.cur.has(h, s) || u.old.has(h, s)
}

func (u *urlSet) add(s string) {
	if len(s) > u.maxBytes {
		return
	}
	h := maphash.String(u.seed, s)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cur.index == nil || len(u.cur.index) >= u.maxLen || len(u.cur.data)+len(s) > u.maxBytes {
		u.old, u.cur = u.cur, urlGeneration{index: make(map[uint64]uint64, min(u.maxLen, 1024))}
	}
	if _, taken := u.cur.index[h]; taken {
		return // s itself, or another string with the same hash: not remembered
	}
	u.cur.index[h] = uint64(len(u.cur.data))<<32 | uint64(len(s))
	u.cur.data = append(u.cur.data, s...)
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
