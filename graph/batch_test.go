package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestBatchTooLarge(t *testing.T) {
	f := setup(t, jsonHandler(200, `[]`))
	reqs := make([]BatchRequest, MaxBatchSize+1)
	for i := range reqs {
		reqs[i] = BatchRequest{RelativeURL: "me"}
	}
	if _, err := f.client.Session(canary).Batch(t.Context(), reqs); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("err = %v, want ErrBatchTooLarge", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

func TestBatch(t *testing.T) {
	var gotOps []map[string]string
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if err := json.Unmarshal([]byte(r.PostForm.Get("batch")), &gotOps); err != nil {
			t.Errorf("batch param: %v", err)
		}
		w.Header().Set("X-App-Usage", `{"call_count":12}`)
		w.Write([]byte(`[
 {"code":200,"headers":[{"name":"Content-Type","value":"text/javascript; charset=UTF-8"}],"body":"{\"id\":\"123\"}"},
 {"code":403,"headers":[{"name":"WWW-Authenticate","value":"OAuth \"Facebook Platform\" \"insufficient_scope\""}],
  "body":"{\"error\":{\"message\":\"(#200) Requires extended permission: publish_actions\",\"type\":\"OAuthException\",\"code\":200}}"},
 null,
 {"code":200,"body":"true"}
]`))
	})
	reqs := []BatchRequest{
		{Method: "GET", RelativeURL: "/me?fields=id", Name: "me"},
		{Method: "POST", RelativeURL: "me/video.watches", Body: url.Values{"movie": {"https://example.com/m/1"}}},
		{Method: "GET", RelativeURL: "me/friends?limit=50"},
		{Method: "DELETE", RelativeURL: "10100657260775943"},
	}
	rs, err := f.client.Session(canary).Batch(t.Context(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("len = %d, want 4", len(rs))
	}

	r := f.last(t)
	if r.Method != http.MethodPost || r.Path != "/v21.0/" {
		t.Fatalf("request = %s %s, want POST /v21.0/", r.Method, r.Path)
	}
	if r.Auth != "Bearer "+canary || first(r.Form, "appsecret_proof") != AppsecretProof(testSecret, canary) {
		t.Fatalf("batch lacks top-level bearer or proof: %+v", r)
	}
	wantOps := []map[string]string{
		{"method": "GET", "relative_url": "me?fields=id", "name": "me"},
		{"method": "POST", "relative_url": "me/video.watches", "body": "movie=https%3A%2F%2Fexample.com%2Fm%2F1"},
		{"method": "GET", "relative_url": "me/friends?limit=50"},
		{"method": "DELETE", "relative_url": "10100657260775943"},
	}
	for i, want := range wantOps {
		if len(gotOps[i]) != len(want) {
			t.Fatalf("op %d = %v, want %v", i, gotOps[i], want)
		}
		for k, v := range want {
			if gotOps[i][k] != v {
				t.Fatalf("op %d %s = %q, want %q", i, k, gotOps[i][k], v)
			}
		}
	}

	var created struct{ ID string }
	if err := rs[0].Decode(&created); err != nil || created.ID != "123" || rs[0].StatusCode != 200 {
		t.Fatalf("op 0 = %+v (decode err %v), want 200 id 123", rs[0], err)
	}
	if got := rs[0].Header.Get("Content-Type"); got != "text/javascript; charset=UTF-8" {
		t.Fatalf("op 0 Content-Type = %q", got)
	}
	if !IsPermission(rs[1].Err) || rs[1].StatusCode != 403 {
		t.Fatalf("op 1 = %d %v, want 403 permission error", rs[1].StatusCode, rs[1].Err)
	}
	if e, _ := errors.AsType[*APIError](rs[1].Err); e == nil || e.StatusCode != 403 || e.Code != 200 {
		t.Fatalf("op 1 Err = %#v, want APIError status 403 code 200", rs[1].Err)
	}
	if rs[1].Header.Get("WWW-Authenticate") == "" {
		t.Fatal("op 1 lacks its WWW-Authenticate header")
	}
	if !errors.Is(rs[2].Err, ErrBatchIncomplete) || !IsTransient(rs[2].Err) {
		t.Fatalf("op 2 Err = %v, want ErrBatchIncomplete", rs[2].Err)
	}
	if rs[3].Err != nil || string(rs[3].Body) != "true" {
		t.Fatalf("op 3 = %+v, want success true", rs[3])
	}
}

func TestBatchTopLevelError(t *testing.T) {
	f := setup(t, jsonHandler(400, `{"error":{"type":"GraphBatchException","message":"Too many requests in batch message. Maximum batch size is 50","code":1}}`))
	_, err := f.client.Session(canary).Batch(t.Context(), []BatchRequest{{RelativeURL: "me"}})
	if e, ok := errors.AsType[*APIError](err); !ok || e.Type != "GraphBatchException" {
		t.Fatalf("err = %v, want GraphBatchException APIError", err)
	}
}

func TestBatchAnswerCountMismatch(t *testing.T) {
	f := setup(t, jsonHandler(200, `[{"code":200,"body":"{}"}]`))
	_, err := f.client.Session(canary).Batch(t.Context(), []BatchRequest{{RelativeURL: "me"}, {RelativeURL: "me/friends"}})
	if err == nil {
		t.Fatal("err = nil, want a count mismatch error")
	}
}
