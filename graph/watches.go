package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Open Graph object properties of a video.watches action.
const (
	PropertyMovie   = "movie"
	PropertyEpisode = "episode"
	PropertyTVShow  = "tv_show"
	PropertyVideo   = "video"
)

var properties = []string{PropertyMovie, PropertyEpisode, PropertyTVShow, PropertyVideo}

// ErrInvalidArgument: a helper was called with an argument it cannot send
// (unknown property, empty URL or id); nothing was sent.
var ErrInvalidArgument = errors.New("graph: invalid argument")

// TimeLayout is Facebook's DateTime format, e.g. "2013-03-14T20:00:00+0000".
const TimeLayout = "2006-01-02T15:04:05-0700"

// WatchOptions are the optional parameters of PublishWatch. Zero values are
// not sent.
type WatchOptions struct {
	StartTime time.Time     // start_time; Facebook defaults it to the publish time
	EndTime   time.Time     // end_time
	ExpiresIn time.Duration // expires_in, whole seconds: how long it reads "is watching"
	// ExplicitlyShared sets fb:explicitly_shared=true; only for shares the
	// member chose actively, never for automatic ones.
	ExplicitlyShared bool
	NoFeedStory      bool // no_feed_story=true
}

// PublishWatch posts a video.watches action (POST /me/video.watches) with
// property (movie, episode, tv_show or video) set to objectURL, and returns
// the action id. The request is not idempotent: check IsAmbiguous before
// retrying a failed call.
func (s *Session) PublishWatch(ctx context.Context, property, objectURL string, opts WatchOptions) (string, *Result, error) {
	if !slices.Contains(properties, property) {
		return "", nil, fmt.Errorf("%w: property %q (want one of %s)", ErrInvalidArgument, scrubPath(property), strings.Join(properties, ", "))
	}
	if objectURL == "" {
		return "", nil, fmt.Errorf("%w: empty object URL", ErrInvalidArgument)
	}
	params := url.Values{property: {objectURL}}
	if !opts.StartTime.IsZero() {
		params.Set("start_time", opts.StartTime.UTC().Format(TimeLayout))
	}
	if !opts.EndTime.IsZero() {
		params.Set("end_time", opts.EndTime.UTC().Format(TimeLayout))
	}
	if opts.ExpiresIn > 0 {
		params.Set("expires_in", strconv.FormatInt(int64(opts.ExpiresIn/time.Second), 10))
	}
	if opts.ExplicitlyShared {
		params.Set("fb:explicitly_shared", "true")
	}
	if opts.NoFeedStory {
		params.Set("no_feed_story", "true")
	}
	var w struct {
		ID flexString `json:"id"`
	}
	res, err := s.Post(ctx, "/me/video.watches", params, &w)
	if err != nil {
		return "", res, err
	}
	if w.ID == "" {
		return "", res, fmt.Errorf("graph: POST /me/video.watches: answer has no id")
	}
	return string(w.ID), res, nil
}

// DeleteObject deletes a Graph object such as a posted action
// (DELETE /{id}). Success is true or {"success":true}.
func (s *Session) DeleteObject(ctx context.Context, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#%\\ ") {
		return fmt.Errorf("%w: object id %q", ErrInvalidArgument, scrubPath(id))
	}
	return s.deleteConfirmed(ctx, "/"+id, "DELETE object")
}

// WatchAction is one video.watches action read back from Facebook.
type WatchAction struct {
	ID          string
	PublishTime time.Time // zero when absent
	StartTime   time.Time
	EndTime     time.Time
	// Property is the object property present in data (movie, episode,
	// tv_show or video), with the object's id, URL, og type and title.
	Property    string
	ObjectID    string
	ObjectURL   string
	ObjectType  string
	ObjectTitle string
	NoFeedStory bool
}

type wireObject struct {
	ID    flexString `json:"id"`
	URL   string     `json:"url"`
	Type  string     `json:"type"`
	Title string     `json:"title"`
}

type wireWatch struct {
	ID          flexString                 `json:"id"`
	PublishTime json.RawMessage            `json:"publish_time"`
	StartTime   json.RawMessage            `json:"start_time"`
	EndTime     json.RawMessage            `json:"end_time"`
	Data        map[string]json.RawMessage `json:"data"`
	NoFeedStory bool                       `json:"no_feed_story"`
}

// Watches reads GET /me/video.watches to the end, for at most maxPages pages.
func (s *Session) Watches(ctx context.Context, maxPages int) ([]WatchAction, error) {
	ws, _, err := Collect[wireWatch](ctx, s, "/me/video.watches", nil, maxPages)
	out := make([]WatchAction, 0, len(ws))
	for _, w := range ws {
		a, derr := w.action()
		if derr != nil {
			return out, derr
		}
		out = append(out, a)
	}
	return out, err
}

func (w wireWatch) action() (WatchAction, error) {
	a := WatchAction{ID: string(w.ID), NoFeedStory: w.NoFeedStory}
	var err error
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *time.Time
	}{
		{"publish_time", w.PublishTime, &a.PublishTime},
		{"start_time", w.StartTime, &a.StartTime},
		{"end_time", w.EndTime, &a.EndTime},
	} {
		if *f.dst, err = ParseTime(f.raw); err != nil {
			return a, fmt.Errorf("graph: video.watches %s: %s: %w", a.ID, f.name, err)
		}
	}
	for _, p := range properties {
		raw, ok := w.Data[p]
		if !ok {
			continue
		}
		var o wireObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return a, fmt.Errorf("graph: video.watches %s: data.%s: %w", a.ID, p, err)
		}
		a.Property, a.ObjectID, a.ObjectURL, a.ObjectType, a.ObjectTitle = p, string(o.ID), o.URL, o.Type, o.Title
		break
	}
	return a, nil
}

// ParseTime reads a Facebook DateTime JSON value: a string in TimeLayout
// ("2013-03-14T20:00:00+0000") or RFC 3339, or a unix time number. Empty,
// null and absent values give the zero time.
func ParseTime(raw json.RawMessage) (time.Time, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return time.Time{}, nil
	}
	if t[0] != '"' {
		var n json.Number
		if err := json.Unmarshal(t, &n); err != nil {
			return time.Time{}, fmt.Errorf("not a time: %w", err)
		}
		sec, err := n.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("not a unix time")
		}
		return unixTime(sec), nil
	}
	var s string
	if err := json.Unmarshal(t, &s); err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{TimeLayout, time.RFC3339} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", clip(s, 40))
}
