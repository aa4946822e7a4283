package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// APIError is an error answer from the Graph API: the "error" object of the
// body, or, for a body that is not a Graph error object (an HTML 502 from a
// proxy, say), Code -1 with the HTTP status.
type APIError struct {
	StatusCode  int    // HTTP status of the answer (or of the batch element)
	Code        int    // "code"; -1 when absent or the body was not JSON
	Subcode     int    // "error_subcode"
	Type        string // "type", e.g. OAuthException
	Message     string // "message", with secrets redacted
	UserTitle   string // "error_user_title"
	UserMessage string // "error_user_msg"
	TraceID     string // "fbtrace_id"
	IsTransient bool   // "is_transient"
	// Body is the raw error body, at most MaxErrorBodyBytes, secrets redacted.
	Body []byte

	// badClientSecret marks the token endpoint's answer to a wrong
	// client_secret, which Facebook sends with the otherwise transient code 1.
	badClientSecret bool
}

// CodeUnknown is APIError.Code when the answer carried no Graph error code.
const CodeUnknown = -1

const maxMessageLen = 512

// Error returns "graph: <message> (code C[, subcode S], type T, status N[, fbtrace_id X])".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	msg := e.Message
	if msg == "" {
		msg = "error response"
	}
	b.WriteString(msg)
	fmt.Fprintf(&b, " (code %d", e.Code)
	if e.Subcode != 0 {
		fmt.Fprintf(&b, ", subcode %d", e.Subcode)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, ", type %s", e.Type)
	}
	fmt.Fprintf(&b, ", status %d", e.StatusCode)
	if e.TraceID != "" {
		fmt.Fprintf(&b, ", fbtrace_id %s", e.TraceID)
	}
	b.WriteString(")")
	return b.String()
}

// Is matches a target *APIError by Code, and by Subcode when the target's is
// non-zero: errors.Is(err, &graph.APIError{Code: 190, Subcode: 463}).
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok || t == nil {
		return false
	}
	return t.Code == e.Code && (t.Subcode == 0 || t.Subcode == e.Subcode)
}

// Class is the handling an error calls for.
type Class int

const (
	// ClassOther: fix the request or drop it (e.g. 100 invalid parameter,
	// 368 temporarily blocked); not retryable as is.
	ClassOther Class = iota
	// ClassTokenInvalid: the token is expired, revoked or the user must act
	// on Facebook (190 any subcode, 102, subcodes 458/459/460/463/464/467).
	// Reconnect; do not retry.
	ClassTokenInvalid
	// ClassPermission: a permission is missing (10, 200-299).
	ClassPermission
	// ClassRateLimited: throttled (4, 17, 32, 341, 613, 80000-80014); back
	// off and retry later.
	ClassRateLimited
	// ClassTransient: retry with backoff (1, 2, is_transient, HTTP 5xx,
	// transport errors), except the token endpoint's code 1 "Error
	// validating client secret.", which is ClassOther.
	ClassTransient
	// ClassDuplicate: duplicate post (506); do not retry unchanged.
	ClassDuplicate
)

var classNames = [...]string{"other", "token_invalid", "permission", "rate_limited", "transient", "duplicate"}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// RateLimitScope says whose budget a rate-limit error is about.
type RateLimitScope int

const (
	ScopeNone            RateLimitScope = iota // not a rate-limit error
	ScopeApp                                   // 4, 341: the app-wide pool
	ScopeUser                                  // 17: this user's budget across apps
	ScopePage                                  // 32: a Page's budget
	ScopeEndpoint                              // 613: a per-API custom limit
	ScopeBusinessUseCase                       // 80000-80014: a BUC limit
)

var scopeNames = [...]string{"none", "app", "user", "page", "endpoint", "business_use_case"}

func (s RateLimitScope) String() string {
	if s >= 0 && int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "RateLimitScope(" + strconv.Itoa(int(s)) + ")"
}

// RateLimitScope returns the scope of a rate-limit error, or ScopeNone.
func (e *APIError) RateLimitScope() RateLimitScope {
	switch c := e.Code; {
	case c == 4 || c == 341:
		return ScopeApp
	case c == 17:
		return ScopeUser
	case c == 32:
		return ScopePage
	case c == 613:
		return ScopeEndpoint
	case c >= 80000 && c <= 80014:
		return ScopeBusinessUseCase
	}
	return ScopeNone
}

func isTokenSubcode(sc int) bool {
	switch sc {
	case 458, 459, 460, 463, 464, 467:
		return true
	}
	return false
}

// Class classifies the error. Precedence: token, rate limit, permission,
// duplicate, transient, other. A wrong client secret at the token endpoint
// (code 1, "Error validating client secret.") is ClassOther: retrying cannot
// fix the app's configuration.
func (e *APIError) Class() Class {
	switch {
	case e.badClientSecret:
		return ClassOther
	case e.Code == 190 || e.Code == 102 || isTokenSubcode(e.Subcode):
		return ClassTokenInvalid
	case e.RateLimitScope() != ScopeNone:
		return ClassRateLimited
	case e.Code == 10 || (e.Code >= 200 && e.Code <= 299):
		return ClassPermission
	case e.Code == 506:
		return ClassDuplicate
	case e.Code == 1 || e.Code == 2 || e.IsTransient || e.StatusCode >= 500:
		return ClassTransient
	}
	return ClassOther
}

// ClassOf classifies any error: an *APIError by its Class, a *TransportError
// and ErrBatchIncomplete as ClassTransient, anything else as ClassOther.
func ClassOf(err error) Class {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Class()
	}
	if _, ok := errors.AsType[*TransportError](err); ok {
		return ClassTransient
	}
	if errors.Is(err, ErrBatchIncomplete) {
		return ClassTransient
	}
	return ClassOther
}

