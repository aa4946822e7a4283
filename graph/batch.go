package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// MaxBatchSize is the most requests Facebook accepts in one batch.
const MaxBatchSize = 50

var (
	// ErrBatchTooLarge: more than MaxBatchSize requests; nothing was sent.
	ErrBatchTooLarge = errors.New("graph: batch has more than 50 requests")

	// ErrBatchIncomplete marks a batch element Facebook answered with null
	// (the batch timed out before it finished). It may or may not have run;
	// retry only those elements.
	ErrBatchIncomplete = errors.New("graph: batch request did not complete")
)

// BatchRequest is one operation of a batch.
type BatchRequest struct {
	Method      string     // GET, POST or DELETE; empty means GET
	RelativeURL string     // e.g. "me/friends?limit=50" (a leading / is dropped)
	Body        url.Values // POST/PUT parameters, sent url-encoded
	Name        string     // optional, lets later operations refer to this one
}

// BatchResponse is Facebook's answer to one operation.
type BatchResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Err is the operation's *APIError, ErrBatchIncomplete for a null
	// answer, or nil on success.
	Err error
}

// Decode decodes the element's JSON body into out (a bare true reads as
// {"success":true}). It returns r.Err if set.
func (r BatchResponse) Decode(out any) error {
	if r.Err != nil {
		return r.Err
	}
	if err := decodeBody(r.Body, out); err != nil {
		return fmt.Errorf("graph: batch: %w", err)
	}
	return nil
}

type wireBatchOp struct {
	Method      string `json:"method"`
	RelativeURL string `json:"relative_url"`
	Body        string `json:"body,omitempty"`
	Name        string `json:"name,omitempty"`
}

type wireBatchAnswer struct {
	Code    flexInt `json:"code"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Body json.RawMessage `json:"body"`
}

// Batch sends up to MaxBatchSize requests in one POST with the session's
// token and proof at the top level. The answers come back in request order,
// each with its own status, headers, body and Err; one failing operation
// does not fail the others. The returned error is for the batch as a whole
// (too many requests: ErrBatchTooLarge before any network call; transport
// errors; a top-level *APIError).
func (s *Session) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	if len(reqs) > MaxBatchSize {
		return nil, fmt.Errorf("%w: %d", ErrBatchTooLarge, len(reqs))
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	ops := make([]wireBatchOp, len(reqs))
	for i, r := range reqs {
		m := strings.ToUpper(r.Method)
		if m == "" {
			m = http.MethodGet
		}
		switch m {
		case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut:
		default:
			return nil, fmt.Errorf("graph: batch request %d: unsupported method %q", i, scrubPath(r.Method))
		}
		rel := strings.TrimLeft(r.RelativeURL, "/")
		if rel == "" || strings.Contains(rel, "://") {
			return nil, fmt.Errorf("%w: batch request %d", ErrBadPath, i)
		}
		ops[i] = wireBatchOp{Method: m, RelativeURL: rel, Name: r.Name}
		if len(r.Body) > 0 {
			ops[i].Body = r.Body.Encode()
		}
	}
	enc, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("graph: encode batch: %w", err)
	}
	u, err := s.c.endpoint("/")
	if err != nil {
		return nil, err
	}
	var answers []json.RawMessage
	params := url.Values{"batch": {string(enc)}, "include_headers": {"true"}}
	if _, err := s.do(ctx, request{method: http.MethodPost, u: u, params: params, out: &answers}); err != nil {
		return nil, err
	}
	if len(answers) != len(reqs) {
		return nil, fmt.Errorf("graph: batch: got %d answers for %d requests", len(answers), len(reqs))
	}
	secrets := []string{s.token, s.c.AppSecret}
	out := make([]BatchResponse, len(answers))
	for i, raw := range answers {
		out[i] = decodeBatchAnswer(raw, secrets)
	}
	return out, nil
}

func decodeBatchAnswer(raw json.RawMessage, secrets []string) BatchResponse {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return BatchResponse{Err: ErrBatchIncomplete}
	}
	var w wireBatchAnswer
	if err := json.Unmarshal(t, &w); err != nil {
		return BatchResponse{Err: fmt.Errorf("graph: batch: bad answer: %w", err)}
	}
	r := BatchResponse{StatusCode: int(clampInt(int64(w.Code))), Header: http.Header{}}
	for _, h := range w.Headers {
		r.Header.Add(h.Name, h.Value)
	}
	// body is a JSON-encoded string; accept an inline JSON value too.
	if b := bytes.TrimSpace(w.Body); len(b) > 0 && !bytes.Equal(b, []byte("null")) {
		var s string
		if b[0] == '"' && json.Unmarshal(b, &s) == nil {
			r.Body = []byte(s)
		} else {
			r.Body = append([]byte(nil), b...)
		}
	}
	if apiErr := errorFromResponse(r.StatusCode, r.Body, secrets); apiErr != nil {
		r.Err = apiErr
	}
	return r
}
