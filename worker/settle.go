package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// settle maps the handler's result to exactly one settlement of the
// delivery:
//
//	nil                      → Ack (DoubleAck unless Config.FastAck)
//	*PermanentError          → dead letter, wait for the PubAck, TermWithReason;
//	                           if the dead letter cannot be stored: NakWithDelay
//	*PauseError              → NakWithDelay(pause) (the gate stops handling)
//	shutdown interrupted it  → Nak (dead letter on the last delivery)
//	anything else, panics    → NakWithDelay(backoff); on the last delivery
//	                           dead letter with the error text, then Term
func (c *Consumer) settle(it *item, err error) {
	m := it.m
	if err == nil {
		it.settle(func() { c.ack(it) })
		c.count(m.Stream, OutcomeAcked)
		return
	}
	// Only failures log: the logger with the message's fields is built here,
	// not on the hot path.
	log := c.log.With("stream", m.Stream, "subject", m.Subject, "seq", m.Sequence,
		"msg_id", m.MsgID, "deliveries", m.NumDelivered)
	if pe, ok := asPermanent(err); ok {
		reason := pe.Reason
		if reason == "" {
			reason = err.Error()
		}
		if derr := c.deadLetter(it, reason); derr != nil {
			// Never lose it: let it come back and try the dead letter
			// again (the handler will reject it again).
			d := c.backoff(m.NumDelivered)
			if m.LastDelivery(c.cfg.MaxDeliver) {
				c.deadLetterLost(it, reason, derr)
			} else {
				log.Error("worker dead letter failed; retrying later", "reason", reason, "err", derr, "retry_in", d)
			}
			c.retry(it, d)
			return
		}
		log.Warn("worker dead-lettered invalid message", "reason", reason)
		return
	}
	if c.hctx.Err() != nil {
		c.giveBack(it, 0, "interrupted by shutdown: "+err.Error())
		return
	}
	if pe, ok := asPause(err); ok {
		d := c.pauseDelay(pe.Delay)
		log.Warn("worker paused", "pause", d, "err", err)
		c.nak(it, d)
		c.count(m.Stream, OutcomePaused)
		return
	}
	var d time.Duration
	if re, ok := asRetry(err); ok {
		d = re.Delay
	}
	if m.LastDelivery(c.cfg.MaxDeliver) {
		reason := "retries exhausted: " + err.Error()
		if derr := c.deadLetter(it, reason); derr != nil {
			// Nothing will redeliver it; it stays in the stream at seq.
			c.deadLetterLost(it, reason, derr)
			it.settle(func() {})
			c.count(m.Stream, OutcomeRetried)
			return
		}
		log.Warn("worker dead-lettered after last delivery", "reason", reason)
		return
	}
	if d <= 0 {
		d = c.backoff(m.NumDelivered)
	}
	log.Info("worker retry", "retry_in", d, "err", err)
	c.retry(it, d)
}

// giveBack returns a message that was not (fully) handled to the server: a
// nak after delay, or, on its last delivery (a nak would never come back),
// a dead letter.
func (c *Consumer) giveBack(it *item, delay time.Duration, why string) {
	if it.m.LastDelivery(c.cfg.MaxDeliver) {
		err := c.deadLetter(it, why)
		if err == nil {
			return
		}
		c.deadLetterLost(it, why, err)
	}
	c.retry(it, delay)
}

// deadLetterLost logs a dead letter that failed on the message's last
// delivery: nothing will redeliver the message, it stays in its stream.
func (c *Consumer) deadLetterLost(it *item, reason string, err error) {
	c.log.Error("worker dead letter failed on last delivery; message left in stream",
		"stream", it.m.Stream, "subject", it.m.Subject, "seq", it.m.Sequence,
		"msg_id", it.m.MsgID, "deliveries", it.m.NumDelivered, "reason", reason, "err", err)
}

// retry naks the message for redelivery after d (0: at once) and counts it
// as retried.
func (c *Consumer) retry(it *item, d time.Duration) {
	c.nak(it, d)
	c.count(it.m.Stream, OutcomeRetried)
}