// IsTokenInvalid reports whether err means the token no longer works
// (190 any subcode, 102, subcodes 458/459/460/463/464/467).
func IsTokenInvalid(err error) bool { return ClassOf(err) == ClassTokenInvalid }

// IsPermission reports whether err is a missing-permission error (10, 200-299).
func IsPermission(err error) bool { return ClassOf(err) == ClassPermission }

// IsRateLimited reports whether err is a throttle (4, 17, 32, 341, 613,
// 80000-80014). RateLimitScopeOf tells whose budget ran out.
func IsRateLimited(err error) bool { return ClassOf(err) == ClassRateLimited }

// IsTransient reports whether err is worth retrying with backoff (1, 2,
// is_transient, HTTP 5xx, transport errors, ErrBatchIncomplete; not the
// token endpoint's code 1 for a wrong client secret).
func IsTransient(err error) bool { return ClassOf(err) == ClassTransient }

// IsDuplicate reports whether err is Graph's duplicate-post error (506).
func IsDuplicate(err error) bool { return ClassOf(err) == ClassDuplicate }

// RateLimitScopeOf returns the scope of a rate-limit *APIError in err's
// chain, or ScopeNone.
func RateLimitScopeOf(err error) RateLimitScope {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.RateLimitScope()
	}
	return ScopeNone
}

// IsAmbiguous reports whether err is a transport failure after request
// bytes were written, so the request may have reached Facebook and taken
// effect. It is false for answers from Facebook (*APIError) and for failures
// that surely sent nothing (DNS, refused connection, context cancelled before
// writing).
func IsAmbiguous(err error) bool {
	if t, ok := errors.AsType[*TransportError](err); ok {
		return t.Ambiguous
	}
	return false
}

// TransportError is a failure to get an answer from Facebook: DNS, dial,
// TLS, reset, timeout, cancelled context, or a broken body. Its text holds
// the method and a scrubbed URL, never a token.
type TransportError struct {
	Method string
	URL    string // scrubbed of tokens and secrets
	// Ambiguous is true when request bytes had been written before the
	// failure, so Facebook may have processed the request.
	Ambiguous bool
	// Err is the underlying cause (never the *url.Error, whose text holds the
	// full URL); errors.Is(err, context.DeadlineExceeded) works through it.
	Err error

	msg string
}

func newTransportError(method, safeURL string, err error, ambiguous bool, secrets []string) *TransportError {
	cause := err
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		cause = ue.Err
	}
	return &TransportError{
		Method:    method,
		URL:       safeURL,
		Ambiguous: ambiguous,
		Err:       cause,
		msg:       redact(cause.Error(), secrets),
	}
}

func (e *TransportError) Error() string {
	amb := ""
	if e.Ambiguous {
		amb = " (request may have been processed)"
	}
	return "graph: " + e.Method + " " + e.URL + ": " + e.msg + amb
}

func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout or deadline.
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// wireError is Graph's error object.
type wireError struct {
	Message        string     `json:"message"`
	Type           string     `json:"type"`
	Code           *flexInt   `json:"code"`
	ErrorSubcode   flexInt    `json:"error_subcode"`
	ErrorUserTitle string     `json:"error_user_title"`
	ErrorUserMsg   string     `json:"error_user_msg"`
	IsTransient    flexBool   `json:"is_transient"`
	FBTraceID      flexString `json:"fbtrace_id"`
}

// flexBool decodes true/false, and treats anything else as false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	*f = flexBool(bytes.Equal(bytes.TrimSpace(b), []byte("true")))
	return nil
}

// DecodeError builds the APIError for an error answer with the given HTTP
// status and body. It never fails: a body that is not a Graph error object
// yields Code -1.
func DecodeError(status int, body []byte) *APIError {
	return decodeAPIError(status, body, nil)
}

func decodeAPIError(status int, body []byte, secrets []string) *APIError {
	e := &APIError{StatusCode: status, Code: CodeUnknown}
	e.Body = []byte(redact(string(body[:min(len(body), MaxErrorBodyBytes)]), secrets))

	var env struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &env) != nil || len(env.Error) == 0 {
		e.Message = fmt.Sprintf("unexpected HTTP %d response", status)
		return e
	}
	var w wireError
	switch {
	case env.Error[0] == '{' && json.Unmarshal(env.Error, &w) == nil:
		if w.Code != nil {
			e.Code = int(clampInt(int64(*w.Code)))
		}
		e.Subcode = int(clampInt(int64(w.ErrorSubcode)))
		e.Type = w.Type
		e.Message = w.Message
		e.UserTitle = w.ErrorUserTitle
		e.UserMessage = w.ErrorUserMsg
		e.TraceID = string(w.FBTraceID)
		e.IsTransient = bool(w.IsTransient)
	case env.Error[0] == '"':
		// OAuth 2 style: {"error":"invalid_request","error_description":"..."}.
		var s string
		_ = json.Unmarshal(env.Error, &s)
		e.Type = s
		e.Message = env.ErrorDescription
		if e.Message == "" {
			e.Message = s
		}
	default:
		e.Message = fmt.Sprintf("unexpected HTTP %d response", status)
	}
	e.Message = clip(redact(e.Message, secrets), maxMessageLen)
	e.UserTitle = clip(redact(e.UserTitle, secrets), maxMessageLen)
	e.UserMessage = clip(redact(e.UserMessage, secrets), maxMessageLen)
	e.Type = clip(e.Type, 64)
	e.TraceID = clip(e.TraceID, 64)
	return e
}

func clampInt(v int64) int64 {
	const lim = 1<<31 - 1
	if v > lim {
		return lim
	}
	if v < -lim {
		return -lim
	}
	return v
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
