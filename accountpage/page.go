package accountpage

import (
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Prefix is where the page is served.
const Prefix = "/account"

// apiPrefix is the proxy's path: Prefix + "/api" + "/v1/...".
const apiPrefix = Prefix + "/api"

// MaxBodyBytes is the largest request body the proxy forwards (the API's
// own limit, 64 KiB).
const MaxBodyBytes = 64 << 10

//go:embed static
var static embed.FS

// Page serves the example account page and its proxy. API and APIToken are
// required.
type Page struct {
	// API serves the /v1 routes, normally the same server's handler; the
	// proxy calls it in process.
	API http.Handler
	// APIToken is sent as the bearer token of every proxied request.
	APIToken string
	// Logger receives refused proxy requests; nil means quiet.
	Logger *slog.Logger
}

// Handler returns the routed handler for Prefix and everything under it.
func (p *Page) Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("accountpage: embedded files: " + err.Error()) // cannot happen: the directory is embedded
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"/{$}", p.serveIndex)
	mux.HandleFunc("GET "+Prefix, p.serveIndex)
	mux.Handle("GET "+Prefix+"/static/", pageHeaders(http.StripPrefix(Prefix+"/static/", http.FileServerFS(files))))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.logger().WarnContext(r.Context(), "account page proxy: cross-origin request refused", slog.String("method", r.Method), slog.String("origin", r.Header.Get("Origin")))
		writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests are not allowed")
	}))
	mux.Handle(apiPrefix+"/", cop.Handler(http.HandlerFunc(p.proxy)))
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	return mux
}

func (p *Page) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Page) serveIndex(w http.ResponseWriter, r *http.Request) {
	data, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "account page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	setPageHeaders(w.Header())
	w.Write(data)
}

// pageHeaders adds the page's security headers to h's answers.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}

// setPageHeaders: scripts and styles from this origin only (no inline
// code), no framing, no referrer (the query carries the connect outcome).
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// proxy forwards /account/api/v1/... to API /v1/... with the bearer token.
func (p *Page) proxy(w http.ResponseWriter, r *http.Request) {
	target, status, code, msg := proxyTarget(r)
	if status != 0 {
		p.logger().DebugContext(r.Context(), "account page proxy: request refused", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("code", code))
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST, PUT, DELETE")
		}
		writeError(w, status, code, msg)
		return
	}
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath, out.RequestURI = target, "", ""
	out.Header = http.Header{}
	for _, k := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(k); v != "" {
			out.Header.Set(k, v)
		}
	}
	out.Header.Set("Authorization", "Bearer "+p.APIToken)
	out.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	p.API.ServeHTTP(w, out)
}

// proxyTarget checks a proxy request and returns the /v1 path to forward it
// to, or the status, code and message of the refusal.
func proxyTarget(r *http.Request) (target string, status int, code, msg string) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
	default:
		return "", http.StatusMethodNotAllowed, "method_not_allowed", "the account page proxy forwards GET, POST, PUT and DELETE only"
	}
	target = strings.TrimPrefix(r.URL.Path, apiPrefix)
	if r.URL.RawPath != "" || !strings.HasPrefix(target, "/v1/") || path.Clean(target) != target {
		return "", http.StatusNotFound, "not_found", "the account page proxy forwards /v1/ routes only"
	}
	if r.ContentLength > MaxBodyBytes {
		return "", http.StatusRequestEntityTooLarge, "body_too_large", "request body is over " + strconv.Itoa(MaxBodyBytes>>10) + " KiB"
	}
	return target, 0, "", ""
}

// writeError answers in the API's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
