package worker

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are counters since the Consumer was created.
type Stats struct {
	Acked        uint64 // handled and acknowledged
	Retried      uint64 // nak'd after a failure, panic or shutdown, or left in the stream by a failed dead letter
	DeadLettered uint64 // copied to social.dlq.<stream> and terminated
	Paused       uint64 // handler calls that reported an outage (nak'd, or held on the last delivery)
	Panics       uint64 // handler panics (also counted as Retried, or DeadLettered on the last delivery)
	AckErrors    uint64 // acks, naks or terms the server did not confirm
	InFlight     int64  // handler calls running now
	Held         int64  // messages held now (running, queued or waiting)
}

type counters struct {
	acked, retried, deadLettered, paused, panics, ackErrors atomic.Uint64
	inFlight, held                                          atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Acked:        c.acked.Load(),
		Retried:      c.retried.Load(),
		DeadLettered: c.deadLettered.Load(),
		Paused:       c.paused.Load(),
		Panics:       c.panics.Load(),
		AckErrors:    c.ackErrors.Load(),
		InFlight:     c.inFlight.Load(),
		Held:         c.held.Load(),
	}
}

// metrics are the Prometheus collectors; a nil *metrics records nothing.
type metrics struct {
	messages   *prometheus.CounterVec   // stream, outcome
	latency    *prometheus.HistogramVec // stream
	inFlight   prometheus.Gauge
	pending    *prometheus.GaugeVec // stream: NumPending (lag)
	ackPending *prometheus.GaugeVec // stream: NumAckPending
	paused     prometheus.Gauge

	// The series of the configured streams, resolved once: a label lookup
	// for every message costs a hash of the labels and a map read under a
	// lock. Other streams are looked up as they come.
	streams []streamMetrics
}

type streamMetrics struct {
	stream   string
	latency  prometheus.Observer
	outcomes [len(outcomes)]prometheus.Counter
}

// outcomes are the values of the outcome label, in streamMetrics.outcomes order.
var outcomes = [...]string{OutcomeAcked, OutcomeRetried, OutcomeDeadLettered, OutcomePaused}

// newMetrics registers the worker's collectors on reg and resolves the
// series of streams. A collector that is already registered (a second
// Consumer on the same registry) is shared.
func newMetrics(reg prometheus.Registerer, streams []string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "messages_total",
			Help: "Messages settled, by stream and outcome (acked, retried, dead_lettered, paused).",
		}, []string{"stream", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "handler_duration_seconds",
			Help:    "Time spent in the message handler.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"stream"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "in_flight",
			Help: "Handler calls running now.",
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "consumer_pending",
			Help: "Messages in the stream not yet delivered to the durable consumer (lag).",
		}, []string{"stream"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "consumer_ack_pending",
			Help: "Messages delivered to the durable consumer and not yet acknowledged.",
		}, []string{"stream"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "watchshare", Subsystem: "worker", Name: "paused",
			Help: "1 while handling is paused because of a dependency outage.",
		}),
	}
	var errs []error
	register(reg, &m.messages, &errs)
	register(reg, &m.latency, &errs)
	register(reg, &m.inFlight, &errs)
	register(reg, &m.pending, &errs)
	register(reg, &m.ackPending, &errs)
	register(reg, &m.paused, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, st := range streams {
		sm := streamMetrics{stream: st, latency: m.latency.WithLabelValues(st)}
		for i, o := range outcomes {
			sm.outcomes[i] = m.messages.WithLabelValues(st, o)
		}
		m.streams = append(m.streams, sm)
	}
	return m, nil
}

// stream returns the resolved series of a configured stream, or nil.
func (m *metrics) stream(name string) *streamMetrics {
	for i := range m.streams {
		if m.streams[i].stream == name {
			return &m.streams[i]
		}
	}
	return nil
}

// register registers *c on reg, replacing *c with the collector already
// registered under its name if there is one; other errors go to errs.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C, errs *[]error) {
	err := reg.Register(*c)
	if err == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return
		}
	}
	*errs = append(*errs, err)
}

func (m *metrics) outcome(stream, outcome string) {
	if m == nil {
		return
	}
	if sm := m.stream(stream); sm != nil {
		for i, o := range outcomes {
			if o == outcome {
				sm.outcomes[i].Inc()
				return
			}
		}
	}
	m.messages.WithLabelValues(stream, outcome).Inc()
}

func (m *metrics) observe(stream string, seconds float64) {
	if m == nil {
		return
	}
	if sm := m.stream(stream); sm != nil {
		sm.latency.Observe(seconds)
		return
	}
	m.latency.WithLabelValues(stream).Observe(seconds)
}

func (m *metrics) addInFlight(d float64) {
	if m != nil {
		m.inFlight.Add(d)
	}
}

func (m *metrics) setLag(stream string, pending, ackPending uint64) {
	if m != nil {
		m.pending.WithLabelValues(stream).Set(float64(pending))
		m.ackPending.WithLabelValues(stream).Set(float64(ackPending))
	}
}

func (m *metrics) setPaused(p bool) {
	if m != nil {
		v := 0.0
		if p {
			v = 1
		}
		m.paused.Set(v)
	}
}
