package graphtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// batchOp is one element of the batch parameter.
type batchOp struct {
	Method                string          `json:"method"`
	RelativeURL           string          `json:"relative_url"`
	Body                  json.RawMessage `json:"body"`
	Name                  string          `json:"name"`
	DependsOn             string          `json:"depends_on"`
	OmitResponseOnSuccess bool            `json:"omit_response_on_success"`
}

// batchResult is one element of a batch answer.
type batchResult struct {
	Code    int           `json:"code"`
	Headers []batchHeader `json:"headers,omitempty"`
	Body    string        `json:"body"`
}

type batchHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func batchError(msg string) *gerror {
	return newError(100, msg).withType("GraphBatchException")
}

// serveBatch implements POST / with a batch parameter. Each operation runs
// as a normal call (same auth and proof rules, own faults, own call log
// entry, counted against the budgets), sequentially in request order.
func (s *Server) serveBatch(req *request) *response {
	const routeKey = "POST /"
	s.mu.Lock()
	st := s.stateLocked()
	a, authErr := s.authenticateLocked(req)
	call := Call{
		Time: s.now(), Received: req.received, Method: req.method, Path: req.path, Route: routeKey,
		UserID: a.userID, TokenKind: a.kind, Params: redact(req.params),
	}
	fault, faulted := st.takeFaultLocked(routeKey, 0)
	drop := st.takeDropLocked(routeKey)
	s.mu.Unlock()

	finish := func(resp *response) *response {
		call.finish(resp, drop)
		s.record(call)
		return resp
	}
	if faulted {
		return finish(s.faultResponse(fault))
	}
	ops, e := s.checkBatch(req, a, authErr)
	if e != nil {
		return finish(s.errorJSON(e))
	}

	includeHeaders := req.params.Get("include_headers") != "false"
	results := make([]*batchResult, len(ops))
	closeConn := false
	for i, op := range ops {
		sub, e := s.batchRequest(req, op)
		var resp *response
		if e != nil {
			resp = s.errorJSON(e)
		} else {
			resp = s.serveGraph(sub)
		}
		if resp.closeConn {
			closeConn = true
			continue // the reply is lost anyway
		}
		if op.OmitResponseOnSuccess && resp.status == http.StatusOK {
			continue
		}
		r := &batchResult{Code: resp.status, Body: string(resp.body)}
		if includeHeaders {
			r.Headers = []batchHeader{}
			names := make([]string, 0, len(resp.header))
			for k := range resp.header {
				names = append(names, k)
			}
			slices.Sort(names)
			for _, k := range names {
				for _, v := range resp.header[k] {
					r.Headers = append(r.Headers, batchHeader{k, v})
				}
			}
		}
		results[i] = r
	}
	resp := jsonResponse(http.StatusOK, results)
	s.mu.Lock()
	s.usageHeaderLocked(resp.header)
	s.mu.Unlock()
	if closeConn {
		// An operation's connection fault or drop loses the whole answer.
		resp.injected, resp.closeConn = true, true
	}
	return finish(resp)
}

// checkBatch validates the envelope: a valid top-level token and at most
// MaxBatchSize operations.
func (s *Server) checkBatch(req *request, a *auth, authErr *gerror) ([]batchOp, *gerror) {
	if a.kind == TokenNone {
		return nil, stdError(104)
	}
	if authErr != nil {
		return nil, authErr
	}
	raw := req.params.Get("batch")
	if raw == "" {
		return nil, batchError("(#100) The parameter batch is required")
	}
	var ops []batchOp
	if err := json.Unmarshal([]byte(raw), &ops); err != nil {
		return nil, batchError("(#100) The parameter batch must be a JSON array of operations: " + err.Error())
	}
	if len(ops) > MaxBatchSize {
		return nil, batchError("Too many requests in batch message. Maximum batch size is 50")
	}
	return ops, nil
}

// batchRequest turns an operation into a request. Operations without their
// own access_token use the top-level token and its appsecret_proof.
func (s *Server) batchRequest(top *request, op batchOp) (*request, *gerror) {
	method := strings.ToUpper(op.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := url.Parse("/" + strings.TrimPrefix(op.RelativeURL, "/"))
	if err != nil || op.RelativeURL == "" {
		return nil, newError(100, "(#100) Invalid relative_url in batch operation")
	}
	version, p := splitVersion(u.Path)
	if version == "" {
		version = top.version
	}
	params := u.Query()
	if len(op.Body) > 0 && string(op.Body) != "null" {
		var body string
		if err := json.Unmarshal(op.Body, &body); err != nil {
			return nil, newError(100, "(#100) The body of a batch operation must be a URL-encoded string")
		}
		bv, err := url.ParseQuery(body)
		if err != nil {
			return nil, newError(100, "(#100) Invalid body in batch operation: "+err.Error())
		}
		for k, vs := range bv {
			params[k] = append(params[k], vs...)
		}
	}
	method = overrideMethod(method, params)
	if params.Get("access_token") == "" {
		params.Set("access_token", tokenFromRequest(top))
		for _, k := range []string{"appsecret_proof", "appsecret_time"} {
			if params.Get(k) == "" && top.params.Get(k) != "" {
				params.Set(k, top.params.Get(k))
			}
		}
	}
	return &request{
		ctx:      top.ctx,
		method:   method,
		path:     p,
		version:  version,
		params:   params,
		scheme:   top.scheme,
		host:     top.host,
		batch:    true,
		received: top.received,
	}, nil
}
