package graphtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// AnyRoute matches every Graph route in fault injection and latency.
const AnyRoute = "*"

// Fault is an injected failure. Routes are named "METHOD /path" with the
// version prefix stripped and the subject of user edges written as "me"
// whether the call used me or a user id: "GET /me", "GET /me/friends",
// "POST /me/video.watches", "GET /me/video.watches", "GET /me/permissions",
// "DELETE /me/permissions", "DELETE /me/permissions/{perm}", "GET /{id}",
// "POST /{id}", "DELETE /{id}", "POST /" (batch), "GET /debug_token",
// "GET /oauth/access_token", "POST /oauth/access_token"; AnyRoute matches
// all of them. Inside a batch, each operation is matched on its own.
type Fault struct {
	// Code is the Graph error code to answer with (1, 2, 4, 17, 32, 100,
	// 190, 200, 341, 368, 506, 613, 80001, ...). Zero means a bare HTTP
	// failure with Status and Body instead of a Graph error object.
	Code int
	// Subcode is the error_subcode (e.g. 463 with Code 190).
	Subcode int
	// Message overrides the message; empty means StandardMessage(Code).
	Message string
	// Type overrides the error type; empty means "OAuthException".
	Type string
	// Status overrides the HTTP status; zero means Facebook's status for
	// Code (500 for 1 and 2, 403 for 10 and 200-299, else 400), or 500 for
	// a bare failure.
	Status int
	// Body is the body of a bare failure (Code == 0), sent as text/html when
	// it starts with "<", else as text/plain; empty means an empty body.
	Body string
	// CloseConn closes the connection before any reply byte, without
	// executing the call. On a GET route Go's client may retry on another
	// connection and never see it (see the package doc).
	CloseConn bool
}

// Outage selects how the emulator behaves while "Facebook is down".
type Outage int

const (
	OutageNone  Outage = iota // normal service
	Outage503                 // every request gets HTTP 503 with an HTML page
	OutageClose               // every connection is closed without a reply
)

// Usage is the content of the X-App-Usage header, in percent of the
// allowance.
type Usage struct {
	CallCount    int `json:"call_count"`
	TotalTime    int `json:"total_time"`
	TotalCPUTime int `json:"total_cputime"`
}

type faultRule struct {
	route     string
	page      int // 0: any call; else only that page of a paged edge
	remaining int
	fault     Fault
}

type dropRule struct {
	route     string
	remaining int
}

func routeMatches(pattern, key string) bool {
	return pattern == AnyRoute || pattern == key
}

// FailNext makes the next n calls of route fail with f.
func (s *Server) FailNext(route string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	st.faults = append(st.faults, &faultRule{route: route, remaining: n, fault: f})
}

// FailPage makes the next request of page number page (1 = the first page,
// fetched without a cursor; page k+1 is fetched with the after cursor of
// page k) of a paged edge such as "GET /me/friends" fail once with f.
func (s *Server) FailPage(route string, page int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	st.faults = append(st.faults, &faultRule{route: route, page: page, remaining: 1, fault: f})
}

// DropNext makes the next n calls of route "commit then drop": the call is
// executed (an action is stored, a permission revoked, ...) and then the
// connection is closed before any reply byte, so the client sees a
// transport error. On a GET route Go's client may instead retry the request
// on another connection, executing it again and never seeing the drop (see
// the package doc).
func (s *Server) DropNext(route string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	st.drops = append(st.drops, &dropRule{route: route, remaining: n})
}

// SetLatency delays every call of route (or AnyRoute) by d before it is
// executed; a request canceled while waiting is not executed. Zero removes
// the delay.
func (s *Server) SetLatency(route string, d time.Duration) {
	s.setDelay(latencyTable, route, d)
}

// SetReplyLatency delays the reply to every call of route (or AnyRoute) by
// d after the call has been executed: an action is already stored, a
// permission already revoked, while the caller still waits. It widens the
// window between Facebook's commit and the caller learning of it, e.g. to
// kill a worker inside it. A request canceled while waiting gets no reply
// (the connection is closed); what it did stays done. Zero removes the delay.
func (s *Server) SetReplyLatency(route string, d time.Duration) {
	s.setDelay(replyLatencyTable, route, d)
}

// setDelay sets route's delay in table to d; zero or less removes it.
func (s *Server) setDelay(table func(*state) map[string]time.Duration, route string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := table(s.stateLocked())
	if d <= 0 {
		delete(lat, route)
		return
	}
	lat[route] = d
}

// SetOutage switches the "Facebook is down" mode for every request,
// including the dialog.
func (s *Server) SetOutage(o Outage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked().outage = o
}

// SetAppUsage fixes the X-App-Usage header sent on every call made with a
// token; nil returns to the automatic header computed from the rolling
// one-hour call counter.
func (s *Server) SetAppUsage(u *Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u != nil {
		c := *u
		u = &c
	}
	s.stateLocked().appUsage = u
}

// SetPublishActionsRemoved simulates the 2018 removal of publish_actions:
// while on, publishing, updating and deleting actions answer HTTP 403 code
// 200 "(#200) This endpoint is deprecated since the required permission
// publish_actions is deprecated".
func (s *Server) SetPublishActionsRemoved(removed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked().publishActionsRemoved = removed
}

// ClearFaults removes every pending fault, drop, latency (reply latency
// too) and outage.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	st.faults, st.drops, st.outage = nil, nil, OutageNone
	clear(st.latency)
	clear(st.replyLatency)
}

