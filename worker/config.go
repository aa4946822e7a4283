package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config. A zero field means its default.
const (
	DefaultConcurrency     = 16
	DefaultAckWait         = 30 * time.Second
	DefaultMaxDeliver      = 10
	DefaultMaxAckPending   = 1000
	DefaultRetryMin        = 2 * time.Second
	DefaultRetryMax        = 5 * time.Minute
	DefaultPauseDefault    = 10 * time.Second
	DefaultHandlerTimeout  = 5 * time.Minute
	DefaultAckTimeout      = 5 * time.Second
	DefaultPublishTimeout  = 5 * time.Second
	DefaultPullExpiry      = 10 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultInfoInterval    = 10 * time.Second
	DefaultReadyTimeout    = 2 * time.Second
)

// Config configures a Consumer. The zero value works: WithDefaults fills
// every zero field.
type Config struct {
	// Streams to consume; default PLAYBACK and SOCIAL_CMD.
	Streams []string
	// Durable is the durable consumer name on every stream; default
	// "watchshare".
	Durable string

	// Concurrency is the number of handler goroutines shared by all
	// streams; default 16.
	Concurrency int
	// QueueSize bounds the messages this process holds (being handled or
	// waiting for their key or a handler goroutine); when it is reached,
	// pulling stops (back-pressure). Default 4 * Concurrency, at least 512.
	QueueSize int
	// PullMaxMessages is the nats.go pull buffer per stream (messages
	// fetched ahead, whose AckWait is already running); default QueueSize,
	// at most QueueSize. Small batches cost a pull round trip every few
	// messages: 256 instead of 512 drained the skip path ~20% slower.
	PullMaxMessages int
	// PullExpiry is how long one pull request waits at the server; the
	// idle heartbeat is half of it, and a connection that lost its pull
	// request recovers within about PullExpiry. Default 10s.
	PullExpiry time.Duration

	// AckWait is how long the server waits for an ack before redelivering;
	// default 30s. Messages held by this process get InProgress every
	// AckWait/3.
	AckWait time.Duration
	// MaxDeliver is the delivery budget of a message; on the last one a
	// retryable failure is dead-lettered. Default 10; -1 means unlimited
	// (retryable failures are then retried forever).
	MaxDeliver int
	// BackOff is an optional redelivery schedule after ack timeouts
	// (crashed or stuck workers). Its first entry replaces AckWait at the
	// server, so it must equal AckWait. Default none, and better left
	// empty: nats-server measures a NakWithDelay from the BackOff entry of
	// the delivery instead of from AckWait, so with a list every retry and
	// pause delay is stretched by BackOff[n]-AckWait.
	BackOff []time.Duration
	// MaxAckPending caps unacknowledged messages across every process
	// bound to the durable; default 1000.
	MaxAckPending int

	// RetryMin and RetryMax bound the exponential backoff of retries
	// without an explicit delay: RetryMin * 2^(deliveries-1), capped at
	// RetryMax, with ±20% jitter. Defaults 2s and 5m.
	RetryMin time.Duration
	RetryMax time.Duration
	// PauseDefault is the pause of Pause(0, err); PauseMax caps any pause.
	// Defaults 10s and AckWait/2 (at least 1s): while paused nothing is pulled, and the
	// few messages already in the pull buffer (not yet kept alive with
	// InProgress) must be taken before their AckWait runs out. A longer
	// outage is a series of pauses, each ended by a probe.
	PauseDefault time.Duration
	PauseMax     time.Duration

	// HandlerTimeout bounds one HandleMessage call; default 5m. It is
	// also how long a message can be kept alive with InProgress.
	HandlerTimeout time.Duration
	// FastAck uses a plain Ack instead of DoubleAck. The default
	// (DoubleAck) learns whether the ack landed and logs when it did not.
	FastAck bool
	// AckTimeout bounds a DoubleAck; default 5s.
	AckTimeout time.Duration
	// PublishTimeout bounds a dead-letter publish (waiting for the
	// PubAck); default 5s.
	PublishTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop that follows the
	// cancellation of the context given to Start or Run; default 30s.
	ShutdownTimeout time.Duration
	// InfoInterval is how often consumer info is read (lag gauge, and
	// recreating a consumer that was deleted); default 10s.
	InfoInterval time.Duration
	// ReadyTimeout bounds the JetStream round trip of Ready; default 2s.
	ReadyTimeout time.Duration

	// Logger receives the worker's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the worker's Prometheus metrics; nil means none.
	Registerer prometheus.Registerer
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Streams) == 0 {
		c.Streams = []string{StreamPlayback, StreamCommands}
	}
	if c.Durable == "" {
		c.Durable = DurableName
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.QueueSize <= 0 {
		c.QueueSize = max(4*c.Concurrency, 512)
	}
	if c.PullMaxMessages <= 0 {
		c.PullMaxMessages = max(4*c.Concurrency, 512)
	}
	c.PullMaxMessages = min(c.PullMaxMessages, c.QueueSize)
	if c.PullExpiry <= 0 {
		c.PullExpiry = DefaultPullExpiry
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	// No default BackOff list: with one, nats-server let the list's
	// (long) delays override NakWithDelay on later deliveries, so a handler
	// asking for a 3 s retry waited a minute. Redeliveries after an ack
	// timeout use AckWait; naks carry their own delay.
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = max(DefaultRetryMax, c.RetryMin)
	}
	if c.PauseDefault <= 0 {
		c.PauseDefault = DefaultPauseDefault
	}
	if c.PauseMax <= 0 {
		c.PauseMax = max(c.AckWait/2, time.Second)
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = DefaultHandlerTimeout
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.InfoInterval <= 0 {
		c.InfoInterval = DefaultInfoInterval
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.MaxDeliver < 2 && c.MaxDeliver != -1 {
		// With one delivery there is no retry, and Pause could not nak.
		return fmt.Errorf("worker: MaxDeliver must be -1 (unlimited) or at least 2, got %d", c.MaxDeliver)
	}
	if c.MaxDeliver > 0 && len(c.BackOff) > c.MaxDeliver {
		return errors.New("worker: BackOff has more entries than MaxDeliver")
	}
	if len(c.BackOff) > 0 && c.BackOff[0] != c.AckWait {
		return fmt.Errorf("worker: BackOff[0] (%s) must equal AckWait (%s)", c.BackOff[0], c.AckWait)
	}
	for _, d := range c.BackOff {
		if d < c.AckWait {
			return errors.New("worker: BackOff entries must not be shorter than AckWait")
		}
	}
	if c.PullExpiry < time.Second {
		return errors.New("worker: PullExpiry must be at least 1s")
	}
	for _, s := range c.Streams {
		if s == StreamDLQ {
			return errors.New("worker: the dead-letter stream cannot be consumed by the worker")
		}
	}
	return nil
}
