package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"watchshare/graph"
	"watchshare/sharing"
	"watchshare/store"
)

// Outcome is what became of one watch event.
type Outcome struct {
	Posted   bool
	ActionID string
	Skipped  sharing.SkipReason // set when not posted
}

// RetryError asks the caller to redeliver the event after After (zero: the
// caller's own backoff). The event is not lost.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string { return "retry later: " + e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// PermanentError means retrying cannot help: the event is dead-lettered
// with Reason.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string { return e.Reason }
func (e *PermanentError) Unwrap() error { return e.Err }

// UnavailableError means a dependency (the store) is down: not the event's
// fault. The caller pauses consumption and redelivers later.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "dependency unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

const (
	// reconcileWindow is how far before the attempt a found action may have
	// been published and still count as that attempt (clock skew).
	reconcileWindow = 5 * time.Minute
	// usageThreshold is the X-App-Usage percentage above which posting slows down.
	usageThreshold = 90
)

// storeFailure tells the caller how to settle an event whose store call
// failed: an outage (read-only, disk full, I/O error, locked) pauses
// consumption; anything else is retried with backoff and, if it keeps
// failing, dead-lettered by the worker.
func storeFailure(op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	if store.IsUnavailable(err) {
		return &UnavailableError{Err: err}
	}
	return &RetryError{Err: err}
}

// throttle remembers Facebook's rate limits: the whole app (code 4, high
// X-App-Usage) or one member (code 17).
type throttle struct {
	mu      sync.Mutex
	app     time.Time
	members map[string]time.Time
}

func (t *throttle) wait(now time.Time, memberID string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.app.Sub(now)
	if until, ok := t.members[memberID]; ok {
		if m := until.Sub(now); m > d {
			d = m
		} else if m <= 0 {
			delete(t.members, memberID)
		}
	}
	return max(d, 0)
}

func (t *throttle) hold(now time.Time, memberID string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	until := now.Add(d)
	if memberID == "" {
		if until.After(t.app) {
			t.app = until
		}
		return
	}
	if t.members == nil {
		t.members = make(map[string]time.Time)
	}
	if until.After(t.members[memberID]) {
		t.members[memberID] = until
	}
}

// ProcessWatch applies the share rules to one watch event and posts it at
// most once. A nil error means the event reached a terminal state (posted
// or deliberately skipped); *RetryError, *PermanentError and
// *UnavailableError tell the caller how to settle the message.
func (s *Service) ProcessWatch(ctx context.Context, ev sharing.WatchEvent) (Outcome, error) {
	out, err := s.processWatch(ctx, ev)
	if s.log.Enabled(ctx, slog.LevelDebug) { // no fields built for nothing: this runs for every event
		s.log.DebugContext(ctx, "watch event", slog.String("event_id", ev.EventID), slog.String("member_id", ev.MemberID),
			slog.String("title_id", ev.Title.ID), slog.Bool("posted", out.Posted), slog.String("skipped", string(out.Skipped)), slog.Any("error", err))
	}
	var (
		re *RetryError
		pe *PermanentError
		ue *UnavailableError
	)
	switch {
	case err == nil && out.Posted:
		s.metrics.posted.Inc()
	case err == nil:
		s.metrics.skip(out.Skipped)
	case errors.As(err, &pe):
		s.metrics.deadLettered.Inc()
	case errors.As(err, &ue):
		s.metrics.paused.Inc()
	case errors.As(err, &re):
		s.metrics.retried.Inc()
	}
	return out, err
}

func (s *Service) processWatch(ctx context.Context, ev sharing.WatchEvent) (Outcome, error) {
	// A decision can be overtaken by another delivery recording a share of
	// the same title between the read and the write; then decide again.
	for attempt := 0; ; attempt++ {
		out, err := s.decideAndPost(ctx, ev)
		if errors.Is(err, store.ErrStale) && attempt < 3 {
			continue
		}
		if errors.Is(err, store.ErrStale) {
			return Outcome{}, &RetryError{Err: err}
		}
		return out, err
	}
}

