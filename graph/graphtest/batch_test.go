package graphtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"watchshare/graph/graphtest"
)

type batchAnswer struct {
	Code    int `json:"code"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Body string `json:"body"`
}

func postBatch(tb testing.TB, srv *graphtest.Server, token string, ops []map[string]string, extra url.Values) (result, []*batchAnswer) {
	tb.Helper()
	b, _ := json.Marshal(ops)
	p := url.Values{"batch": {string(b)}}
	if token != "" {
		p.Set("access_token", token)
		p.Set("appsecret_proof", proof(secret, token))
	}
	for k, v := range extra {
		p[k] = v
	}
	r := do(tb, srv.Client(), http.MethodPost, srv.GraphURL()+"/", p)
	var answers []*batchAnswer
	if r.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.Raw), &answers); err != nil {
			tb.Fatalf("batch answer %s: %v", r.Raw, err)
		}
	}
	return r, answers
}

func TestBatch(t *testing.T) {
	srv := start(t, nil)
	alice := addUser(srv, "Ada Batch")
	bob := addUser(srv, "Ben Batch")
	aTok := srv.AuthorizeApp(alice, "user_friends", "publish_actions")
	bTok := srv.AuthorizeApp(bob, "user_friends")
	srv.AddFriends(alice, bob)

	ops := []map[string]string{
		{"method": "GET", "relative_url": "me?fields=id,name"},
		{"method": "POST", "relative_url": "me/video.watches", "body": "movie=" + url.QueryEscape("https://www.example.com/title/1")},
		{"method": "POST", "relative_url": "me/video.watches", "body": "movie=x"},
		// Bob's own token (and proof) override the top-level one.
		{"method": "POST", "relative_url": "me/video.watches?access_token=" + bTok + "&appsecret_proof=" + proof(secret, bTok), "body": "movie=" + url.QueryEscape("https://www.example.com/title/2")},
		{"method": "GET", "relative_url": "me/friends?limit=1"},
		{"method": "GET", "relative_url": "me/nonsense"},
		{"method": "POST", "relative_url": "me/permissions?access_token=" + bTok, "body": "method=delete"}, // no proof for bTok
	}
	srv.ResetCalls()
	r, ans := postBatch(t, srv, aTok, ops, nil)
	wantOK(t, r)
	if len(ans) != len(ops) {
		t.Fatalf("%d answers for %d ops: %s", len(ans), len(ops), r.Raw)
	}
	wantCodes := []int{200, 200, 400, 403, 200, 400, 400}
	for i, a := range ans {
		if a.Code != wantCodes[i] {
			t.Fatalf("op %d: code %d, want %d; body %s", i, a.Code, wantCodes[i], a.Body)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(a.Body), &body); err != nil {
			t.Fatalf("op %d: body is not a JSON string: %q", i, a.Body)
		}
		if len(a.Headers) == 0 || a.Headers[0].Name != "Content-Type" {
			t.Fatalf("op %d: headers = %+v", i, a.Headers)
		}
	}
	if !strings.Contains(ans[0].Body, `"id":"`+alice+`"`) {
		t.Fatalf("op 0 body = %s", ans[0].Body)
	}
	if !strings.Contains(ans[3].Body, "publish_actions") {
		t.Fatalf("op 3 (Bob, no publish_actions) body = %s", ans[3].Body)
	}
	if !strings.Contains(ans[4].Body, `"total_count":1`) {
		t.Fatalf("op 4 body = %s", ans[4].Body)
	}
	if !strings.Contains(ans[6].Body, "appsecret_proof") || !srv.Authorized(bob) {
		t.Fatalf("op 6 revoked without proof: %s", ans[6].Body)
	}
	if n := len(srv.Actions(alice)); n != 1 {
		t.Fatalf("alice has %d actions, want 1", n)
	}
	// Each op is a call of its own (plus the envelope).
	if n := srv.CallCount("POST", "/me/video.watches"); n != 3 {
		t.Fatalf("CallCount(POST /me/video.watches) = %d, want 3", n)
	}
	if n := len(srv.Calls()); n != len(ops)+1 {
		t.Fatalf("%d calls logged, want %d", n, len(ops)+1)
	}
	if u := srv.UnhandledCalls(); len(u) != 1 || u[0].Path != "/me/nonsense" || !u[0].Batch {
		t.Fatalf("UnhandledCalls = %+v", u)
	}
	srv.ResetCalls()

	t.Run("include_headers=false", func(t *testing.T) {
		r, ans := postBatch(t, srv, aTok, ops[:1], url.Values{"include_headers": {"false"}})
		wantOK(t, r)
		if strings.Contains(r.Raw, `"headers"`) || ans[0].Code != 200 {
			t.Fatalf("answer = %s", r.Raw)
		}
	})

	t.Run("top-level token required", func(t *testing.T) {
		r, _ := postBatch(t, srv, "", ops[:1], nil)
		wantError(t, r, http.StatusBadRequest, 104, 0)
		r, _ = postBatch(t, srv, "EAABunknown", ops[:1], nil)
		wantError(t, r, http.StatusBadRequest, 190, 0)
	})

	t.Run("more than 50 ops", func(t *testing.T) {
		var many []map[string]string
		for i := range 51 {
			many = append(many, map[string]string{"method": "GET", "relative_url": fmt.Sprintf("me?i=%d", i)})
		}
		srv.ResetCalls()
		r, _ := postBatch(t, srv, aTok, many, nil)
		wantError(t, r, http.StatusBadRequest, 100, 0)
		if _, _, typ, msg := r.gerr(); typ != "GraphBatchException" || !strings.Contains(msg, "Maximum batch size is 50") {
			t.Fatalf("error = %s %q", typ, msg)
		}
		if n := srv.CallCount("GET", "/me"); n != 0 {
			t.Fatalf("%d ops executed", n)
		}
		r, ans := postBatch(t, srv, aTok, many[:50], nil)
		wantOK(t, r)
		if len(ans) != 50 {
			t.Fatalf("%d answers, want 50", len(ans))
		}
	})

	t.Run("faults hit single ops", func(t *testing.T) {
		srv.FailNext("GET /me", 1, graphtest.Fault{Code: 17})
		r, ans := postBatch(t, srv, aTok, ops[:1], nil)
		wantOK(t, r)
		if ans[0].Code != 400 || !strings.Contains(ans[0].Body, `"code":17`) {
			t.Fatalf("answer = %s", r.Raw)
		}
	})
}