// count records a message's outcome in Stats and the metrics.
func (c *Consumer) count(stream, outcome string) {
	switch outcome {
	case OutcomeAcked:
		c.stats.acked.Add(1)
	case OutcomeRetried:
		c.stats.retried.Add(1)
	case OutcomeDeadLettered:
		c.stats.deadLettered.Add(1)
	case OutcomePaused:
		c.stats.paused.Add(1)
	}
	c.metrics.outcome(stream, outcome)
}

func (c *Consumer) ack(it *item) {
	if c.cfg.FastAck {
		if err := it.msg.Ack(); err != nil {
			c.ackFailed(it, "ack", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.AckTimeout)
	defer cancel()
	if err := it.msg.DoubleAck(ctx); err != nil {
		// The message may be redelivered; handlers are idempotent.
		c.ackFailed(it, "double ack", err)
	}
}

func (c *Consumer) nak(it *item, d time.Duration) {
	it.settle(func() {
		var err error
		if d > 0 {
			err = it.msg.NakWithDelay(d)
		} else {
			err = it.msg.Nak()
		}
		if err != nil {
			c.ackFailed(it, "nak", err)
		}
	})
}

func (c *Consumer) ackFailed(it *item, what string, err error) {
	c.stats.ackErrors.Add(1)
	c.log.Warn("worker "+what+" failed", "stream", it.m.Stream, "seq", it.m.Sequence, "err", err)
}

// deadLetter copies the message to social.dlq.<stream>, waits for the
// PubAck, then terminates it. It returns an error (and settles nothing) if
// the dead letter was not stored.
//
// The copy has the original data and headers, minus the JetStream publish
// controls (Nats-* headers other than Nats-Msg-Id, which would change how
// the DLQ stream stores it), plus Watchshare-Error, -Stream, -Subject,
// -Sequence and -Deliveries. Nats-Msg-Id is kept (or set to
// "watchshare-dlq:<stream>:<seq>" if absent) so the DLQ stream's duplicate
// window drops a second copy when a PubAck or the Term was lost and the
// message comes back.
func (c *Consumer) deadLetter(it *item, reason string) error {
	m := it.m
	reason = headerSafe(reason)
	h := make(nats.Header, len(m.Header)+5)
	for k, v := range m.Header {
		if strings.HasPrefix(k, "Nats-") && k != jetstream.MsgIDHeader {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderError, reason)
	h.Set(HeaderStream, m.Stream)
	h.Set(HeaderSubject, m.Subject)
	h.Set(HeaderSequence, strconv.FormatUint(m.Sequence, 10))
	h.Set(HeaderDeliveries, strconv.FormatUint(m.NumDelivered, 10))
	if h.Get(jetstream.MsgIDHeader) == "" {
		h.Set(jetstream.MsgIDHeader, fmt.Sprintf("watchshare-dlq:%s:%d", m.Stream, m.Sequence))
	}
	msg := &nats.Msg{Subject: DLQSubject(m.Stream), Data: m.Data, Header: h}

	var err error
	for attempt := range 3 {
		if attempt > 0 && !sleep(time.Duration(attempt)*200*time.Millisecond, c.hard) {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PublishTimeout)
		_, err = c.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("worker: publish dead letter: %w", err)
	}
	it.settle(func() {
		if terr := it.msg.TermWithReason(reason); terr != nil {
			// Redelivered later; the DLQ duplicate window absorbs the
			// second copy.
			c.ackFailed(it, "term", terr)
		}
	})
	c.count(m.Stream, OutcomeDeadLettered)
	return nil
}

// backoff is RetryMin * 2^(n-1), capped at RetryMax, with ±20% jitter.
func (c *Consumer) backoff(numDelivered uint64) time.Duration {
	d := c.cfg.RetryMin
	for i := uint64(1); i < numDelivered && d < c.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMax)
	j := 0.8 + 0.4*rand.Float64()
	return max(time.Duration(float64(d)*j), time.Millisecond)
}

// headerSafe makes s usable as a header value and a term reason: one line,
// at most 512 bytes.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	if s == "" {
		s = "unknown"
	}
	return s
}