func (s *Service) decideAndPost(ctx context.Context, ev sharing.WatchEvent) (Outcome, error) {
	now := s.now()
	// Most heartbeats end here, with no lookup at all.
	if reason := s.rules.Eligible(now, ev); reason != sharing.SkipNone {
		return Outcome{Skipped: reason}, nil
	}
	sc, err := s.db.ShareContext(ctx, ev.MemberID, ev.Title.ID)
	if err != nil {
		return Outcome{}, storeFailure("share context", err)
	}
	if sc.Member.Status == store.StatusNotConnected || sc.Member.Status == "" {
		return Outcome{Skipped: sharing.SkipNotConnected}, nil
	}
	d := s.rules.Decide(now, ev, memberState(sc))
	switch {
	case d.Post:
	case d.Reason == sharing.SkipPostInFlight:
		return s.resumePending(ctx, ev, *sc.LastShare)
	default:
		return Outcome{Skipped: d.Reason}, nil
	}
	if wait := s.throttle.wait(now, ev.MemberID); wait > 0 {
		return Outcome{}, &RetryError{After: wait, Err: errors.New("facebook rate limit in force")}
	}
	var prevID int64
	if sc.LastShare != nil {
		prevID = sc.LastShare.ID
	}
	sh, err := s.db.BeginShareAfter(ctx, store.Share{
		MemberID: ev.MemberID, TitleID: ev.Title.ID, TitleName: ev.Title.Name,
		TitleURL: ev.Title.URL, TitleType: string(ev.Title.Type),
		SessionID: ev.SessionID, EventID: ev.EventID,
	}, prevID)
	var pe *store.PendingShareError
	switch {
	case errors.As(err, &pe):
		return s.resumePending(ctx, ev, pe.Existing)
	case errors.Is(err, store.ErrNotConnected):
		return Outcome{Skipped: sharing.SkipNotConnected}, nil
	case errors.Is(err, store.ErrHidden):
		return Outcome{Skipped: sharing.SkipHidden}, nil
	case errors.Is(err, store.ErrSharingDisabled):
		return Outcome{Skipped: sharing.SkipSharingPaused}, nil
	case errors.Is(err, store.ErrStale):
		return Outcome{}, err
	case errors.Is(err, store.ErrConflict):
		return Outcome{Skipped: sharing.SkipAlreadyProcessed}, nil
	case err != nil:
		return Outcome{}, storeFailure("begin share", err)
	}
	return s.post(ctx, ev, sh)
}

func memberState(sc store.ShareContext) sharing.MemberState {
	m := sc.Member
	st := sharing.MemberState{
		Status:         sharing.ConnectionStatus(m.Status),
		CanPublish:     m.CanPublish,
		ConsentAt:      m.ConsentAt,
		SharingEnabled: m.SharingEnabled,
		TitleHidden:    sc.Hidden,
	}
	if p := sc.LastShare; p != nil {
		at := p.SharedAt
		if p.Status == store.SharePending || at.IsZero() {
			at = p.AttemptedAt
		}
		st.LastShare = &sharing.PriorShare{EventID: p.EventID, SessionID: p.SessionID, At: at, Pending: p.Status == store.SharePending}
	}
	return st
}

// resumePending deals with a post of this title that was attempted but not
// recorded: a crash between the Graph call and the commit, a lost answer, or
// another worker posting right now. A recent attempt by someone else is left
// alone (retry later); an attempt by this very event, or a stale one, is
// reconciled against Facebook before anything is posted again.
func (s *Service) resumePending(ctx context.Context, ev sharing.WatchEvent, p store.Share) (Outcome, error) {
	age := s.now().Sub(p.AttemptedAt)
	if p.EventID != ev.EventID && age < s.staleAfter {
		return Outcome{}, &RetryError{After: s.staleAfter - age + time.Second, Err: errors.New("another delivery is posting this title")}
	}
	if p.EventID == ev.EventID && age < s.staleAfter/3 {
		// Our own attempt, very recent: most likely a redelivery racing the
		// first delivery that is still in its Graph call.
		return Outcome{}, &RetryError{After: s.staleAfter/3 - age + time.Second, Err: errors.New("this event's post is in flight")}
	}
	taken, err := s.db.TakeOverShare(ctx, p.ID, p.EventID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Settled meanwhile (posted, abandoned or purged): decide again.
		return Outcome{}, &RetryError{After: time.Second, Err: errors.New("pending post settled meanwhile")}
	case err != nil:
		return Outcome{}, storeFailure("take over share", err)
	}
	token, err := s.db.MemberToken(ctx, taken.MemberID)
	if errors.Is(err, store.ErrNotConnected) {
		return Outcome{Skipped: sharing.SkipNotConnected}, nil
	} else if err != nil {
		return Outcome{}, storeFailure("member token", err)
	}
	found, err := s.reconcile(ctx, s.graph.Session(token), taken)
	if err != nil {
		return s.graphFailure(ctx, taken, err, false)
	}
	if found != nil {
		return s.complete(ctx, ev, taken, token, found.ID, found.PublishTime)
	}
	return s.postWithToken(ctx, ev, taken, token)
}

