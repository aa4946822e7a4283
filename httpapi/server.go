package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"watchshare/service"
)

// MaxBodyBytes is the largest request body accepted (64 KiB).
const MaxBodyBytes = 64 << 10

// Server is the HTTP API. Service and APIToken are required.
type Server struct {
	Service  *service.Service
	APIToken string // bearer token for /v1

	// Ready reports whether the store and NATS are reachable (for /readyz).
	// Nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil means 404.
	Metrics http.Handler
	// Logger receives internal errors; nil means quiet.
	Logger *slog.Logger
}

// Handler returns the routed handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	v1 := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.auth(s.handle(h)))
	}
	v1("POST /v1/members/{member}/connect", s.handleConnect)
	v1("GET /v1/members/{member}", memberGet(s.Service.Member, ""))
	v1("PUT /v1/members/{member}/sharing", s.handleSetSharing)
	s.registerSharingRoutes(v1)
	s.registerFriendRoutes(v1)
	s.registerPrivacyRoutes(v1, mux)
	notFound := s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{status: http.StatusNotFound, code: "not_found", message: "no such route"}
	})
	mux.Handle("/v1/", s.auth(notFound))

	mux.Handle("GET /oauth/facebook/callback", http.HandlerFunc(s.handleCallback))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("/", notFound)
	return securityHeaders(mux)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// auth requires Authorization: Bearer <APIToken>, compared in constant time.
func (s *Server) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.APIToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.APIToken == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="watchshare"`)
			writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// memberGet is the handler of a GET route that reads one member: the answer
// of get for the path's {member} as JSON, under key unless key is empty.
func memberGet[T any](get func(context.Context, string) (T, error), key string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := get(r.Context(), r.PathValue("member"))
		if err != nil {
			return err
		}
		if key != "" {
			writeJSON(w, http.StatusOK, map[string]any{key: v})
		} else {
			writeJSON(w, http.StatusOK, v)
		}
		return nil
	}
}

// handle adapts an error-returning handler and maps its error.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Error writes err as {"error":{"code","message"}} with a fitting status.
// Internal errors are logged and shown only as "internal_error".
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	var se *service.Error
	if errors.As(err, &se) {
		status := map[service.Kind]int{
			service.KindInvalid:     http.StatusBadRequest,
			service.KindNotFound:    http.StatusNotFound,
			service.KindConflict:    http.StatusConflict,
			service.KindUnavailable: http.StatusServiceUnavailable,
			service.KindUpstream:    http.StatusBadGateway,
		}[se.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status >= 500 {
			s.logger().ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		}
		writeError(w, &apiError{status: status, code: se.Code, message: se.Message})
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	s.logger().ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal_error", message: "internal error"})
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeBody reads an optional JSON object body into dst. An empty body
// leaves dst as is. Over MaxBodyBytes is 413; anything but one JSON object
// is 400.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: "request body is over 64 KiB"}
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_body", message: "could not read the request body"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "body must be application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "body must be a JSON object: " + jsonProblem(err)}
	}
	if dec.More() {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "body must be a single JSON object"}
	}
	return nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error"
	}
	return "malformed"
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
