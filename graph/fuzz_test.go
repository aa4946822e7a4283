package graph

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

func FuzzParseSignedRequest(f *testing.F) {
	issued := srNow.Add(-time.Hour).Unix()
	valid := graphtest.SignedRequest(testSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": issued, "user_id": "218471"})
	sig, payload, _ := strings.Cut(valid, ".")
	f.Add(valid)
	f.Add(sig + "=." + payload + "==")
	f.Add(sig + "." + payload + "x")
	f.Add("." + payload)
	f.Add(sig + ".")
	f.Add("abc")
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat("A", 43) + ".eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiJ9")

	known := []error{
		ErrSignedRequestMalformed, ErrSignedRequestSignature, ErrSignedRequestAlgorithm,
		ErrSignedRequestExpired, ErrSignedRequestFuture,
	}
	f.Fuzz(func(t *testing.T, s string) {
		sr, err := ParseSignedRequest(testSecret, s, srNow, 24*time.Hour)
		if err != nil {
			ok := false
			for _, k := range known {
				ok = ok || errors.Is(err, k)
			}
			if !ok {
				t.Fatalf("error %v is none of the sentinels", err)
			}
		} else {
			// It verified: it must really be signed with testSecret.
			encSig, encPayload, _ := strings.Cut(s, ".")
			got, derr := decodeBase64URL(encSig)
			m := hmac.New(sha256.New, []byte(testSecret))
			m.Write([]byte(encPayload))
			if derr != nil || !hmac.Equal(got, m.Sum(nil)) {
				t.Fatalf("ParseSignedRequest accepted %q, which is not signed with the test secret", s)
			}
			if !strings.EqualFold(sr.Algorithm, "HMAC-SHA256") {
				t.Fatalf("accepted algorithm %q", sr.Algorithm)
			}
		}
		if _, err := ParseSignedRequest("another-secret", s, srNow, 24*time.Hour); err == nil {
			t.Fatalf("ParseSignedRequest with another secret accepted %q", s)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"EJplcsCHuLu"}}`))
	f.Add(500, []byte(`{"error":{"code":2,"is_transient":true,"message":"Service temporarily unavailable"}}`))
	f.Add(502, []byte(`<html><body>502 Bad Gateway</body></html>`))
	f.Add(400, []byte(`{"error":"invalid_request","error_description":"Missing code"}`))
	f.Add(403, []byte(`{"error":{"code":"200","error_subcode":1e99}}`))
	f.Add(200, []byte(`{"error":null}`))
	f.Add(0, []byte(``))
	f.Add(-1, []byte(`{"error":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := DecodeError(status, body)
		if c := e.Class(); c < ClassOther || c > ClassDuplicate {
			t.Fatalf("Class() = %v, not a known class", c)
		}
		if !strings.HasPrefix(e.Error(), "graph: ") {
			t.Fatalf("Error() = %q, want graph: prefix", e.Error())
		}
		if len(e.Body) > MaxErrorBodyBytes {
			t.Fatalf("len(Body) = %d, want <= %d", len(e.Body), MaxErrorBodyBytes)
		}
		if e.StatusCode != status {
			t.Fatalf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		_ = e.RateLimitScope().String()
		_ = decodeBatchAnswer(body, nil)
		_ = ParseUsage(map[string][]string{"X-Business-Use-Case-Usage": {string(body)}, "X-App-Usage": {string(body)}})
	})
}