// reconcile looks for an action of the pending share among the member's
// recent video.watches: same object URL, published no earlier than the
// attempt (less a skew window).
func (s *Service) reconcile(ctx context.Context, sess *graph.Session, p store.Share) (*graph.WatchAction, error) {
	acts, err := sess.Watches(ctx, 3)
	s.countGraph("reconcile", err)
	if err != nil && !errors.Is(err, graph.ErrTooManyPages) {
		return nil, err
	}
	for i := range acts {
		a := acts[i]
		if a.ObjectURL != p.TitleURL {
			continue
		}
		if !a.PublishTime.IsZero() && a.PublishTime.Before(p.AttemptedAt.Add(-reconcileWindow)) {
			continue
		}
		return &a, nil
	}
	return nil, nil
}

func (s *Service) post(ctx context.Context, ev sharing.WatchEvent, sh store.Share) (Outcome, error) {
	token, err := s.db.MemberToken(ctx, sh.MemberID)
	if err != nil {
		_ = s.db.AbandonShare(ctx, sh.ID)
		if errors.Is(err, store.ErrNotConnected) {
			return Outcome{Skipped: sharing.SkipNotConnected}, nil
		}
		return Outcome{}, storeFailure("member token", err)
	}
	return s.postWithToken(ctx, ev, sh, token)
}

func (s *Service) postWithToken(ctx context.Context, ev sharing.WatchEvent, sh store.Share, token string) (Outcome, error) {
	sess := s.graph.Session(token)
	opts := graph.WatchOptions{}
	if ev.WatchedSeconds > 0 {
		opts.StartTime = ev.OccurredAt.Add(-time.Duration(ev.WatchedSeconds) * time.Second)
	}
	actionID, res, err := sess.PublishWatch(ctx, sharing.TitleType(sh.TitleType).GraphProperty(), sh.TitleURL, opts)
	s.countGraph("publish", err)
	if res != nil && res.Usage.Max() > usageThreshold {
		s.throttle.hold(s.now(), "", usageBackoff(res.Usage))
	}
	if err != nil {
		if graph.IsDuplicate(err) {
			// Facebook says this exact action was just posted: find it.
			if found, rerr := s.reconcile(ctx, sess, sh); rerr == nil && found != nil {
				return s.complete(ctx, ev, sh, token, found.ID, found.PublishTime)
			}
		}
		return s.graphFailure(ctx, sh, err, true)
	}
	return s.complete(ctx, ev, sh, token, actionID, s.now())
}

// complete records a post. If the member was purged meanwhile the action is
// deleted at Facebook at once and nothing is recorded; if the title was
// hidden meanwhile the deletion is queued in the same transaction.
func (s *Service) complete(ctx context.Context, ev sharing.WatchEvent, sh store.Share, token, actionID string, at time.Time) (Outcome, error) {
	if at.IsZero() {
		at = s.now()
	}
	hidden, err := s.db.CompleteShare(ctx, sh.ID, actionID, at)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.InfoContext(ctx, "post landed after the member was purged; deleting it", slog.String("member_id", sh.MemberID))
		s.deleteOrphan(ctx, sh, token, actionID)
		return Outcome{Skipped: sharing.SkipNotConnected}, nil
	case err != nil:
		// The post exists at Facebook but is not recorded: the pending row
		// stays, and the redelivery reconciles instead of posting again.
		return Outcome{}, storeFailure("complete share", err)
	}
	if hidden {
		// The store queued the deletion with the completion; the outbox
		// runner deletes the action.
		return Outcome{Skipped: sharing.SkipHidden}, nil
	}
	s.announce(ctx, "shared", sh.MemberID, map[string]any{"title_id": sh.TitleID, "action_id": actionID})
	return Outcome{Posted: true, ActionID: actionID}, nil
}

