package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
)

// DefaultMaxPages is the page bound used when a caller passes maxPages <= 0.
const DefaultMaxPages = 100

var (
	// ErrTooManyPages: the list had more pages than the caller's bound.
	ErrTooManyPages = errors.New("graph: too many pages")

	// ErrForeignNextURL: paging.next points to another scheme or host than
	// BaseURL; it is not followed so the token is never sent elsewhere.
	ErrForeignNextURL = errors.New("graph: paging.next points to another host")
)

// Page is one page of a list edge.
type Page struct {
	Data   []json.RawMessage `json:"data"`
	Paging struct {
		Cursors struct {
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"cursors"`
		Next     string `json:"next"`
		Previous string `json:"previous"`
	} `json:"paging"`
	// Summary is the raw "summary" object, when the edge has one.
	Summary json.RawMessage `json:"summary"`
	// Result is the HTTP answer this page came from.
	Result *Result `json:"-"`
}

// Pages walks the list at path page by page, following paging.next verbatim
// (except that any access_token in it is dropped: the token travels in the
// header, with a fresh appsecret_proof). It stops after yielding a page with
// no paging.next or with empty data. If a further page exists after
// maxPages pages (DefaultMaxPages when maxPages <= 0) it yields
// ErrTooManyPages. On an error it yields (nil, err) once and stops.
func (s *Session) Pages(ctx context.Context, path string, params url.Values, maxPages int) iter.Seq2[*Page, error] {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	return func(yield func(*Page, error) bool) {
		u, err := s.c.endpoint(path)
		if err != nil {
			yield(nil, err)
			return
		}
		base, _ := s.c.baseURL() // endpoint succeeded, so this does too
		for n := 1; ; n++ {
			var p Page
			res, err := s.do(ctx, request{method: http.MethodGet, u: u, params: params, out: &p})
			if err != nil {
				yield(nil, err)
				return
			}
			p.Result = res
			if !yield(&p, nil) {
				return
			}
			if len(p.Data) == 0 || p.Paging.Next == "" {
				return
			}
			if n >= maxPages {
				yield(nil, fmt.Errorf("%w: more than %d pages at %s", ErrTooManyPages, maxPages, u.Path))
				return
			}
			next, err := nextURL(base, p.Paging.Next)
			if err != nil {
				yield(nil, err)
				return
			}
			u, params = next, nil
		}
	}
}

// nextURL parses a paging.next URL and checks it stays on BaseURL's host.
// Tokens and proofs in it are removed by the request plumbing.
func nextURL(base *url.URL, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("graph: bad paging.next URL %s", ScrubURL(raw))
	}
	if !u.IsAbs() {
		u = base.ResolveReference(u)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return nil, fmt.Errorf("%w: %s", ErrForeignNextURL, scrubURL(u))
	}
	u.Fragment = ""
	return u, nil
}

// Collect reads every item of the list at path into a []T, following
// paging.next for at most maxPages pages (see Session.Pages). It returns the
// items read so far with any error, and the last page's Result.
func Collect[T any](ctx context.Context, s *Session, path string, params url.Values, maxPages int) ([]T, *Result, error) {
	var (
		items []T
		last  *Result
	)
	for p, err := range s.Pages(ctx, path, params, maxPages) {
		if err != nil {
			return items, last, err
		}
		last = p.Result
		for i, raw := range p.Data {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return items, last, fmt.Errorf("graph: decode item %d: %w", i, err)
			}
			items = append(items, v)
		}
	}
	return items, last, nil
}
