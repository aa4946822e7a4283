package graph

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

var srNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// signWith signs an arbitrary payload string with enc as the base64 encoding.
func signWith(tb testing.TB, secret, payload string, enc *base64.Encoding) string {
	tb.Helper()
	p := enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p))
	return enc.EncodeToString(m.Sum(nil)) + "." + p
}

func mustSign(tb testing.TB, payload map[string]any) string {
	tb.Helper()
	return graphtest.SignedRequest(testSecret, payload)
}

func TestParseSignedRequest(t *testing.T) {
	issued := srNow.Add(-time.Minute).Unix()
	okPayload := map[string]any{"algorithm": "HMAC-SHA256", "expires": 1291840400, "issued_at": issued, "user_id": "218471"}
	valid := mustSign(t, okPayload)
	sigPart, payloadPart, _ := strings.Cut(valid, ".")

	tests := []struct {
		name       string
		sr         string
		wantErr    error
		wantUserID string
	}{
		{"valid unpadded", valid, nil, "218471"},
		{"valid padded", signWith(t, testSecret, `{"algorithm":"HMAC-SHA256","issued_at":`+itoa(issued)+`,"user_id":"218471"}`, base64.URLEncoding), nil, "218471"},
		{"numeric user_id", mustSign(t, map[string]any{"algorithm": "hmac-sha256", "issued_at": issued, "user_id": 218471}), nil, "218471"},
		{"big numeric user_id", signWith(t, testSecret, `{"algorithm":"HMAC-SHA256","issued_at":`+itoa(issued)+`,"user_id":10153418311072858}`, base64.RawURLEncoding), nil, "10153418311072858"},
		{"page uninstall user_id 0", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": issued, "user_id": 0, "profile_id": "55"}), nil, "0"},
		{"bad signature", "A" + valid[1:], ErrSignedRequestSignature, ""},
		{"other secret", signWith(t, "other-secret", `{"algorithm":"HMAC-SHA256","issued_at":`+itoa(issued)+`}`, base64.RawURLEncoding), ErrSignedRequestSignature, ""},
		{"signature over decoded JSON", func() string {
			m := hmac.New(sha256.New, []byte(testSecret))
			raw, _ := base64.RawURLEncoding.DecodeString(payloadPart)
			m.Write(raw)
			return base64.RawURLEncoding.EncodeToString(m.Sum(nil)) + "." + payloadPart
		}(), ErrSignedRequestSignature, ""},
		{"tampered payload", sigPart + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"algorithm":"HMAC-SHA256","issued_at":`+itoa(issued)+`,"user_id":"1"}`)), ErrSignedRequestSignature, ""},
		{"wrong algorithm", mustSign(t, map[string]any{"algorithm": "HMAC-SHA1", "issued_at": issued}), ErrSignedRequestAlgorithm, ""},
		{"no algorithm", mustSign(t, map[string]any{"issued_at": issued}), ErrSignedRequestAlgorithm, ""},
		{"issued in the future", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": srNow.Add(10 * time.Minute).Unix()}), ErrSignedRequestFuture, ""},
		{"within clock skew", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": srNow.Add(4 * time.Minute).Unix(), "user_id": "1"}), nil, "1"},
		{"too old", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": srNow.Add(-25 * time.Hour).Unix()}), ErrSignedRequestExpired, ""},
		{"no issued_at", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256"}), ErrSignedRequestMalformed, ""},
		{"no dot", "abcdef", ErrSignedRequestMalformed, ""},
		{"empty", "", ErrSignedRequestMalformed, ""},
		{"empty payload", sigPart + ".", ErrSignedRequestMalformed, ""},
		{"bad base64 signature", "!!!." + payloadPart, ErrSignedRequestMalformed, ""},
		{"bad base64 payload", sigPart + ".***", ErrSignedRequestMalformed, ""},
		{"signed non-JSON", signWith(t, testSecret, `not json`, base64.RawURLEncoding), ErrSignedRequestMalformed, ""},
		{"signed JSON array", signWith(t, testSecret, `[1,2]`, base64.RawURLEncoding), ErrSignedRequestMalformed, ""},
		{"signed bad user_id", mustSign(t, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": issued, "user_id": []int{1}}), ErrSignedRequestMalformed, ""},
		{"too large", valid + strings.Repeat("A", MaxSignedRequestBytes), ErrSignedRequestMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr, err := ParseSignedRequest(testSecret, tc.sr, srNow, 24*time.Hour)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if sr.UserID != tc.wantUserID {
				t.Fatalf("UserID = %q, want %q", sr.UserID, tc.wantUserID)
			}
			if !strings.EqualFold(sr.Algorithm, "HMAC-SHA256") || sr.IssuedAt.IsZero() || sr.Payload == nil {
				t.Fatalf("SignedRequest = %+v", sr)
			}
		})
	}

	sr, err := ParseSignedRequest(testSecret, valid, srNow, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !sr.IssuedAt.Equal(time.Unix(issued, 0)) || !sr.Expires.Equal(time.Unix(1291840400, 0)) {
		t.Fatalf("IssuedAt, Expires = %v, %v", sr.IssuedAt, sr.Expires)
	}
	if _, err := ParseSignedRequest("", valid, srNow, time.Hour); !errors.Is(err, ErrSignedRequestSignature) {
		t.Fatalf("empty secret: err = %v, want ErrSignedRequestSignature", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
