package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Token is an access token and when it expires (zero: unknown or never).
// It prints as "[REDACTED]" with fmt and log/slog.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
}

// String returns "[REDACTED]".
func (t Token) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not print the token either.
func (t Token) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb.
func (t Token) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue logs "[REDACTED]".
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes the token as "[REDACTED]" so it cannot leak through
// JSON logs or dumps; persist AccessToken explicitly (encrypted).
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Expired reports whether the token has a known expiry at or before now.
func (t Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// ExchangeToken trades a short-lived user token for a long-lived one
// (GET /oauth/access_token?grant_type=fb_exchange_token). It reads both the
// JSON answer {access_token, token_type, expires_in} and the pre-v2.3
// form-encoded access_token=...&expires=....
func (c *Client) ExchangeToken(ctx context.Context, shortLived string) (Token, error) {
	if shortLived == "" {
		return Token{}, ErrNoToken
	}
	return c.tokenEndpoint(ctx, url.Values{
		"grant_type":        {"fb_exchange_token"},
		"fb_exchange_token": {shortLived},
	}, shortLived)
}

// AppAccessToken asks Facebook for an app access token
// (grant_type=client_credentials). The literal "APPID|SECRET" used by
// AppSession works as well and needs no call.
func (c *Client) AppAccessToken(ctx context.Context) (Token, error) {
	return c.tokenEndpoint(ctx, url.Values{"grant_type": {"client_credentials"}})
}

func (c *Client) tokenEndpoint(ctx context.Context, params url.Values, secrets ...string) (Token, error) {
	if c.AppID == "" {
		return Token{}, ErrNoAppID
	}
	if c.AppSecret == "" {
		return Token{}, ErrNoAppSecret
	}
	u, err := c.endpoint("/oauth/access_token")
	if err != nil {
		return Token{}, err
	}
	params.Set("client_id", c.AppID)
	params.Set("client_secret", c.AppSecret)
	res, err := c.roundTrip(ctx, "", request{method: http.MethodGet, u: u, params: params, secrets: secrets})
	if err != nil {
		if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.Code == 1 &&
			strings.HasPrefix(apiErr.Message, "Error validating client secret") {
			apiErr.badClientSecret = true
		}
		return Token{}, err
	}
	tok, err := parseTokenBody(res.Body, c.now())
	if err != nil {
		return Token{}, fmt.Errorf("graph: oauth/access_token: %w", err)
	}
	return tok, nil
}

// parseTokenBody reads {access_token, expires_in} JSON or the form-encoded
// access_token=...&expires=... body.
func parseTokenBody(body []byte, now time.Time) (Token, error) {
	t := bytes.TrimSpace(body)
	var tok string
	var secs int64
	if len(t) > 0 && t[0] == '{' {
		var w struct {
			AccessToken string  `json:"access_token"`
			ExpiresIn   flexInt `json:"expires_in"`
			Expires     flexInt `json:"expires"`
		}
		if err := json.Unmarshal(t, &w); err != nil {
			return Token{}, fmt.Errorf("decode token: %w", err)
		}
		tok, secs = w.AccessToken, int64(w.ExpiresIn)
		if secs == 0 {
			secs = int64(w.Expires)
		}
	} else {
		q, err := url.ParseQuery(string(t))
		if err != nil {
			return Token{}, fmt.Errorf("decode form-encoded token: malformed body")
		}
		tok = q.Get("access_token")
		exp := q.Get("expires")
		if exp == "" {
			exp = q.Get("expires_in")
		}
		if exp != "" {
			if secs, err = strconv.ParseInt(exp, 10, 64); err != nil {
				return Token{}, fmt.Errorf("decode form-encoded token: bad expires")
			}
		}
	}
	if tok == "" {
		return Token{}, fmt.Errorf("no access_token in answer")
	}
	out := Token{AccessToken: tok}
	if secs > 0 {
		out.ExpiresAt = now.Add(time.Duration(secs) * time.Second)
	}
	return out, nil
}

// TokenInfo is what /debug_token reports about a token.
type TokenInfo struct {
	AppID       string // compare with your app's ID
	UserID      string // compare with the expected user
	Type        string // USER, PAGE or APP
	Application string
	IsValid     bool
	IssuedAt    time.Time // zero when absent
	ExpiresAt   time.Time // zero means no expiry
	// DataAccessExpiresAt is the end of the 90-day data access window.
	DataAccessExpiresAt time.Time
	Scopes              []string
	// Error explains why an invalid token is invalid (nil when valid).
	Error *TokenError
}

// TokenError is debug_token's inner error object (note "subcode", not
// "error_subcode").
type TokenError struct {
	Code    int
	Subcode int
	Message string
}

// DebugToken inspects inputToken with the app token (GET /debug_token).
// An invalid token is not an error: it yields IsValid false and Error set.
func (c *Client) DebugToken(ctx context.Context, inputToken string) (TokenInfo, error) {
	if inputToken == "" {
		return TokenInfo{}, ErrNoToken
	}
	s := c.AppSession()
	u, err := c.endpoint("/debug_token")
	if err != nil {
		return TokenInfo{}, err
	}
	var w struct {
		Data *struct {
			AppID               flexString `json:"app_id"`
			UserID              flexString `json:"user_id"`
			Type                string     `json:"type"`
			Application         string     `json:"application"`
			IsValid             bool       `json:"is_valid"`
			IssuedAt            flexInt    `json:"issued_at"`
			ExpiresAt           flexInt    `json:"expires_at"`
			DataAccessExpiresAt flexInt    `json:"data_access_expires_at"`
			Scopes              []string   `json:"scopes"`
			Error               *struct {
				Code    flexInt `json:"code"`
				Subcode flexInt `json:"subcode"`
				Message string  `json:"message"`
			} `json:"error"`
		} `json:"data"`
	}
	_, err = s.do(ctx, request{
		method: http.MethodGet, u: u,
		params:  url.Values{"input_token": {inputToken}},
		out:     &w,
		secrets: []string{inputToken},
	})
	if err != nil {
		return TokenInfo{}, err
	}
	if w.Data == nil {
		return TokenInfo{}, fmt.Errorf("graph: debug_token: answer has no data")
	}
	d := w.Data
	info := TokenInfo{
		AppID:               string(d.AppID),
		UserID:              string(d.UserID),
		Type:                d.Type,
		Application:         d.Application,
		IsValid:             d.IsValid,
		IssuedAt:            unixTime(int64(d.IssuedAt)),
		ExpiresAt:           unixTime(int64(d.ExpiresAt)),
		DataAccessExpiresAt: unixTime(int64(d.DataAccessExpiresAt)),
		Scopes:              d.Scopes,
	}
	if d.Error != nil {
		info.Error = &TokenError{
			Code:    int(clampInt(int64(d.Error.Code))),
			Subcode: int(clampInt(int64(d.Error.Subcode))),
			Message: clip(redact(d.Error.Message, []string{inputToken, c.AppSecret}), maxMessageLen),
		}
		info.IsValid = false
	}
	return info, nil
}

func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
