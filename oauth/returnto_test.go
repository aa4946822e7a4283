package oauth_test

import (
	"net/url"
	"strings"
	"testing"

	"watchshare/oauth"
)

func TestValidReturnTo(t *testing.T) {
	cases := map[string]bool{
		"/":                             true,
		"/account":                      true,
		"/account/settings?tab=1":       true,
		"":                              false,
		"account":                       false,
		"//evil.example":                false,
		"/\\evil.example":               false,
		"\\\\evil.example":              false,
		"https://evil.example/":         false,
		"https:evil.example":            false,
		"javascript:alert(1)":           false,
		"/%2F%2Fevil.example":           false,
		"/%2fevil":                      false,
		"/%5Cevil":                      false,
		"/a\r\nLocation: x":             false,
		"/a\tb":                         false,
		"/ok\x00":                       false,
		"/évil":                         false,
		"/" + strings.Repeat("a", 1024): false,
	}
	for in, want := range cases {
		if got := oauth.ValidReturnTo(in) == nil; got != want {
			t.Errorf("ValidReturnTo(%q) ok = %v, want %v", in, got, want)
		}
	}
}

func TestRedirectURL(t *testing.T) {
	cases := []struct {
		account, returnTo string
		outcome           oauth.Outcome
		want              string
	}{
		{"https://www.example.com/account", "", oauth.Connected, "https://www.example.com/account?facebook=connected"},
		{"https://www.example.com/account", "/account/social?x=1", oauth.Denied, "https://www.example.com/account/social?facebook=denied&x=1"},
		{"https://www.example.com/account", "//evil.example/", oauth.Connected, "https://www.example.com/account?facebook=connected"},
		{"https://www.example.com/account", "", oauth.Failed("invalid_state"), "https://www.example.com/account?facebook=error&reason=invalid_state"},
	}
	for _, tc := range cases {
		if got := oauth.RedirectURL(tc.account, tc.returnTo, tc.outcome); got != tc.want {
			t.Errorf("RedirectURL(%q, %q, %v) = %q, want %q", tc.account, tc.returnTo, tc.outcome, got, tc.want)
		}
	}
}

func FuzzReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/account", "//evil", "/\\evil", "https:evil", "/%2F%2Fevil", "javascript:x", "/a\r\nb"} {
		f.Add(s)
	}
	const account = "https://www.example.com/account"
	f.Fuzz(func(t *testing.T, s string) {
		if oauth.ValidReturnTo(s) == nil {
			u, err := url.Parse(s)
			if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
				t.Fatalf("accepted %q", s)
			}
		}
		got, err := url.Parse(oauth.RedirectURL(account, s, oauth.Connected))
		if err != nil {
			t.Fatalf("RedirectURL(%q) unparsable: %v", s, err)
		}
		if got.Scheme != "https" || got.Host != "www.example.com" {
			t.Fatalf("RedirectURL(%q) left the origin: %s", s, got)
		}
	})
}
