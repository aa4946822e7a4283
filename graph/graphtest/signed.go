package graphtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// SignedRequest returns a Facebook signed_request for payload:
// base64url(HMAC-SHA256(appSecret, encodedPayload)) + "." + encodedPayload,
// both unpadded base64url, where encodedPayload is the base64url JSON of
// payload. Tests use it to forge valid (or, with a wrong secret, invalid)
// requests. A payload normally holds "algorithm": "HMAC-SHA256",
// "issued_at" and "user_id".
func SignedRequest(appSecret string, payload map[string]any) string {
	b, err := json.Marshal(payload)
	if err != nil {
		panic("graphtest: SignedRequest: " + err.Error())
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(p))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)) + "." + p
}

// DataDeletion is an app's answer to the data deletion callback.
type DataDeletion struct {
	URL              string `json:"url"`
	ConfirmationCode string `json:"confirmation_code"`
}

// RemoveApp simulates the user removing the app on facebook.com: the
// authorization is dropped, every token of the user gets 190/458, and, if
// DeauthorizeURL is set, the deauthorize callback is POSTed (form field
// signed_request with algorithm, issued_at and user_id). The revocation
// happens even when the callback fails; the error reports the failure.
func (s *Server) RemoveApp(ctx context.Context, userID string) error {
	payload, err := s.removeApp(userID, false)
	if err != nil || s.DeauthorizeURL == "" {
		return err
	}
	resp, body, err := s.postSigned(ctx, s.DeauthorizeURL, payload)
	if err != nil {
		return fmt.Errorf("graphtest: deauthorize callback: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("graphtest: deauthorize callback: HTTP %d: %.200s", resp.StatusCode, body)
	}
	return nil
}

// RequestDataDeletion simulates the user removing the app and asking for
// their data to be deleted: like RemoveApp, but the callback goes to
// DataDeletionURL (payload also has expires), and the app's answer must be
// JSON {"url", "confirmation_code"} with Content-Type application/json,
// an absolute http(s) url and an alphanumeric confirmation code, as
// Facebook requires.
func (s *Server) RequestDataDeletion(ctx context.Context, userID string) (DataDeletion, error) {
	var dd DataDeletion
	if s.DataDeletionURL == "" {
		return dd, errors.New("graphtest: DataDeletionURL is not set")
	}
	payload, err := s.removeApp(userID, true)
	if err != nil {
		return dd, err
	}
	resp, body, err := s.postSigned(ctx, s.DataDeletionURL, payload)
	if err != nil {
		return dd, fmt.Errorf("graphtest: data deletion callback: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return dd, fmt.Errorf("graphtest: data deletion callback: HTTP %d: %.200s", resp.StatusCode, body)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return dd, fmt.Errorf("graphtest: data deletion callback: Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, &dd); err != nil {
		return dd, fmt.Errorf("graphtest: data deletion callback: %w: %.200s", err, body)
	}
	if u, err := url.Parse(dd.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return dd, fmt.Errorf("graphtest: data deletion callback: url %q is not an absolute http(s) URL", dd.URL)
	}
	if dd.ConfirmationCode == "" || strings.IndexFunc(dd.ConfirmationCode, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return dd, fmt.Errorf("graphtest: data deletion callback: confirmation_code %q is not alphanumeric", dd.ConfirmationCode)
	}
	return dd, nil
}

// removeApp revokes userID's authorization and returns the signed_request
// payload for the callback.
func (s *Server) removeApp(userID string, withExpires bool) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stateLocked().users[userID] == nil {
		return nil, fmt.Errorf("graphtest: unknown user %q", userID)
	}
	s.revokeLocked(userID)
	now := s.now().Unix()
	p := map[string]any{"algorithm": "HMAC-SHA256", "issued_at": now, "user_id": userID}
	if withExpires {
		p["expires"] = now + 3600
	}
	return p, nil
}

func (s *Server) postSigned(ctx context.Context, target string, payload map[string]any) (*http.Response, []byte, error) {
	form := url.Values{"signed_request": {SignedRequest(s.appSecret(), payload)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := s.CallbackClient
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		s.logf("graphtest: callback to %s failed: %v", target, err)
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}
