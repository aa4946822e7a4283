package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"watchshare/graph"
	"watchshare/oauth"
	"watchshare/sharing"
	"watchshare/store"
)

// Announcer publishes the social.event.* announcements. kind is one of
// connected, shared, unshared, reconnect_required, disconnected.
type Announcer interface {
	Announce(ctx context.Context, kind, memberID string, fields map[string]any) error
}

// FriendSyncTrigger asks for a friend sync of one member, e.g. by publishing
// social.cmd.friends.sync; nil means no sync is started after connect.
type FriendSyncTrigger func(ctx context.Context, memberID string) error

// Config wires a Service. DB, Graph and Flow are required.
type Config struct {
	DB         *store.DB
	Graph      *graph.Client
	Flow       *oauth.Flow
	Rules      sharing.Rules
	AccountURL string // where the browser lands after the connect flow
	PublicURL  string // base of the data-deletion status URL

	FriendSyncEvery   time.Duration // zero means 24h
	Announcer         Announcer     // nil means no announcements
	TriggerFriendSync FriendSyncTrigger
	Metrics           *Metrics // nil means no metrics

	// PendingStaleAfter is how old an unrecorded post attempt may be before
	// another delivery reconciles it with Facebook; zero means 90s.
	PendingStaleAfter time.Duration
	// RateLimitBackoff is how long the whole app holds off after an
	// app-wide rate limit (a member is held a fifth of it); zero means 5m.
	RateLimitBackoff time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

// Service runs the use cases.
type Service struct {
	db         *store.DB
	graph      *graph.Client
	flow       *oauth.Flow
	rules      sharing.Rules
	accountURL string
	publicURL  string
	syncEvery  time.Duration
	announcer  Announcer
	triggerFS  FriendSyncTrigger
	metrics    *Metrics
	log        *slog.Logger
	now        func() time.Time
	throttle   throttle
	staleAfter time.Duration
	rlBackoff  time.Duration
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Graph == nil || cfg.Flow == nil {
		return nil, errors.New("service: DB, Graph and Flow are required")
	}
	s := &Service{
		db: cfg.DB, graph: cfg.Graph, flow: cfg.Flow,
		rules:      cfg.Rules.WithDefaults(),
		accountURL: cfg.AccountURL, publicURL: cfg.PublicURL,
		syncEvery: cfg.FriendSyncEvery, announcer: cfg.Announcer, triggerFS: cfg.TriggerFriendSync,
		metrics: cfg.Metrics, log: cfg.Logger, now: cfg.Now,
	}
	s.staleAfter = cfg.PendingStaleAfter
	if s.staleAfter <= 0 {
		s.staleAfter = 90 * time.Second
	}
	s.rlBackoff = cfg.RateLimitBackoff
	if s.rlBackoff <= 0 {
		s.rlBackoff = 5 * time.Minute
	}
	if s.syncEvery <= 0 {
		s.syncEvery = 24 * time.Hour
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	return s, nil
}

// Rules are the share rules in force (defaults applied).
func (s *Service) Rules() sharing.Rules { return s.rules }

func (s *Service) announce(ctx context.Context, kind, memberID string, fields map[string]any) {
	if s.announcer == nil {
		return
	}
	if err := s.announcer.Announce(ctx, kind, memberID, fields); err != nil {
		s.log.WarnContext(ctx, "announce failed", slog.String("kind", kind), slog.String("member_id", memberID), slog.Any("error", err))
	}
}

// Error is a use-case error with a machine code and an HTTP-ish kind, so the
// HTTP API maps it without reading its text.
type Error struct {
	Kind    Kind
	Code    string // snake_case, e.g. invalid_member_id
	Message string // human text, safe to show
	Err     error  // cause, never shown
}

// Kind classifies an Error.
type Kind int

// Kinds of errors.
const (
	KindInvalid     Kind = iota + 1 // 400
	KindNotFound                    // 404
	KindConflict                    // 409
	KindUnavailable                 // 503: store or Facebook unreachable
	KindUpstream                    // 502: Facebook answered with an error
)

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func invalidf(code, format string, a ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: fmt.Sprintf(format, a...)}
}

// storeErr turns a store failure into an Error callers can map: an outage
// of the database is KindUnavailable (503, and the worker pauses).
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	err = fmt.Errorf("%s: %w", op, err)
	if !store.IsUnavailable(err) {
		return err // an internal error: 500 over HTTP, retried by the worker
	}
	return &Error{Kind: KindUnavailable, Code: "store_unavailable", Message: "the database cannot be reached",
		Err: &UnavailableError{Err: err}}
}

func checkMember(memberID string) error {
	if !sharing.ValidID(memberID) {
		return invalidf("invalid_member_id", "member id must be 1–64 characters of [A-Za-z0-9_.-]")
	}
	return nil
}

func checkTitle(titleID string) error {
	if !sharing.ValidID(titleID) {
		return invalidf("invalid_title_id", "title id must be 1–64 characters of [A-Za-z0-9_.-]")
	}
	return nil
}
