package sharing

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeSimple decodes the usual shape of a watch event without reflection:
// one JSON object whose known fields appear once each, with exactly their
// names, string values without escapes in valid UTF-8, integers without
// fraction or exponent, true or false, and a title object of the same kind;
// unknown fields (any valid JSON) are skipped, and only whitespace may
// follow. It returns occurred_at unparsed.
//
// ok false means "not this shape", never "invalid": the caller then decodes
// with encoding/json (decodeJSON), which accepts or rejects, and words the
// error, exactly as it always did. When ok is true the result is what
// decodeJSON returns for data (FuzzDecodeSimple checks it): everything
// encoding/json does beyond this shape (case-insensitive names, duplicate
// names, null, escapes, invalid UTF-8 replaced, type errors, trailing data)
// is left to it.
func decodeSimple(data []byte) (ev WatchEvent, occurredAt string, ok bool) {
	// One string for the whole payload: the fields are substrings of it
	// (one allocation instead of one per field).
	d := decoder{s: string(data), ok: true}
	d.space()
	var seen uint16
	d.object(func(key string) bool {
		var bit uint16
		switch key {
		case "event_id":
			bit, ev.EventID = 1<<0, d.str()
		case "member_id":
			bit, ev.MemberID = 1<<1, d.str()
		case "profile_id":
			bit, ev.ProfileID = 1<<2, d.str()
		case "kids_profile":
			bit, ev.KidsProfile = 1<<3, d.boolean()
		case "session_id":
			bit, ev.SessionID = 1<<4, d.str()
		case "title":
			bit = 1 << 5
			d.title(&ev.Title)
		case "watched_seconds":
			bit, ev.WatchedSeconds = 1<<6, d.integer()
		case "duration_seconds":
			bit, ev.DurationSeconds = 1<<7, d.integer()
		case "state":
			bit = 1 << 8
			ev.State = PlaybackState(d.str())
		case "occurred_at":
			bit, occurredAt = 1<<9, d.str()
		default:
			return d.unknown(key, watchEventFields)
		}
		return d.once(&seen, bit)
	})
	d.space()
	if !d.ok || d.i != len(d.s) {
		return WatchEvent{}, "", false
	}
	return ev, occurredAt, true
}

// The JSON names of WatchEvent and Title (for decoder.unknown).
var (
	watchEventFields = []string{"event_id", "member_id", "profile_id", "kids_profile", "session_id", "title",
		"watched_seconds", "duration_seconds", "state", "occurred_at"}
	titleFields = []string{"id", "type", "url", "name"}
)

// decoder reads s from i; ok turns false at the first thing it does not
// handle, and stays false.
type decoder struct {
	s  string
	i  int
	ok bool
}

func (d *decoder) fail() { d.ok = false; d.i = len(d.s) }

func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) consume(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling field with the reader on each
// value; field returns false to give up. d.ok says whether it could.
func (d *decoder) object(field func(key string) bool) {
	if !d.consume('{') {
		d.fail()
		return
	}
	d.space()
	if d.consume('}') {
		return
	}
	for {
		key := d.str()
		d.space()
		if !d.ok || !d.consume(':') {
			d.fail()
			return
		}
		d.space()
		if !field(key) {
			d.fail()
			return
		}
		d.space()
		if d.consume('}') {
			return
		}
		if !d.consume(',') {
			d.fail()
			return
		}
		d.space()
	}
}

// title reads the title object; d.ok says whether it could.
func (d *decoder) title(t *Title) {
	var seen uint16
	d.object(func(key string) bool {
		var bit uint16
		switch key {
		case "id":
			bit, t.ID = 1<<0, d.str()
		case "type":
			bit = 1 << 1
			t.Type = TitleType(d.str())
		case "url":
			bit, t.URL = 1<<2, d.str()
		case "name":
			bit, t.Name = 1<<3, d.str()
		default:
			return d.unknown(key, titleFields)
		}
		return d.once(&seen, bit)
	})
}

// once records that the field of bit was read, and reports whether it was
// read well and for the first time.
func (d *decoder) once(seen *uint16, bit uint16) bool {
	if !d.ok || *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (d *decoder) str() string {
	if !d.consume('"') {
		d.fail()
		return ""
	}
	start := d.i
	ascii := true
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			if !ascii && !utf8.ValidString(v) {
				d.fail()
				return ""
			}
			return v
		case c < 0x20 || c == '\\':
			d.fail()
			return ""
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	d.fail()
	return ""
}

// integer reads -?(0|[1-9][0-9]*) of at most 18 digits (no overflow).
func (d *decoder) integer() int64 {
	neg := d.consume('-')
	start := d.i
	var n int64
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		n = n*10 + int64(d.s[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.s[start] == '0') {
		d.fail()
		return 0
	}
	if neg {
		n = -n
	}
	return n
}

func (d *decoder) boolean() bool {
	switch {
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return true
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return false
	}
	d.fail()
	return false
}

// unknown skips the value of a field that is not one of known. A name that
// encoding/json would match to a known field anyway (it ignores case, and
// folds some non-ASCII letters) is not skipped: the caller gives up.
func (d *decoder) unknown(key string, known []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if strings.EqualFold(key, k) {
			return false
		}
	}
	// Find where the value ends (a comma or closing brace outside strings
	// and brackets), then let encoding/json say whether it is valid JSON.
	start, depth := d.i, 0
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case '"':
			for d.i++; d.i < len(d.s) && d.s[d.i] != '"'; d.i++ {
				if d.s[d.i] == '\\' {
					d.i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return json.Valid([]byte(d.s[start:d.i]))
			}
			depth--
		case ',':
			if depth == 0 {
				return json.Valid([]byte(d.s[start:d.i]))
			}
		}
		d.i++
	}
	return false
}
