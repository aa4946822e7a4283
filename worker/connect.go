package worker

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions returns nats.go options for a worker connection that
// survives server restarts: reconnect forever (MaxReconnects -1) every
// second with jitter, retry the first connect too, keep a reconnect buffer,
// and log connection changes to logger (nil discards). Pass them to
// nats.Connect, or to natsembed.Server.Connect.
func ConnectOptions(logger *slog.Logger) []nats.Option {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "nats")
	return []nats.Option{
		nats.Name("watchshare-worker"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(8 << 20),
		nats.PingInterval(20 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
}