func (s *Service) deleteOrphan(ctx context.Context, sh store.Share, token, actionID string) {
	err := s.graph.Session(token).DeleteObject(ctx, actionID)
	s.countGraph("delete", err)
	if err == nil {
		return
	}
	rerr := s.db.RecordOrphanAction(ctx, store.OutboxItem{
		Kind: store.OutboxDeleteAction, MemberID: sh.MemberID, ActionID: actionID, Token: token,
	})
	if rerr != nil {
		s.log.ErrorContext(ctx, "could not queue the deletion of an orphan post", slog.String("member_id", sh.MemberID), slog.Any("error", rerr))
	}
}

// graphFailure settles a failed Graph call on a pending share: the pending
// row is dropped when the post surely did not happen, kept (for
// reconciliation) when it may have. A token Facebook no longer accepts ends
// the event (skipped: reconnect_required); every other failure is an error
// that tells the caller how to settle.
func (s *Service) graphFailure(ctx context.Context, sh store.Share, err error, posting bool) (Outcome, error) {
	ferr := s.graphFailureErr(ctx, sh, err, posting)
	if ferr == nil {
		return Outcome{Skipped: sharing.SkipReconnect}, nil
	}
	return Outcome{}, ferr
}

func (s *Service) graphFailureErr(ctx context.Context, sh store.Share, err error, posting bool) error {
	ambiguous := posting && graph.IsAmbiguous(err)
	// A failed reconciliation read (posting false) tells nothing about the
	// earlier attempt, which may have landed: its pending row stays.
	if posting && !ambiguous {
		if aerr := s.db.AbandonShare(ctx, sh.ID); aerr != nil && !errors.Is(aerr, store.ErrNotFound) {
			return storeFailure("abandon share", aerr)
		}
	}
	switch {
	case ambiguous:
		// Keep the pending row: the redelivery reconciles before posting.
		return &RetryError{After: s.staleAfter / 3, Err: err}
	case graph.IsTokenInvalid(err):
		if merr := s.markReconnectRequired(ctx, sh.MemberID); merr != nil {
			return storeFailure("mark reconnect required", merr)
		}
		return nil // terminal: skipped until the member reconnects
	case graph.IsRateLimited(err):
		return &RetryError{After: s.holdOff(sh.MemberID, err), Err: err}
	case graph.IsTransient(err):
		return &RetryError{Err: err}
	default:
		return &PermanentError{Reason: "graph: " + graphErrorSummary(err), Err: err}
	}
}

func graphErrorSummary(err error) string {
	var ae *graph.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("code=%d subcode=%d type=%s message=%q fbtrace_id=%s", ae.Code, ae.Subcode, ae.Type, clip(ae.Message, 200), ae.TraceID)
	}
	return clip(err.Error(), 300)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// markReconnectRequired records that Facebook no longer accepts the
// member's token and announces it the first time.
func (s *Service) markReconnectRequired(ctx context.Context, memberID string) error {
	changed, err := s.db.MarkReconnectRequired(ctx, memberID)
	if err != nil {
		return err
	}
	if changed {
		s.announce(ctx, "reconnect_required", memberID, nil)
	}
	return nil
}

// holdOff holds the member (code 17: their own budget) or the whole app (4,
// 32, 613, 80001-80014) off Facebook after the rate-limit error err, and
// returns for how long.
func (s *Service) holdOff(memberID string, err error) time.Duration {
	d := s.rateLimitBackoff(err)
	if graph.RateLimitScopeOf(err) != graph.ScopeUser {
		memberID = ""
	}
	s.throttle.hold(s.now(), memberID, d)
	return d
}

// rateLimitBackoff is how long to hold off after a rate-limit error: a
// fifth of RateLimitBackoff for a member, all of it for the app, with jitter so that held events do
// not all return at once.
func (s *Service) rateLimitBackoff(err error) time.Duration {
	base := s.rlBackoff
	if graph.RateLimitScopeOf(err) == graph.ScopeUser {
		base = s.rlBackoff / 5
	}
	return base + rand.N(base/4+1)
}

func usageBackoff(u graph.Usage) time.Duration {
	if d := u.RegainAccessIn(); d > 0 {
		return d
	}
	return 30*time.Second + rand.N(15*time.Second)
}

func (s *Service) countGraph(op string, err error) {
	result := "ok"
	if err != nil {
		result = graph.ClassOf(err).String()
	}
	s.metrics.graph.WithLabelValues(op, result).Inc()
}
