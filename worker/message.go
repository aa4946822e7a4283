package worker

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Handler is the business logic the worker runs for every message. It is
// implemented outside this package (the use-case layer).
//
// The returned error decides what happens to the message (see settle):
//   - nil: the message is acknowledged (double ack unless Config.FastAck);
//   - an error from Permanent: the message is copied unchanged to
//     social.dlq.<stream> and terminated, never retried;
//   - an error from Pause: the dependency (store, Graph) is down, not the
//     message: it is redelivered after the pause and the whole Consumer stops
//     handling messages until then;
//   - an error from RetryAfter, or any other error, or a panic: the message is
//     redelivered with backoff; after Config.MaxDeliver deliveries it is
//     dead-lettered.
//
// HandleMessage must honour ctx: it is cancelled when a Stop runs out of
// time and after Config.HandlerTimeout. It must be idempotent: JetStream
// delivers at least once, so the same message (same Sequence) can arrive
// more than once, also after it was handled successfully.
//
// HandleMessage is called concurrently for messages with different ordering
// keys (Message.Key) and one at a time, in arrival order, for messages with
// the same key.
type Handler interface {
	HandleMessage(ctx context.Context, m Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m Message) error

var _ Handler = HandlerFunc(nil)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, m Message) error { return f(ctx, m) }

// Message is one JetStream message as handed to a Handler. Data and Header
// belong to the message: a handler must not modify them.
type Message struct {
	Stream  string // PLAYBACK or SOCIAL_CMD
	Subject string // e.g. playback.watch.m123
	Data    []byte
	Header  nats.Header
	// MsgID is the Nats-Msg-Id header (the watch event id for PLAYBACK),
	// or "".
	MsgID string
	// NumDelivered counts deliveries of this message, this one included
	// (1 on the first delivery).
	NumDelivered uint64
	// Sequence is the message's sequence in its stream; it identifies the
	// message across redeliveries.
	Sequence uint64
	// Timestamp is when the stream stored the message.
	Timestamp time.Time

	key string
}

// Key is the ordering key: messages with the same key are handled one at a
// time in arrival order. For playback.watch.<member_id> it is the member id;
// for commands it is the payload's "member_id" when there is one, else the
// subject (so {"all":true} syncs are serialised with each other).
//
// Member ids are shared by both streams, so a member's watch events and
// commands never run concurrently either.
func (m Message) Key() string {
	if m.key != "" {
		return m.key
	}
	return messageKey(m.Subject, m.Data)
}

// LastDelivery reports whether this is the last delivery the consumer will
// make (NumDelivered >= maxDeliver); on it, a retryable failure dead-letters.
func (m Message) LastDelivery(maxDeliver int) bool {
	return maxDeliver > 0 && m.NumDelivered >= uint64(maxDeliver)
}

func messageKey(subject string, data []byte) string {
	if member, ok := strings.CutPrefix(subject, SubjectWatchPrefix); ok && member != "" {
		return member
	}
	if strings.HasPrefix(subject, SubjectCommandPrefix) {
		var p struct {
			MemberID string `json:"member_id"`
		}
		if json.Unmarshal(data, &p) == nil && p.MemberID != "" {
			return p.MemberID
		}
	}
	return subject
}
