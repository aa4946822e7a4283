package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestDecodeErrorFields(t *testing.T) {
	body := `{"error":{"message":"Error validating access token: Session has expired on Feb 7, 2014 9:54am.","type":"OAuthException","code":190,"error_subcode":463,"error_user_title":"Title","error_user_msg":"Log in again","is_transient":false,"fbtrace_id":"EJplcsCHuLu"}}`
	f := setup(t, jsonHandler(400, body))
	_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
	e, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatalf("err = %T, want *APIError", err)
	}
	want := APIError{
		StatusCode: 400, Code: 190, Subcode: 463, Type: "OAuthException",
		Message:   "Error validating access token: Session has expired on Feb 7, 2014 9:54am.",
		UserTitle: "Title", UserMessage: "Log in again", TraceID: "EJplcsCHuLu",
	}
	got := *e
	got.Body = nil
	if fmt.Sprint(got.StatusCode, got.Code, got.Subcode, got.Type, got.Message, got.UserTitle, got.UserMessage, got.TraceID, got.IsTransient) !=
		fmt.Sprint(want.StatusCode, want.Code, want.Subcode, want.Type, want.Message, want.UserTitle, want.UserMessage, want.TraceID, want.IsTransient) {
		t.Fatalf("APIError = %+v, want %+v", got, want)
	}
	if string(e.Body) != body {
		t.Fatalf("Body = %q, want the raw body", e.Body)
	}
	wantText := "graph: Error validating access token: Session has expired on Feb 7, 2014 9:54am. (code 190, subcode 463, type OAuthException, status 400, fbtrace_id EJplcsCHuLu)"
	if err.Error() != wantText {
		t.Fatalf("Error() = %q, want %q", err.Error(), wantText)
	}
	if !errors.Is(err, &APIError{Code: 190}) || !errors.Is(err, &APIError{Code: 190, Subcode: 463}) || errors.Is(err, &APIError{Code: 190, Subcode: 460}) {
		t.Fatal("errors.Is by code/subcode does not match as documented")
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantClass Class
		wantScope RateLimitScope
	}{
		{"190 no subcode", 400, `{"error":{"code":190,"type":"OAuthException"}}`, ClassTokenInvalid, ScopeNone},
		{"190/458 not authorized", 400, `{"error":{"code":190,"error_subcode":458}}`, ClassTokenInvalid, ScopeNone},
		{"190/459 checkpointed", 400, `{"error":{"code":190,"error_subcode":459}}`, ClassTokenInvalid, ScopeNone},
		{"190/460 password changed", 400, `{"error":{"code":190,"error_subcode":460}}`, ClassTokenInvalid, ScopeNone},
		{"190/463 expired", 400, `{"error":{"code":190,"error_subcode":463}}`, ClassTokenInvalid, ScopeNone},
		{"190/464 unconfirmed", 400, `{"error":{"code":190,"error_subcode":464}}`, ClassTokenInvalid, ScopeNone},
		{"190/467 invalid", 400, `{"error":{"code":190,"error_subcode":467}}`, ClassTokenInvalid, ScopeNone},
		{"190/492 still token", 400, `{"error":{"code":190,"error_subcode":492}}`, ClassTokenInvalid, ScopeNone},
		{"102 session", 400, `{"error":{"code":102}}`, ClassTokenInvalid, ScopeNone},
		{"100 with subcode 458", 400, `{"error":{"code":100,"error_subcode":458}}`, ClassTokenInvalid, ScopeNone},
		{"190 on 500 stays token", 500, `{"error":{"code":190,"is_transient":true}}`, ClassTokenInvalid, ScopeNone},
		{"10 permission", 403, `{"error":{"code":10}}`, ClassPermission, ScopeNone},
		{"200 publish_actions", 403, `{"error":{"message":"(#200) Requires extended permission: publish_actions","type":"OAuthException","code":200}}`, ClassPermission, ScopeNone},
		{"250", 403, `{"error":{"code":250}}`, ClassPermission, ScopeNone},
		{"299", 403, `{"error":{"code":299}}`, ClassPermission, ScopeNone},
		{"300 is not permission", 400, `{"error":{"code":300}}`, ClassOther, ScopeNone},
		{"4 app limit", 400, `{"error":{"message":"(#4) Application request limit reached","type":"CodedException","code":4}}`, ClassRateLimited, ScopeApp},
		{"17 user limit", 400, `{"error":{"code":17}}`, ClassRateLimited, ScopeUser},
		{"17 ads subcode", 400, `{"error":{"code":17,"error_subcode":2446079}}`, ClassRateLimited, ScopeUser},
		{"32 page limit", 400, `{"error":{"code":32}}`, ClassRateLimited, ScopePage},
		{"341 app limit", 400, `{"error":{"code":341}}`, ClassRateLimited, ScopeApp},
		{"613 custom", 400, `{"error":{"code":613,"error_subcode":1996}}`, ClassRateLimited, ScopeEndpoint},
		{"80001 pages BUC", 400, `{"error":{"code":80001}}`, ClassRateLimited, ScopeBusinessUseCase},
		{"80014 catalog batch", 400, `{"error":{"code":80014}}`, ClassRateLimited, ScopeBusinessUseCase},
		{"80015 not listed", 400, `{"error":{"code":80015}}`, ClassOther, ScopeNone},
		{"1 unknown", 400, `{"error":{"code":1}}`, ClassTransient, ScopeNone},
		{"2 service", 500, `{"error":{"code":2,"is_transient":true,"message":"Service temporarily unavailable"}}`, ClassTransient, ScopeNone},
		{"is_transient", 400, `{"error":{"code":100,"is_transient":true}}`, ClassTransient, ScopeNone},
		{"5xx code 100", 503, `{"error":{"code":100}}`, ClassTransient, ScopeNone},
		{"506 duplicate", 400, `{"error":{"code":506,"message":"(#506) Duplicate status message"}}`, ClassDuplicate, ScopeNone},
		{"100 invalid parameter", 400, `{"error":{"code":100,"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException"}}`, ClassOther, ScopeNone},
		{"368 blocked", 400, `{"error":{"code":368}}`, ClassOther, ScopeNone},
		{"html 502", 502, `<html><body>Bad Gateway</body></html>`, ClassTransient, ScopeNone},
		{"html 404", 404, `<html>nope</html>`, ClassOther, ScopeNone},
		{"empty 400", 400, ``, ClassOther, ScopeNone},
		{"string code", 400, `{"error":{"code":"190"}}`, ClassTokenInvalid, ScopeNone},
		{"oauth2 string error", 400, `{"error":"invalid_request","error_description":"bad"}`, ClassOther, ScopeNone},
		{"error on 200", 200, `{"error":{"code":190,"error_subcode":460}}`, ClassTokenInvalid, ScopeNone},
	}
	predicates := map[Class]func(error) bool{
		ClassTokenInvalid: IsTokenInvalid,
		ClassPermission:   IsPermission,
		ClassRateLimited:  IsRateLimited,
		ClassTransient:    IsTransient,
		ClassDuplicate:    IsDuplicate,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, jsonHandler(tc.status, tc.body))
			_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
			e, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("err = %T %v, want *APIError", err, err)
			}
			if e.StatusCode != tc.status {
				t.Fatalf("StatusCode = %d, want %d", e.StatusCode, tc.status)
			}
			if got := e.Class(); got != tc.wantClass {
				t.Fatalf("Class() = %v, want %v (err %v)", got, tc.wantClass, err)
			}
			wrapped := fmt.Errorf("worker: post: %w", err)
			if got := ClassOf(wrapped); got != tc.wantClass {
				t.Fatalf("ClassOf(wrapped) = %v, want %v", got, tc.wantClass)
			}
			if got := RateLimitScopeOf(wrapped); got != tc.wantScope {
				t.Fatalf("RateLimitScopeOf = %v, want %v", got, tc.wantScope)
			}
			for class, pred := range predicates {
				if got, want := pred(wrapped), class == tc.wantClass; got != want {
					t.Fatalf("predicate for %v = %v, want %v", class, got, want)
				}
			}
			if IsAmbiguous(err) {
				t.Fatal("IsAmbiguous(APIError) = true, want false")
			}
			if !strings.HasPrefix(err.Error(), "graph: ") {
				t.Fatalf("Error() = %q, want graph: prefix", err)
			}
		})
	}
}

