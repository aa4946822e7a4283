package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"watchshare/sharing"
	"watchshare/store"
)

// Metrics are the use cases' Prometheus collectors.
type Metrics struct {
	connects  *prometheus.CounterVec
	events    *prometheus.CounterVec   // by outcome: posted, skipped, retried, dead_lettered
	skipped   *prometheus.CounterVec   // by reason
	graph     *prometheus.CounterVec   // Graph calls by operation and result class
	graphTime *prometheus.HistogramVec // Graph HTTP requests by operation, HTTP status and Graph error code
	purges    *prometheus.CounterVec   // by path
	syncs     *prometheus.CounterVec   // friend syncs by outcome
	outbox    *prometheus.CounterVec   // outbox items by kind and outcome

	// The per-event series, resolved once: a label lookup hashes the
	// values and reads a map under a lock, for every event.
	posted, skippedAll, deadLettered, paused, retried prometheus.Counter
	skippedBy                                         map[sharing.SkipReason]prometheus.Counter // read only
}

// skipReasons are the reasons whose series NewMetrics resolves.
var skipReasons = []sharing.SkipReason{
	sharing.SkipKidsProfile, sharing.SkipBelowThreshold, sharing.SkipStale, sharing.SkipNotConnected,
	sharing.SkipReconnect, sharing.SkipNoPermission, sharing.SkipConsentExpired, sharing.SkipSharingPaused,
	sharing.SkipHidden, sharing.SkipSharedInSession, sharing.SkipSharedRecently, sharing.SkipPostInFlight,
	sharing.SkipAlreadyProcessed,
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_connects_total", Help: "Connect flows finished, by outcome."}, []string{"outcome"}),
		events:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_events_total", Help: "Watch events handled, by outcome (posted, skipped, retried, dead_lettered, paused)."}, []string{"outcome"}),
		skipped:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_events_skipped_total", Help: "Watch events deliberately not posted, by reason."}, []string{"reason"}),
		graph:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_graph_calls_total", Help: "Graph API calls, by operation and result."}, []string{"op", "result"}),
		graphTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "watchshare_graph_request_duration_seconds",
			Help:    "Graph API HTTP requests until the response headers (the whole body for errors), by operation, HTTP status (error: no answer) and Graph error code (empty on success).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op", "status", "code"}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_purges_total", Help: "Member purges, by path."}, []string{"path"}),
		syncs:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_friend_syncs_total", Help: "Friend syncs, by outcome."}, []string{"outcome"}),
		outbox: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_outbox_total", Help: "Durable Facebook deletions and revocations, by kind and outcome."}, []string{"kind", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.connects, m.events, m.skipped, m.graph, m.graphTime, m.purges, m.syncs, m.outbox)
	}
	m.posted = m.events.WithLabelValues("posted")
	m.skippedAll = m.events.WithLabelValues("skipped")
	m.deadLettered = m.events.WithLabelValues("dead_lettered")
	m.paused = m.events.WithLabelValues("paused")
	m.retried = m.events.WithLabelValues("retried")
	m.skippedBy = make(map[sharing.SkipReason]prometheus.Counter, len(skipReasons))
	for _, r := range skipReasons {
		m.skippedBy[r] = m.skipped.WithLabelValues(string(r))
	}
	return m
}

// skip counts an event skipped for reason r.
func (m *Metrics) skip(r sharing.SkipReason) {
	m.skippedAll.Inc()
	if c, ok := m.skippedBy[r]; ok {
		c.Inc()
		return
	}
	m.skipped.WithLabelValues(string(r)).Inc()
}

// GraphTransport wraps next (nil means http.DefaultTransport) so that every
// Graph API request is timed in watchshare_graph_request_duration_seconds.
// Give it to graph.Client.HTTPClient. The operation is named from the
// request as watchshare_graph_calls_total names it (publish, reconcile,
// delete, revoke, friends) plus token, me, permissions, batch and other.
func (m *Metrics) GraphTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &graphTransport{next: next, hist: m.graphTime}
}

type graphTransport struct {
	next http.RoundTripper
	hist *prometheus.HistogramVec
}

func (t *graphTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := graphOp(r.Method, r.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.hist.WithLabelValues(op, "error", "").Observe(time.Since(start).Seconds())
		return resp, err
	}
	code := ""
	if resp.StatusCode >= 400 {
		code = peekGraphCode(resp)
	}
	t.hist.WithLabelValues(op, strconv.Itoa(resp.StatusCode), code).Observe(time.Since(start).Seconds())
	return resp, nil
}

// graphOp names a Graph request by its method and path (the version prefix
// and any base path are ignored: paths are matched by their end).
func graphOp(method, path string) string {
	path = strings.TrimSuffix(path, "/")
	last := path[strings.LastIndex(path, "/")+1:]
	switch {
	case strings.HasSuffix(path, "/oauth/access_token"):
		return "token"
	case strings.HasSuffix(path, "/me/video.watches") && method == http.MethodPost:
		return "publish"
	case strings.HasSuffix(path, "/me/video.watches"):
		return "reconcile"
	case last == "permissions" && method == http.MethodDelete:
		return "revoke"
	case last == "permissions":
		return "permissions"
	case last == "friends":
		return "friends"
	case last == "me":
		return "me"
	case method == http.MethodDelete:
		return "delete"
	case method == http.MethodPost && isVersion(last):
		return "batch"
	}
	return "other"
}

func isVersion(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimPrefix(s, "v"), 64)
	return strings.HasPrefix(s, "v") && err == nil
}

// maxPeek bounds how much of an error body is read to find its Graph code;
// the rest is still handed to the client.
const maxPeek = 64 << 10

// peekGraphCode reads the error object's "code" from an error answer and
// puts the body back for the client. It returns "" when there is none.
func peekGraphCode(resp *http.Response) string {
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxPeek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), errReader{err}, resp.Body), resp.Body}
	var body struct {
		Error struct {
			Code *int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(head, &body) != nil || body.Error.Code == nil {
		return ""
	}
	return strconv.Itoa(*body.Error.Code)
}

// errReader hands a read error back to the client at the point it happened
// (nil: nothing, the rest of the body follows).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// OutboxCounter is the store method the outbox gauges ask at each scrape.
type OutboxCounter interface {
	OutboxCounts(ctx context.Context) (map[store.OutboxKind]int, error)
}

var _ OutboxCounter = (*store.DB)(nil)

// RegisterOutboxGauges registers watchshare_outbox_pending{kind}: the
// deletions (delete_action) and revocations (revoke) waiting in the durable
// outbox, read from db at each scrape. When the store cannot answer within
// 2 s the gauges are left out of that scrape (and /readyz says why) rather
// than failing the whole /metrics page.
func RegisterOutboxGauges(reg prometheus.Registerer, db OutboxCounter, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return reg.Register(&outboxGauges{
		db:  db,
		log: log,
		desc: prometheus.NewDesc("watchshare_outbox_pending",
			"Facebook deletions (delete_action) and app revocations (revoke) waiting in the durable outbox.",
			[]string{"kind"}, nil),
	})
}

type outboxGauges struct {
	db   OutboxCounter
	log  *slog.Logger
	desc *prometheus.Desc
}

func (g *outboxGauges) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *outboxGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := g.db.OutboxCounts(ctx)
	if err != nil {
		g.log.WarnContext(ctx, "metrics: outbox counts unavailable", slog.Any("error", err))
		return
	}
	for _, kind := range []store.OutboxKind{store.OutboxDeleteAction, store.OutboxRevoke} {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(counts[kind]), string(kind))
	}
}
