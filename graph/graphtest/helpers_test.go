package graphtest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"watchshare/graph/graphtest"
)

// The conformance tests talk to the emulator over real HTTP with net/http
// only, and compute proofs and signatures independently of the package.

const secret = graphtest.DefaultAppSecret

// start starts srv (a configured, unstarted Server, or nil for defaults)
// and closes it at cleanup.
func start(tb testing.TB, srv *graphtest.Server) *graphtest.Server {
	tb.Helper()
	if srv == nil {
		srv = new(graphtest.Server)
	}
	srv.Logf = tb.Logf
	srv.Start()
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		if u := srv.UnhandledCalls(); len(u) > 0 && !tb.Failed() {
			tb.Errorf("unhandled emulator calls: %+v", u)
		}
	})
	return srv
}

// proof is hex HMAC-SHA256(secret, token), computed here, not by graphtest.
func proof(secret, token string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// result is a decoded Graph answer.
type result struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// gerr returns the Graph error of r (code 0 if none).
func (r result) gerr() (code, subcode int, typ, msg string) {
	e, ok := r.Body["error"].(map[string]any)
	if !ok {
		return 0, 0, "", ""
	}
	num := func(k string) int {
		f, _ := e[k].(float64)
		return int(f)
	}
	typ, _ = e["type"].(string)
	msg, _ = e["message"].(string)
	return num("code"), num("error_subcode"), typ, msg
}

// do sends a request with params in the query (GET, DELETE) or form
// (POST) and decodes the JSON answer.
func do(tb testing.TB, c *http.Client, method, u string, params url.Values) result {
	tb.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, u, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
		req, err = http.NewRequest(method, u, nil)
	}
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	r := result{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && strings.HasPrefix(r.Raw, "{") {
		if err := json.Unmarshal(b, &r.Body); err != nil {
			tb.Fatalf("%s %s: bad JSON %q: %v", method, u, b, err)
		}
	}
	return r
}

// userCall calls the Graph API at path (relative to GraphURL) as a user,
// with a correct appsecret_proof.
func userCall(tb testing.TB, srv *graphtest.Server, method, path, token string, params url.Values) result {
	tb.Helper()
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	p.Set("access_token", token)
	p.Set("appsecret_proof", proof(secret, token))
	return do(tb, srv.Client(), method, srv.GraphURL()+path, p)
}

// wantError fails unless r is a Graph error with the given status and code
// (and subcode, if nonzero).
func wantError(tb testing.TB, r result, status, code, subcode int) {
	tb.Helper()
	gotCode, gotSub, typ, msg := r.gerr()
	if r.Status != status || gotCode != code || (subcode != 0 && gotSub != subcode) {
		tb.Fatalf("got HTTP %d code %d subcode %d (%s: %q), want HTTP %d code %d subcode %d; body %s",
			r.Status, gotCode, gotSub, typ, msg, status, code, subcode, r.Raw)
	}
	e := r.Body["error"].(map[string]any)
	if id, _ := e["fbtrace_id"].(string); id == "" {
		tb.Fatalf("error without fbtrace_id: %s", r.Raw)
	}
}

func wantOK(tb testing.TB, r result) {
	tb.Helper()
	if r.Status != http.StatusOK {
		tb.Fatalf("HTTP %d, want 200; body %s", r.Status, r.Raw)
	}
}

// noRedirects returns a client for srv that does not follow redirects.
func noRedirects(srv *graphtest.Server) *http.Client {
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// addUser adds a user and returns its id.
func addUser(srv *graphtest.Server, name string) string {
	return srv.AddUser(graphtest.User{Name: name}).ID
}