func TestNonJSONError(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	})
	_, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
	e, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatalf("err = %T, want *APIError", err)
	}
	if e.Code != CodeUnknown || e.StatusCode != 502 {
		t.Fatalf("Code, StatusCode = %d, %d, want -1, 502", e.Code, e.StatusCode)
	}
	if want := "graph: unexpected HTTP 502 response (code -1, status 502)"; e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestErrorBodyBounded(t *testing.T) {
	e := DecodeError(500, []byte(`{"error":{"code":2,"message":"`+strings.Repeat("x", 10000)+`"}}`))
	if len(e.Body) != MaxErrorBodyBytes {
		t.Fatalf("len(Body) = %d, want %d", len(e.Body), MaxErrorBodyBytes)
	}
	if len(e.Message) > maxMessageLen+len("…") {
		t.Fatalf("len(Message) = %d, want <= %d", len(e.Message), maxMessageLen)
	}
}

func TestClassOfOtherErrors(t *testing.T) {
	tests := []struct {
		err  error
		want Class
	}{
		{nil, ClassOther},
		{errors.New("boom"), ClassOther},
		{context.Canceled, ClassOther},
		{&TransportError{Err: context.DeadlineExceeded}, ClassTransient},
		{fmt.Errorf("x: %w", ErrBatchIncomplete), ClassTransient},
	}
	for _, tc := range tests {
		if got := ClassOf(tc.err); got != tc.want {
			t.Fatalf("ClassOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for c := ClassOther; c <= ClassDuplicate; c++ {
		if strings.HasPrefix(c.String(), "Class(") {
			t.Fatalf("Class(%d).String() = %q, want a name", c, c.String())
		}
	}
}