// takeFaultLocked consumes one matching fault rule. page 0 matches rules
// without a page; a positive page matches page rules for that page.
func (st *state) takeFaultLocked(route string, page int) (Fault, bool) {
	for i, r := range st.faults {
		if r.page != page || !routeMatches(r.route, route) {
			continue
		}
		r.remaining--
		if r.remaining <= 0 {
			st.faults = append(st.faults[:i:i], st.faults[i+1:]...)
		}
		return r.fault, true
	}
	return Fault{}, false
}

func (st *state) takeDropLocked(route string) bool {
	for i, r := range st.drops {
		if !routeMatches(r.route, route) {
			continue
		}
		r.remaining--
		if r.remaining <= 0 {
			st.drops = append(st.drops[:i:i], st.drops[i+1:]...)
		}
		return true
	}
	return false
}

// faultResponse renders f as the answer to a call, marked injected.
func (s *Server) faultResponse(f Fault) *response {
	switch {
	case f.CloseConn:
		return &response{closeConn: true, injected: true, header: http.Header{}}
	case f.Code == 0:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		r := newResponse(status)
		if f.Body != "" {
			ct := "text/plain; charset=utf-8"
			if strings.HasPrefix(strings.TrimSpace(f.Body), "<") {
				ct = "text/html; charset=utf-8"
			}
			r.header.Set("Content-Type", ct)
			r.body = []byte(f.Body)
		}
		r.injected = true
		return r
	}
	e := stdError(f.Code)
	if f.Code == 190 {
		now := s.now()
		e = s.tokenError(f.Subcode, now, now)
		if f.Subcode == 0 {
			e = unknownTokenError()
			e.subcode = 0
		}
	}
	if f.Message != "" {
		e.message = f.Message
	}
	if f.Subcode != 0 {
		e.subcode = f.Subcode
	}
	if f.Type != "" {
		e.typ = f.Type
	}
	if f.Status != 0 {
		e.status = f.Status
	}
	r := s.errorJSON(e)
	r.injected = true
	return r
}

// HTMLErrorPage is the body Facebook's front ends serve when they fail.
const HTMLErrorPage = `<!DOCTYPE html><html><head><title>Facebook | Error</title></head><body><h1>Sorry, something went wrong.</h1><p>We're working on it and we'll get it fixed as soon as we can.</p></body></html>`

// outageResponse answers for the outage switch, or returns nil.
func (s *Server) outageResponse(req *request, route string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	switch st.outage {
	case Outage503:
		st.calls = append(st.calls, Call{Time: s.now(), Method: req.method, Path: req.path, Route: route, Status: http.StatusServiceUnavailable, Injected: true})
		return htmlResponse(http.StatusServiceUnavailable, HTMLErrorPage)
	case OutageClose:
		st.calls = append(st.calls, Call{Time: s.now(), Method: req.method, Path: req.path, Route: route, Injected: true, Dropped: true})
		return &response{closeConn: true, header: http.Header{}}
	}
	return nil
}

// delay waits for the latency configured for route, or until ctx is done.
func (s *Server) delay(ctx context.Context, route string) error {
	return s.wait(ctx, latencyTable, route)
}

// delayReply waits for the reply latency configured for route, or until ctx
// is done.
func (s *Server) delayReply(ctx context.Context, route string) error {
	return s.wait(ctx, replyLatencyTable, route)
}

// The two delay tables: before a call is executed, and after it, before
// the reply.
func latencyTable(st *state) map[string]time.Duration      { return st.latency }
func replyLatencyTable(st *state) map[string]time.Duration { return st.replyLatency }

func (s *Server) wait(ctx context.Context, table func(*state) map[string]time.Duration, route string) error {
	s.mu.Lock()
	lat := table(s.stateLocked())
	d, ok := lat[route]
	if !ok {
		d = lat[AnyRoute]
	}
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countCallLocked counts a call against the rolling one-hour app and user
// budgets, returning code 4 or 17 once a budget is exceeded. Throttled
// calls count too, as on Facebook.
func (s *Server) countCallLocked(a *auth) *gerror {
	st := s.stateLocked()
	now := s.now()
	st.appCalls = append(prune(st.appCalls, now), now)
	if s.AppCallsPerHour > 0 && len(st.appCalls) > s.AppCallsPerHour {
		return stdError(4)
	}
	if a.kind == TokenUser {
		uc := append(prune(st.userCalls[a.userID], now), now)
		st.userCalls[a.userID] = uc
		if s.UserCallsPerHour > 0 && len(uc) > s.UserCallsPerHour {
			return stdError(17)
		}
	}
	return nil
}

func prune(ts []time.Time, now time.Time) []time.Time {
	cutoff := now.Add(-time.Hour)
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return ts[i:]
}

// usageHeaderLocked sets X-App-Usage from the fixed value, or from the
// rolling counter once it is above 0%.
func (s *Server) usageHeaderLocked(h http.Header) {
	st := s.stateLocked()
	u := st.appUsage
	if u == nil {
		budget := s.AppCallsPerHour
		if budget <= 0 {
			budget = 200 * max(1, len(st.authz))
		}
		pct := len(prune(st.appCalls, s.now())) * 100 / budget
		if pct <= 0 {
			return
		}
		u = &Usage{CallCount: pct, TotalTime: pct, TotalCPUTime: pct}
	}
	b, _ := json.Marshal(u)
	h.Set("X-App-Usage", string(b))
}
