package graphtest

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Call is one entry of the call log: a request to the emulator, or one
// operation of a batch.
type Call struct {
	Time      time.Time  // when the emulator carried the call out
	Received  time.Time  // when the request arrived (before SetLatency's delay); zero for injected answers
	Method    string     // after the method=delete override
	Path      string     // version prefix stripped, e.g. "/me/friends"
	Route     string     // the matched route, e.g. "GET /me/friends" (see Fault)
	Params    url.Values // query and form; secrets (tokens, proofs, codes) read "REDACTED"
	UserID    string     // the token's user, if any
	TokenKind TokenKind
	Status    int  // HTTP status answered; 0 when the connection was closed
	Code      int  // Graph error code, 0 on success
	Subcode   int  // Graph error_subcode
	Injected  bool // answered by an injected failure (FailNext, FailPage, SetOutage)
	Dropped   bool // executed, then the connection was closed (DropNext, OutageClose)
	Unhandled bool // the emulator does not implement the route
	Batch     bool // an operation inside a batch request
	Err       string
}

var secretParams = []string{"access_token", "appsecret_proof", "client_secret", "code", "code_verifier", "fb_exchange_token", "input_token", "batch"}

func redact(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if slices.Contains(secretParams, k) {
			vs = []string{"REDACTED"}
		} else {
			vs = slices.Clone(vs)
		}
		out[k] = vs
	}
	return out
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	st.calls = append(st.calls, c)
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stateLocked().calls)
}

// CallCount counts logged calls with the given method whose Path is path or
// whose Route is "method path" (so CallCount("DELETE", "/{id}") counts
// every action deletion). An empty method matches any method.
func (s *Server) CallCount(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.stateLocked().calls {
		if method != "" && !strings.EqualFold(c.Method, method) {
			continue
		}
		if c.Path == path || c.Route == c.Method+" "+path {
			n++
		}
	}
	return n
}

// UnhandledCalls returns the calls to routes the emulator does not
// implement. Tests should assert there are none.
func (s *Server) UnhandledCalls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.stateLocked().calls {
		if c.Unhandled {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked().calls = nil
}
