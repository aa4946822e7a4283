package graph

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signed request errors; match them with errors.Is.
var (
	ErrSignedRequestMalformed = errors.New("graph: signed_request malformed")
	ErrSignedRequestSignature = errors.New("graph: signed_request signature invalid")
	ErrSignedRequestAlgorithm = errors.New("graph: signed_request algorithm not HMAC-SHA256")
	ErrSignedRequestExpired   = errors.New("graph: signed_request too old")
	ErrSignedRequestFuture    = errors.New("graph: signed_request issued in the future")
)

const (
	// MaxSignedRequestBytes bounds the signed_request accepted.
	MaxSignedRequestBytes = 8 << 10

	// SignedRequestClockSkew is how far in the future issued_at may be.
	SignedRequestClockSkew = 5 * time.Minute

	// DefaultSignedRequestMaxAge is used when maxAge <= 0.
	DefaultSignedRequestMaxAge = 24 * time.Hour
)

// SignedRequest is a verified signed_request payload.
type SignedRequest struct {
	Algorithm string
	IssuedAt  time.Time
	UserID    string    // app-scoped user id; "" or "0" for some page events
	Expires   time.Time // "expires" (the user token's expiry), zero when absent
	// Payload is the whole decoded payload (numbers as json.Number).
	Payload map[string]any
}

// ParseSignedRequest verifies and decodes a signed_request
// (base64url(signature) "." base64url(payload)), as posted to the deauthorize
// and data-deletion callbacks. The signature must be the HMAC-SHA256 of the
// encoded payload keyed with appSecret (compared in constant time), the
// payload's algorithm must be HMAC-SHA256, and issued_at must be no more than
// SignedRequestClockSkew after now and no more than maxAge before it
// (DefaultSignedRequestMaxAge when maxAge <= 0). Padded and unpadded
// base64url are both accepted.
func ParseSignedRequest(appSecret, signedRequest string, now time.Time, maxAge time.Duration) (SignedRequest, error) {
	if appSecret == "" {
		return SignedRequest{}, fmt.Errorf("%w: no app secret to verify with", ErrSignedRequestSignature)
	}
	if len(signedRequest) > MaxSignedRequestBytes {
		return SignedRequest{}, fmt.Errorf("%w: longer than %d bytes", ErrSignedRequestMalformed, MaxSignedRequestBytes)
	}
	encSig, encPayload, ok := strings.Cut(signedRequest, ".")
	if !ok || encSig == "" || encPayload == "" {
		return SignedRequest{}, fmt.Errorf("%w: want signature.payload", ErrSignedRequestMalformed)
	}
	sig, err := decodeBase64URL(encSig)
	if err != nil {
		return SignedRequest{}, fmt.Errorf("%w: signature is not base64url", ErrSignedRequestMalformed)
	}
	payload, err := decodeBase64URL(encPayload)
	if err != nil {
		return SignedRequest{}, fmt.Errorf("%w: payload is not base64url", ErrSignedRequestMalformed)
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(encPayload))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return SignedRequest{}, ErrSignedRequestSignature
	}

	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil || fields == nil || dec.More() {
		return SignedRequest{}, fmt.Errorf("%w: payload is not a JSON object", ErrSignedRequestMalformed)
	}
	alg, _ := fields["algorithm"].(string)
	if !strings.EqualFold(alg, "HMAC-SHA256") {
		return SignedRequest{}, ErrSignedRequestAlgorithm
	}
	sr := SignedRequest{Algorithm: alg, Payload: fields}

	issued, ok := unixField(fields["issued_at"])
	if !ok {
		return SignedRequest{}, fmt.Errorf("%w: issued_at missing or not a unix time", ErrSignedRequestMalformed)
	}
	sr.IssuedAt = issued
	if maxAge <= 0 {
		maxAge = DefaultSignedRequestMaxAge
	}
	if issued.After(now.Add(SignedRequestClockSkew)) {
		return SignedRequest{}, ErrSignedRequestFuture
	}
	if issued.Before(now.Add(-maxAge)) {
		return SignedRequest{}, ErrSignedRequestExpired
	}
	if exp, ok := unixField(fields["expires"]); ok {
		sr.Expires = exp
	}
	switch v := fields["user_id"].(type) {
	case string:
		sr.UserID = v
	case json.Number:
		sr.UserID = v.String()
	case nil:
	default:
		return SignedRequest{}, fmt.Errorf("%w: user_id is not a string or number", ErrSignedRequestMalformed)
	}
	return sr, nil
}

// decodeBase64URL accepts padded and unpadded base64url.
func decodeBase64URL(s string) ([]byte, error) {
	trimmed := strings.TrimRight(s, "=")
	if len(s)-len(trimmed) > 2 {
		return nil, errors.New("too much padding")
	}
	return base64.RawURLEncoding.Strict().DecodeString(trimmed)
}

// unixField reads a JSON number (or numeric string) as a unix time. Zero and
// negative values are "absent".
func unixField(v any) (time.Time, bool) {
	var n json.Number
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		n = json.Number(x)
	default:
		return time.Time{}, false
	}
	sec, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f <= 0 || f > 1e12 {
			return time.Time{}, false
		}
		sec = int64(f)
	}
	if sec <= 0 || sec > 1e12 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}
