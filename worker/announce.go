package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Announcement kinds; the subject is social.event.<kind>.
const (
	EventConnected         = "connected"
	EventShared            = "shared"
	EventUnshared          = "unshared"
	EventReconnectRequired = "reconnect_required"
	EventDisconnected      = "disconnected"

	// SubjectEventPrefix is followed by the kind.
	SubjectEventPrefix = "social.event."
)

// EventSubject returns the core NATS subject of an announcement kind.
func EventSubject(kind string) string { return SubjectEventPrefix + kind }

func validKind(kind string) bool {
	switch kind {
	case EventConnected, EventShared, EventUnshared, EventReconnectRequired, EventDisconnected:
		return true
	}
	return false
}

// Announcer publishes announcements for the account service on core NATS:
// social.event.<kind>, a JSON object with at least "member_id" and "at"
// (RFC 3339, UTC). Publishing is fire and forget (core NATS, no
// acknowledgement); errors are logged and returned, and callers usually
// only log them: an announcement is a notification, not state.
type Announcer struct {
	nc  *nats.Conn
	log *slog.Logger
	now func() time.Time
}

// NewAnnouncer returns an Announcer publishing on nc. logger nil discards;
// now nil is time.Now.
func NewAnnouncer(nc *nats.Conn, logger *slog.Logger, now func() time.Time) *Announcer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Announcer{nc: nc, log: logger.With("component", "announcer"), now: now}
}

// Announce publishes {"member_id": memberID, "at": now, ...fields} on
// social.event.<kind>. fields may add anything else (title_id, post_id,
// reason, ...); its "member_id" is ignored, and its "at" (a time.Time or a
// string) replaces now.
func (a *Announcer) Announce(ctx context.Context, kind, memberID string, fields map[string]any) error {
	obj := make(map[string]any, len(fields)+2)
	for k, v := range fields {
		obj[k] = v
	}
	obj["member_id"] = memberID
	if t, ok := obj["at"].(time.Time); ok {
		obj["at"] = t.UTC().Format(time.RFC3339)
	} else if _, ok := obj["at"].(string); !ok {
		obj["at"] = a.now().UTC().Format(time.RFC3339)
	}
	return a.publish(ctx, kind, memberID, obj)
}

func (a *Announcer) publish(ctx context.Context, kind, member string, obj map[string]any) error {
	if !validKind(kind) {
		return a.fail(kind, member, fmt.Errorf("worker: unknown announcement kind %q", kind))
	}
	if member == "" {
		return a.fail(kind, member, errors.New("worker: announcement without member_id"))
	}
	if err := ctx.Err(); err != nil {
		return a.fail(kind, member, err)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return a.fail(kind, member, fmt.Errorf("worker: announcement: %w", err))
	}
	if err := a.nc.Publish(EventSubject(kind), data); err != nil {
		return a.fail(kind, member, fmt.Errorf("worker: publish announcement: %w", err))
	}
	return nil
}

func (a *Announcer) fail(kind, member string, err error) error {
	a.log.Warn("announcement failed", "kind", kind, "member_id", member, "err", err)
	return err
}
