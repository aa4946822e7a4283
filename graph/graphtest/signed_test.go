package graphtest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"watchshare/graph/graphtest"
)

// verifySigned checks a signed_request independently of graphtest and
// returns its payload.
func verifySigned(tb testing.TB, appSecret, sr string) map[string]any {
	tb.Helper()
	sigPart, payloadPart, ok := strings.Cut(sr, ".")
	if !ok || strings.ContainsAny(sr, "=+/") {
		tb.Fatalf("signed_request %q is not unpadded base64url sig.payload", sr)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigPart)
	if err != nil {
		tb.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(payloadPart)) // HMAC over the encoded payload
	if !hmac.Equal(sig, m.Sum(nil)) {
		tb.Fatal("signed_request signature does not verify")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payloadPart)
	if err != nil {
		tb.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		tb.Fatal(err)
	}
	if !strings.EqualFold(p["algorithm"].(string), "HMAC-SHA256") {
		tb.Fatalf("algorithm = %v", p["algorithm"])
	}
	return p
}

func TestSignedRequestRoundTrip(t *testing.T) {
	sr := graphtest.SignedRequest("s3cret", map[string]any{"algorithm": "HMAC-SHA256", "issued_at": 1291836800, "user_id": "218471"})
	p := verifySigned(t, "s3cret", sr)
	if p["user_id"] != "218471" || p["issued_at"] != float64(1291836800) {
		t.Fatalf("payload = %v", p)
	}
	// A different secret produces a different signature over the same payload.
	other := graphtest.SignedRequest("other", map[string]any{"algorithm": "HMAC-SHA256", "issued_at": 1291836800, "user_id": "218471"})
	if other == sr || strings.SplitN(other, ".", 2)[1] != strings.SplitN(sr, ".", 2)[1] {
		t.Fatal("signature does not depend on the secret only")
	}
}

// callbackRecorder is an app endpoint receiving Facebook's callbacks.
type callbackRecorder struct {
	mu       sync.Mutex
	requests []string // signed_request values
	answer   func(w http.ResponseWriter)
}

func (c *callbackRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad callback", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, r.PostFormValue("signed_request"))
	c.mu.Unlock()
	if c.answer != nil {
		c.answer(w)
	}
}

func TestRemoveAppAndDataDeletion(t *testing.T) {
	deauth := &callbackRecorder{}
	deletion := &callbackRecorder{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"url":"https://watchshare.example/facebook/data-deletion/abc123","confirmation_code":"abc123"}`))
	}}
	da, dd := httptest.NewServer(deauth), httptest.NewServer(deletion)
	defer da.Close()
	defer dd.Close()

	srv := start(t, &graphtest.Server{AppSecret: "app-secret-2", DeauthorizeURL: da.URL, DataDeletionURL: dd.URL})
	uid := addUser(srv, "Nia Remove")
	tok := srv.AuthorizeApp(uid, "user_friends")

	if err := srv.RemoveApp(context.Background(), uid); err != nil {
		t.Fatal(err)
	}
	if srv.Authorized(uid) {
		t.Fatal("still authorized after RemoveApp")
	}
	if info, _ := srv.TokenInfo(tok); info.Valid || info.InvalidSubcode != 458 {
		t.Fatalf("token after RemoveApp = %+v", info)
	}
	if len(deauth.requests) != 1 {
		t.Fatalf("deauthorize callback called %d times", len(deauth.requests))
	}
	p := verifySigned(t, "app-secret-2", deauth.requests[0])
	if p["user_id"] != uid || p["issued_at"] == nil {
		t.Fatalf("deauthorize payload = %v", p)
	}

	srv.AuthorizeApp(uid, "user_friends")
	got, err := srv.RequestDataDeletion(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfirmationCode != "abc123" || got.URL != "https://watchshare.example/facebook/data-deletion/abc123" {
		t.Fatalf("RequestDataDeletion = %+v", got)
	}
	p = verifySigned(t, "app-secret-2", deletion.requests[0])
	if p["user_id"] != uid || p["expires"] == nil {
		t.Fatalf("data deletion payload = %v", p)
	}

	deletion.answer = func(w http.ResponseWriter) { w.Write([]byte(`{"url":"x"}`)) }
	if _, err := srv.RequestDataDeletion(context.Background(), uid); err == nil {
		t.Fatal("a non-JSON, incomplete answer was accepted")
	}
	deauth.answer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) }
	if err := srv.RemoveApp(context.Background(), uid); err == nil {
		t.Fatal("a failing deauthorize callback was not reported")
	}
}

func TestLoadFixture(t *testing.T) {
	srv := start(t, nil)
	if err := srv.LoadFile("../../testdata/graph-users.json"); err != nil {
		t.Fatal(err)
	}
	users := srv.Users()
	if len(users) != 8 {
		t.Fatalf("%d users, want 8", len(users))
	}
	maya := users[0].ID
	if users[0].Name != "Maya Chen" || len(maya) < 16 {
		t.Fatalf("first user = %+v", users[0])
	}
	if n := len(srv.Friends(maya)); n != 6 {
		t.Fatalf("Maya has %d friends, want 6", n)
	}
	// Maya authorizes the app; only friends who use it with user_friends show up.
	tok := srv.AuthorizeApp(maya, "user_friends")
	p := decodeFriends(t, userCall(t, srv, "GET", "/me/friends", tok, nil))
	if len(p.ids) != 2 || p.total != 6 {
		t.Fatalf("Maya's app friends = %v (total %d), want Sofía and James of 6", p.ids, p.total)
	}
	for _, tc := range []struct{ name, json string }{
		{"unknown field", `{"users":[{"id":"1","name":"A","age":3}]}`},
		{"duplicate id", `{"users":[{"id":"1","name":"A"},{"id":"1","name":"B"}]}`},
		{"unknown friend", `{"users":[{"id":"1","name":"A"}],"friendships":[["1","2"]]}`},
		{"not JSON", `users:`},
	} {
		if err := new(graphtest.Server).Load(strings.NewReader(tc.json)); err == nil {
			t.Errorf("Load(%s) succeeded", tc.name)
		}
	}
}
