package service

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the use cases' Prometheus collectors.
type Metrics struct {
	connects *prometheus.CounterVec
	events   *prometheus.CounterVec // by outcome: posted, skipped, retried, dead_lettered
	skipped  *prometheus.CounterVec // by reason
	graph    *prometheus.CounterVec // Graph calls by operation and result class
	purges   *prometheus.CounterVec // by path
	syncs    *prometheus.CounterVec // friend syncs by outcome
	outbox   *prometheus.CounterVec // outbox items by kind and outcome
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_connects_total", Help: "Connect flows finished, by outcome."}, []string{"outcome"}),
		events:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_events_total", Help: "Watch events handled, by outcome (posted, skipped, retried, dead_lettered, paused)."}, []string{"outcome"}),
		skipped:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_events_skipped_total", Help: "Watch events deliberately not posted, by reason."}, []string{"reason"}),
		graph:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_graph_calls_total", Help: "Graph API calls, by operation and result."}, []string{"op", "result"}),
		purges:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_purges_total", Help: "Member purges, by path."}, []string{"path"}),
		syncs:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_friend_syncs_total", Help: "Friend syncs, by outcome."}, []string{"outcome"}),
		outbox:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "watchshare_outbox_total", Help: "Durable Facebook deletions and revocations, by kind and outcome."}, []string{"kind", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.connects, m.events, m.skipped, m.graph, m.purges, m.syncs, m.outbox)
	}
	return m
}
