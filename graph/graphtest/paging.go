package graphtest

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
)

// pageItem is one element of a paged edge. seq orders the elements: it
// strictly increases along the list when asc, strictly decreases otherwise,
// so a cursor stays meaningful when elements are added or removed.
type pageItem struct {
	seq int64
	v   any
}

type cursor struct {
	seq  int64
	page int // page number of the page the cursor came from
}

func encodeCursor(c cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "gt:%d:%d", c.seq, c.page))
}

func decodeCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if n, err := fmt.Sscanf(string(b), "gt:%d:%d", &c.seq, &c.page); err != nil || n != 2 {
		return cursor{}, false
	}
	return c, true
}

// pageLimit returns the effective page size: limit if it is a positive
// number (capped at MaxPageLimit), else DefaultPageLimit.
func pageLimit(req *request) int {
	n, err := strconv.Atoi(req.params.Get("limit"))
	if err != nil || n <= 0 {
		return DefaultPageLimit
	}
	return min(n, MaxPageLimit)
}

// pageLocked cuts one page out of items (in display order) using the
// request's limit/after/before, and returns {"data", "paging"}. A bad cursor,
// or a fault registered with FailPage for this page number, comes back as
// the answer to send instead (resp).
func (s *Server) pageLocked(req *request, rt route, a *auth, items []pageItem, asc bool) (out map[string]any, resp *response) {
	limit := pageLimit(req)
	// follows reports whether x comes after cursor position c in display order.
	follows := func(x, c int64) bool {
		if asc {
			return x > c
		}
		return x < c
	}
	start, end, page := 0, min(limit, len(items)), 1
	switch {
	case req.params.Get("after") != "":
		c, ok := decodeCursor(req.params.Get("after"))
		if !ok {
			return nil, s.errorJSON(newError(100, "(#100) Invalid cursor: after"))
		}
		start = len(items)
		for i, it := range items {
			if follows(it.seq, c.seq) {
				start = i
				break
			}
		}
		end, page = min(start+limit, len(items)), c.page+1
	case req.params.Get("before") != "":
		c, ok := decodeCursor(req.params.Get("before"))
		if !ok {
			return nil, s.errorJSON(newError(100, "(#100) Invalid cursor: before"))
		}
		end = 0
		for i, it := range items {
			if !follows(c.seq, it.seq) {
				break
			}
			end = i + 1
		}
		start, page = max(0, end-limit), max(1, c.page-1)
	}
	if f, ok := s.stateLocked().takeFaultLocked(rt.key, page); ok {
		return nil, s.faultResponse(f)
	}
	data := make([]any, 0, end-start)
	for _, it := range items[start:end] {
		data = append(data, it.v)
	}
	out = map[string]any{"data": data}
	if len(data) == 0 {
		return out, nil
	}
	first := encodeCursor(cursor{items[start].seq, page})
	last := encodeCursor(cursor{items[end-1].seq, page})
	paging := map[string]any{"cursors": map[string]string{"before": first, "after": last}}
	if end < len(items) {
		paging["next"] = pageURL(req, a, limit, "after", last)
	}
	if start > 0 {
		paging["previous"] = pageURL(req, a, limit, "before", first)
	}
	out["paging"] = paging
	return out, nil
}

// pageURL builds an absolute paging URL the way Facebook does: same host,
// version and path, with access_token, limit, fields and the cursor. It
// does not carry appsecret_proof; the client adds its own.
func pageURL(req *request, a *auth, limit int, dir, cur string) string {
	q := url.Values{}
	if a.raw != "" {
		q.Set("access_token", a.raw)
	}
	if f := req.params.Get("fields"); f != "" {
		q.Set("fields", f)
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set(dir, cur)
	p := req.path
	if req.version != "" {
		p = "/" + req.version + p
	}
	u := url.URL{Scheme: req.scheme, Host: req.host, Path: p, RawQuery: q.Encode()}
	return u.String()
}
