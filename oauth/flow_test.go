package oauth_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watchshare/oauth"
)

func newFlow(t *testing.T, tokenURL string) *oauth.Flow {
	t.Helper()
	f, err := oauth.New(oauth.Config{AppID: "app", AppSecret: "app-secret", DialogURL: "https://dialog.example/oauth",
		TokenURL: tokenURL, RedirectURL: "https://api.example/oauth/facebook/callback"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestExchangeErrors: how the token endpoint's answers are classed, and
// that no error repeats the code, the verifier or the secret.
func TestExchangeErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"server error", 500, `{"error":{"message":"oops","code":1}}`, oauth.ErrUnavailable},
		{"throttled", 429, ``, oauth.ErrUnavailable},
		{"code refused", 400, `{"error":{"message":"This authorization code has been used.","code":100}}`, oauth.ErrCodeRejected},
		{"no token in the answer", 200, `{"token_type":"bearer"}`, oauth.ErrCodeRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := newFlow(t, srv.URL).Exchange(t.Context(), "the-code", "the-verifier")
			if !errors.Is(err, tc.want) {
				t.Fatalf("Exchange = %v, want %v", err, tc.want)
			}
			checkQuiet(t, err)
		})
	}
	t.Run("no answer", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := newFlow(t, url).Exchange(t.Context(), "the-code", "the-verifier")
		if !errors.Is(err, oauth.ErrUnavailable) {
			t.Fatalf("Exchange = %v, want %v", err, oauth.ErrUnavailable)
		}
		checkQuiet(t, err)
	})
}

func checkQuiet(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{"the-code", "the-verifier", "app-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("Exchange error %q shows %q", err, secret)
		}
	}
}

func TestBeginRejectsReturnTo(t *testing.T) {
	if _, err := newFlow(t, "https://graph.example/oauth/access_token").Begin("m1", "//evil.example/"); !errors.Is(err, oauth.ErrBadReturnTo) {
		t.Fatalf("Begin with //evil.example/ = %v, want %v", err, oauth.ErrBadReturnTo)
	}
}
