package service

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"watchshare/graph"
	"watchshare/store"
)

// outboxLease is how long a claimed outbox item is reserved for the process
// that claimed it.
const outboxLease = 2 * time.Minute

// RunOutbox works through due Facebook deletions and revocations (at most
// limit of them) and returns how many completed. Items that fail are
// retried later with backoff; they are durable in the store, so a restart
// loses nothing.
func (s *Service) RunOutbox(ctx context.Context, limit int) int {
	items, err := s.db.ClaimOutbox(ctx, s.now(), limit, outboxLease)
	if err != nil {
		s.log.WarnContext(ctx, "claiming outbox items", slog.Any("error", err))
		return 0
	}
	done := 0
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		if s.runOutboxItem(ctx, it) {
			done++
		}
	}
	return done
}

// Housekeep drops what has outlived its purpose: outbox items past their
// expiry (a revocation kept seven days with its token) and connect
// attempts whose state expired unused.
func (s *Service) Housekeep(ctx context.Context) {
	if n, err := s.db.DropExpiredOutbox(ctx, s.now()); err != nil {
		s.log.WarnContext(ctx, "dropping expired outbox items", slog.Any("error", err))
	} else if n > 0 {
		s.log.WarnContext(ctx, "outbox items expired without completing", slog.Int("count", n))
		s.metrics.outbox.WithLabelValues("any", "expired").Add(float64(n))
	}
	if err := s.db.CheckpointIfOwed(ctx); err != nil {
		s.log.WarnContext(ctx, "checkpointing the WAL after a purge", slog.Any("error", err))
	}
	if _, err := s.db.DeleteExpiredOAuthStates(ctx); err != nil {
		s.log.WarnContext(ctx, "dropping expired connect attempts", slog.Any("error", err))
	}
}

// runOutboxItem performs one deletion or revocation and records the result.
func (s *Service) runOutboxItem(ctx context.Context, it store.OutboxItem) bool {
	token := it.Token
	if token == "" {
		t, err := s.db.MemberToken(ctx, it.MemberID)
		switch {
		case errors.Is(err, store.ErrNotConnected):
			// No token left to act with: the member disconnected and the
			// revocation removed the app's access to their posts anyway.
			s.log.InfoContext(ctx, "outbox item dropped: member no longer connected", slog.String("kind", string(it.Kind)), slog.String("member_id", it.MemberID))
			_ = s.db.CompleteOutbox(ctx, it.ID)
			s.metrics.outbox.WithLabelValues(string(it.Kind), "dropped").Inc()
			return false
		case err != nil:
			s.retryOutbox(ctx, it, err)
			return false
		}
		token = t
	}
	sess := s.graph.Session(token)
	var err error
	switch it.Kind {
	case store.OutboxDeleteAction:
		err = sess.DeleteObject(ctx, it.ActionID)
		s.countGraph("delete", err)
		if isGone(err) {
			err = nil
		}
	case store.OutboxRevoke:
		err = sess.RevokeApp(ctx)
		s.countGraph("revoke", err)
		if graph.IsTokenInvalid(err) {
			err = nil // already revoked or removed by the user
		}
	default:
		err = errors.New("unknown outbox kind " + string(it.Kind))
	}
	if err != nil && it.OwnToken && graph.IsTokenInvalid(err) {
		// The item outlived the connection and its token is dead (the member
		// removed the app at Facebook, which offers them to delete the app's
		// posts there): no retry can succeed, so keep nothing for it.
		s.log.WarnContext(ctx, "outbox item abandoned: Facebook no longer accepts its token", slog.String("kind", string(it.Kind)), slog.String("member_id", it.MemberID))
		if cerr := s.db.CompleteOutbox(ctx, it.ID); cerr != nil {
			s.log.WarnContext(ctx, "recording an abandoned outbox item", slog.Any("error", cerr))
		}
		s.metrics.outbox.WithLabelValues(string(it.Kind), "abandoned").Inc()
		return false
	}
	if err != nil {
		s.retryOutbox(ctx, it, err)
		return false
	}
	if cerr := s.db.CompleteOutbox(ctx, it.ID); cerr != nil {
		s.log.WarnContext(ctx, "recording a completed outbox item", slog.Any("error", cerr))
		return false
	}
	s.metrics.outbox.WithLabelValues(string(it.Kind), "done").Inc()
	return true
}

// isGone reports a deletion of an object that no longer exists (already
// deleted, or removed with the user's account): the goal is reached.
func isGone(err error) bool {
	var ae *graph.APIError
	return errors.As(err, &ae) && ae.Code == 100
}

func (s *Service) retryOutbox(ctx context.Context, it store.OutboxItem, cause error) {
	backoff := min(time.Duration(1<<min(it.Attempts, 10))*5*time.Second, time.Hour)
	backoff += rand.N(backoff/4 + 1)
	msg := clip(cause.Error(), 300)
	if err := s.db.RetryOutbox(ctx, it.ID, s.now().Add(backoff), msg); err != nil {
		s.log.WarnContext(ctx, "rescheduling an outbox item", slog.Any("error", err))
	}
	s.metrics.outbox.WithLabelValues(string(it.Kind), "retried").Inc()
	s.log.InfoContext(ctx, "outbox item will be retried", slog.String("kind", string(it.Kind)), slog.String("member_id", it.MemberID), slog.Duration("in", backoff), slog.String("error", msg))
}
