package oauth

import (
	"errors"
	"net/url"
	"strings"
)

// ErrBadReturnTo is returned for a return_to that is not a plain relative path.
var ErrBadReturnTo = errors.New("return_to must be a relative path starting with a single /")

// ValidReturnTo accepts only a relative path that starts with a single "/",
// so the redirect after login can never leave the account page's origin:
// no scheme, no host, no "//" or "/\", no backslashes, no control
// characters, no encoded slashes or dots that a browser or proxy might
// decode into one of those, at most 1024 bytes.
func ValidReturnTo(s string) error {
	if len(s) == 0 || len(s) > 1024 || s[0] != '/' {
		return ErrBadReturnTo
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return ErrBadReturnTo
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return ErrBadReturnTo
		}
	}
	lower := strings.ToLower(s)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00", "%0d", "%0a", "%09"} {
		if strings.Contains(lower, bad) {
			return ErrBadReturnTo
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return ErrBadReturnTo
	}
	return nil
}

// Outcome is how a connect attempt ended, as told to the account page.
type Outcome struct {
	Status string // "connected", "denied" or "error"
	Reason string // for "error": invalid_state, exchange_failed, facebook_unavailable, facebook_account_in_use, unavailable (our store)
}

// Outcomes of the contract.
var (
	Connected = Outcome{Status: "connected"}
	Denied    = Outcome{Status: "denied"}
)

// Failed is an error outcome with a reason code.
func Failed(reason string) Outcome { return Outcome{Status: "error", Reason: reason} }

// RedirectURL is where the browser goes after the callback: accountURL, or
// returnTo on the account URL's origin, with facebook=<status> (and
// reason=<code> for errors) added to its query.
func RedirectURL(accountURL, returnTo string, o Outcome) string {
	base, err := url.Parse(accountURL)
	if err != nil {
		base = &url.URL{Path: "/account"}
	}
	target := *base
	if returnTo != "" && ValidReturnTo(returnTo) == nil {
		rel, err := url.Parse(returnTo)
		if err == nil {
			target = url.URL{Scheme: base.Scheme, Host: base.Host, Path: rel.Path, RawQuery: rel.RawQuery}
		}
	}
	q := target.Query()
	q.Set("facebook", o.Status)
	if o.Reason != "" {
		q.Set("reason", o.Reason)
	} else {
		q.Del("reason")
	}
	target.RawQuery = q.Encode()
	target.Fragment = ""
	return target.String()
}
