package worker

import (
	"errors"
	"fmt"
	"time"
)

// PermanentError marks a message that can never succeed (it does not parse,
// fails validation, refers to something that cannot exist). The worker
// dead-letters it with Reason in the Watchshare-Error header and terminates
// it.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent: " + e.Reason
	}
	return fmt.Sprintf("permanent: %s: %v", e.Reason, e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent returns an error telling the worker to dead-letter the message
// with reason (a short, log-safe text; no tokens) and never retry it. err may
// be nil.
func Permanent(reason string, err error) error {
	if reason == "" && err != nil {
		reason = err.Error()
	}
	return &PermanentError{Reason: reason, Err: err}
}

// RetryError asks for a redelivery after Delay (zero: the Consumer's
// exponential backoff).
type RetryError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	if e.Err == nil {
		return "retry"
	}
	return "retry: " + e.Err.Error()
}

func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns an error telling the worker to redeliver the message
// after d (0: exponential backoff from the delivery count, with jitter). On
// the message's last delivery it is dead-lettered instead, with err's text as
// the reason. Any error that is not from Permanent, RetryAfter or Pause is
// treated as RetryAfter(0, err).
func RetryAfter(d time.Duration, err error) error {
	return &RetryError{Delay: d, Err: err}
}

// PauseError reports an outage of a dependency (store, Graph), not a problem
// of the message.
type PauseError struct {
	Delay time.Duration
	Err   error
}

func (e *PauseError) Error() string {
	if e.Err == nil {
		return "pause"
	}
	return "pause: " + e.Err.Error()
}

func (e *PauseError) Unwrap() error { return e.Err }

// Pause returns an error telling the worker that a dependency is down: the
// message is redelivered after d (0: Config.PauseDefault) and the Consumer
// handles no message and pulls nothing until then. After the pause one
// message probes the dependency before the others resume. See the package
// documentation for how pauses count against MaxDeliver.
func Pause(d time.Duration, err error) error {
	return &PauseError{Delay: d, Err: err}
}

// Outcomes of a message, as used in metrics and Stats.
const (
	OutcomeAcked        = "acked"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
	OutcomePaused       = "paused"
)

// errPanic wraps a recovered handler panic.
type errPanic struct{ v any }

func (e errPanic) Error() string { return fmt.Sprintf("handler panic: %v", e.v) }

func asPermanent(err error) (*PermanentError, bool) {
	var pe *PermanentError
	ok := errors.As(err, &pe)
	return pe, ok
}

func asPause(err error) (*PauseError, bool) {
	var pe *PauseError
	ok := errors.As(err, &pe)
	return pe, ok
}

func asRetry(err error) (*RetryError, bool) {
	var re *RetryError
	ok := errors.As(err, &re)
	return re, ok
}
