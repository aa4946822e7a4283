package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"watchshare/worker"
)

// TestRetryDelayHonouredWithDefaults is a regression test: with the default
// configuration, a handler asking to be retried in a few seconds gets its
// message back in a few seconds, delivery after delivery (a BackOff list on
// the consumer used to make the server wait a minute from the second nak on).
func TestRetryDelayHonouredWithDefaults(t *testing.T) {
	e := setup(t)
	rec := newRecorder(func(ctx context.Context, m worker.Message, n int) error {
		if n < 3 {
			return worker.RetryAfter(time.Duration(n)*time.Second, errors.New("graph 503"))
		}
		return nil
	})
	startConsumer(t, e.js, rec, worker.Config{})
	publishWatch(t, e.js, "flaky", "ev-flaky", watchPayload("flaky", 1))
	waitFor(t, 12*time.Second, "three deliveries", func() bool { return rec.count() == 3 })
}
