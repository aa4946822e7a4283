package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream, subject and consumer names from the contract (CONTRACT.md, "NATS").
const (
	StreamPlayback = "PLAYBACK"
	StreamCommands = "SOCIAL_CMD"
	StreamDLQ      = "SOCIAL_DLQ"

	// SubjectWatchPrefix is followed by the member id: playback.watch.<member_id>.
	SubjectWatchPrefix = "playback.watch."
	// SubjectCommandPrefix is followed by the command: social.cmd.friends.sync.
	SubjectCommandPrefix = "social.cmd."
	SubjectFriendsSync   = "social.cmd.friends.sync"
	SubjectDisconnect    = "social.cmd.disconnect"
	// SubjectDLQPrefix is followed by the original stream's name:
	// social.dlq.PLAYBACK, social.dlq.SOCIAL_CMD.
	SubjectDLQPrefix = "social.dlq."

	// DurableName is the durable pull consumer every worker process binds to.
	DurableName = "watchshare"
)

// Headers the worker adds to a dead letter, next to the original headers.
const (
	HeaderError      = "Watchshare-Error"      // why it was dead-lettered
	HeaderStream     = "Watchshare-Stream"     // original stream
	HeaderSubject    = "Watchshare-Subject"    // original subject
	HeaderSequence   = "Watchshare-Sequence"   // original stream sequence
	HeaderDeliveries = "Watchshare-Deliveries" // deliveries so far, this one included
)

// Stream limits. The duplicate windows are longer than any publisher's retry
// loop should be (the contract asks for at least 2 minutes).
const (
	PlaybackDuplicates = 5 * time.Minute
	PlaybackMaxAge     = 7 * 24 * time.Hour
	CommandDuplicates  = 5 * time.Minute
	CommandMaxAge      = 7 * 24 * time.Hour
	DLQDuplicates      = 2 * time.Minute
	DLQMaxAge          = 30 * 24 * time.Hour
)

// DLQSubject returns the dead-letter subject for a stream: social.dlq.<stream>.
func DLQSubject(stream string) string { return SubjectDLQPrefix + stream }

// StreamConfigs returns the configuration EnsureStreams creates missing
// streams with: file storage, one replica, limits retention.
func StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        StreamPlayback,
			Description: "watch events from the playback service",
			Subjects:    []string{SubjectWatchPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    1,
			Duplicates:  PlaybackDuplicates,
			MaxAge:      PlaybackMaxAge,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        StreamCommands,
			Description: "watchshare commands (friend sync, disconnect)",
			Subjects:    []string{SubjectCommandPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    1,
			Duplicates:  CommandDuplicates,
			MaxAge:      CommandMaxAge,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        StreamDLQ,
			Description: "watchshare dead letters, on social.dlq.<stream>",
			Subjects:    []string{SubjectDLQPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    1,
			Duplicates:  DLQDuplicates,
			MaxAge:      DLQMaxAge,
			Discard:     jetstream.DiscardOld,
		},
	}
}

// EnsureStreams creates PLAYBACK, SOCIAL_CMD and SOCIAL_DLQ with
// StreamConfigs if they are missing. A stream that exists is left exactly as
// it is, whatever its configuration. Safe to call from several processes at
// once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range StreamConfigs() {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("worker: look up stream %s: %w", cfg.Name, err)
	}
	_, err = js.CreateStream(ctx, cfg)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// ErrStreamNameAlreadyInUse: another process created it meanwhile.
		return fmt.Errorf("worker: create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// Drained reports whether the durable consumer on stream has delivered
// every message the stream holds and settled them all (nothing pending,
// unacknowledged or awaiting redelivery), and returns the consumer's info.
// The consumer's pending count lags a publish the stream has acknowledged,
// so "nothing pending" alone can hold before the worker saw a message;
// comparing what was delivered with the stream's last sequence closes that.
func Drained(ctx context.Context, js jetstream.JetStream, stream, durable string) (bool, *jetstream.ConsumerInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false, nil, err
	}
	sinfo, err := s.Info(ctx)
	if err != nil {
		return false, nil, err
	}
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return false, nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, nil, err
	}
	done := info.Delivered.Stream >= sinfo.State.LastSeq &&
		info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	return done, info, nil
}
