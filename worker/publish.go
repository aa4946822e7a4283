package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// PublishWatch publishes a watch event on playback.watch.<memberID> with
// Nats-Msg-Id: eventID, as the playback service does, and waits for the
// PubAck. dup reports that the stream already had a message with this event
// id inside its duplicate window and dropped this one. For tests and the
// demo.
func PublishWatch(ctx context.Context, js jetstream.JetStream, memberID, eventID string, payload []byte) (dup bool, err error) {
	if !validToken(memberID) {
		return false, fmt.Errorf("worker: bad member id %q for a subject", memberID)
	}
	if eventID == "" {
		return false, errors.New("worker: empty event id")
	}
	ack, err := js.Publish(ctx, SubjectWatchPrefix+memberID, payload, jetstream.WithMsgID(eventID))
	if err != nil {
		return false, fmt.Errorf("worker: publish watch event: %w", err)
	}
	return ack.Duplicate, nil
}

// PublishCommand publishes a command on subject (social.cmd.friends.sync,
// social.cmd.disconnect) and waits for the PubAck. A non-empty msgID is sent
// as Nats-Msg-Id; dup reports that the stream dropped it as a duplicate.
func PublishCommand(ctx context.Context, js jetstream.JetStream, subject string, payload []byte, msgID string) (dup bool, err error) {
	if !strings.HasPrefix(subject, SubjectCommandPrefix) || !validToken(strings.TrimPrefix(subject, SubjectCommandPrefix)) {
		return false, fmt.Errorf("worker: bad command subject %q", subject)
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := js.Publish(ctx, subject, payload, opts...)
	if err != nil {
		return false, fmt.Errorf("worker: publish command: %w", err)
	}
	return ack.Duplicate, nil
}

// validToken reports whether s can end a subject: non-empty, no wildcards,
// no whitespace, no empty tokens.
func validToken(s string) bool {
	if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return !strings.ContainsAny(s, "*> \t\r\n")
}
