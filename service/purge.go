package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"watchshare/graph"
	"watchshare/store"
)

// Purge paths, recorded in the audit and the metrics.
const (
	PathDisconnect     = store.PurgeDisconnect
	PathNATSDisconnect = store.PurgeNATSDisconnect
	PathDeauthorize    = store.PurgeDeauthorize
	PathDataDeletion   = store.PurgeDataDeletion
)

// revokeRetention is how long a revocation (and the token it needs, kept
// encrypted) is retried when Facebook is down at disconnect time.
const revokeRetention = 7 * 24 * time.Hour

// DisconnectResult is POST /v1/members/{member}/disconnect.
type DisconnectResult struct {
	Status     string      `json:"status"`
	Revocation string      `json:"revocation"` // done or pending
	Purged     PurgeCounts `json:"purged"`
}

// PurgeCounts says how many rows a purge removed.
type PurgeCounts = store.PurgeCounts

// Disconnect ends a member's connection from our side: with deletePosts,
// every posted action is deleted on Facebook first; then the app is revoked
// (DELETE /me/permissions) and everything imported from or published to
// Facebook for the member is purged in one transaction. If Facebook cannot
// be reached the purge happens anyway and the revocation is retried
// durably. Idempotent.
func (s *Service) Disconnect(ctx context.Context, memberID string, deletePosts bool, path string) (DisconnectResult, error) {
	if err := checkMember(memberID); err != nil {
		return DisconnectResult{}, err
	}
	token, err := s.db.MemberToken(ctx, memberID)
	if errors.Is(err, store.ErrNotConnected) {
		// Nothing at Facebook to revoke; still purge whatever is left.
		counts, err := s.db.PurgeMember(ctx, memberID, store.PurgeOptions{Path: path})
		if err != nil {
			return DisconnectResult{}, storeErr("purge", err)
		}
		s.afterPurge(ctx, memberID, path, counts)
		return DisconnectResult{Status: "not_connected", Revocation: "done", Purged: counts}, nil
	} else if err != nil {
		return DisconnectResult{}, storeErr("member token", err)
	}
	sess := s.graph.Session(token)
	gctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	var leftover []store.OutboxItem
	if deletePosts {
		shares, err := s.db.ListShares(ctx, memberID)
		if err != nil {
			return DisconnectResult{}, storeErr("list shares", err)
		}
		for _, sh := range shares {
			if sh.ActionID == "" {
				continue
			}
			err := sess.DeleteObject(gctx, sh.ActionID)
			s.countGraph("delete", err)
			if err != nil && !isGone(err) {
				leftover = append(leftover, store.OutboxItem{Kind: store.OutboxDeleteAction, MemberID: memberID, ActionID: sh.ActionID, Token: token})
			}
		}
	}
	revocation := "done"
	var revoke *store.OutboxItem
	queueRevoke := func(at time.Time) { // the purge fills in the Facebook id
		revocation = "pending"
		revoke = &store.OutboxItem{
			Kind: store.OutboxRevoke, MemberID: memberID, Token: token,
			NextAttemptAt: at, ExpiresAt: s.now().Add(revokeRetention),
		}
	}
	// A post in flight may still land at Facebook after the purge; the
	// worker then deletes it with the member's token, so the revocation
	// waits until such a post has surely settled.
	inFlight, err := s.db.InFlightShares(ctx, memberID, s.now().Add(-graph.DefaultTimeout))
	if err != nil {
		return DisconnectResult{}, storeErr("in-flight shares", err)
	}
	queued, err := s.db.QueuedDeletions(ctx, memberID) // titles hidden while Facebook failed
	if err != nil {
		return DisconnectResult{}, storeErr("queued deletions", err)
	}
	switch {
	case inFlight > 0:
		s.log.InfoContext(ctx, "posts in flight: the revocation waits until they settle", slog.String("member_id", memberID), slog.Int("in_flight", inFlight))
		queueRevoke(s.now().Add(graph.DefaultTimeout))
	case len(leftover) > 0 || queued > 0:
		// Deleting a post needs the app's access: revoking now would make
		// the queued deletions impossible. The outbox revokes after them.
		s.log.InfoContext(ctx, "post deletions pending: the revocation waits for them", slog.String("member_id", memberID), slog.Int("pending_deletions", len(leftover)+queued))
		queueRevoke(time.Time{})
	default:
		err := sess.RevokeApp(gctx)
		s.countGraph("revoke", err)
		if err != nil && !graph.IsTokenInvalid(err) {
			s.log.WarnContext(ctx, "revoking the app failed; will retry", slog.String("member_id", memberID), slog.Any("error", err))
			queueRevoke(time.Time{})
		}
	}
	// Deletions the member asked for (hidden titles) outlive the purge.
	counts, err := s.db.PurgeMember(ctx, memberID, store.PurgeOptions{Path: path, Revoke: revoke, KeepDeletions: true, Deletions: leftover})
	if err != nil {
		return DisconnectResult{}, storeErr("purge", err)
	}
	s.afterPurge(ctx, memberID, path, counts)
	return DisconnectResult{Status: "not_connected", Revocation: revocation, Purged: counts}, nil
}

func (s *Service) afterPurge(ctx context.Context, memberID, path string, counts PurgeCounts) {
	s.metrics.purges.WithLabelValues(path).Inc()
	s.log.InfoContext(ctx, "member purged", slog.String("member_id", memberID), slog.String("path", path), slog.Any("counts", counts))
	s.announce(ctx, "disconnected", memberID, map[string]any{"path": path})
}

// signedRequestMaxAge bounds how old a callback's issued_at may be.
const signedRequestMaxAge = 24 * time.Hour

// badSignedRequest is the answer to a forged, malformed, unsigned or expired
// signed_request (400, nothing purged).
func badSignedRequest(msg string, cause error) error {
	return &Error{Kind: KindInvalid, Code: "invalid_signed_request", Message: msg, Err: cause}
}

func (s *Service) parseSignedRequest(sr string) (graph.SignedRequest, error) {
	req, err := graph.ParseSignedRequest(s.graph.AppSecret, sr, s.now(), signedRequestMaxAge)
	if err != nil {
		return graph.SignedRequest{}, badSignedRequest("signed_request is missing, malformed, expired or not signed by Facebook", err)
	}
	if req.UserID == "" || req.UserID == "0" {
		return graph.SignedRequest{}, badSignedRequest("signed_request has no user_id", nil)
	}
	return req, nil
}

// Deauthorize handles Facebook's deauthorize callback: the user removed the
// app, so the member is purged as for a disconnect (no revoke call: the app
// is already gone).
func (s *Service) Deauthorize(ctx context.Context, signedRequest string) error {
	req, err := s.parseSignedRequest(signedRequest)
	if err != nil {
		return err
	}
	memberID, counts, err := s.db.PurgeByFacebookUserID(ctx, req.UserID, store.PurgeOptions{Path: PathDeauthorize})
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "deauthorize for a user we do not hold")
		return nil
	} else if err != nil {
		return storeErr("purge", err)
	}
	s.afterPurge(ctx, memberID, PathDeauthorize, counts)
	return nil
}

// DeletionAnswer is the data-deletion callback's answer.
type DeletionAnswer struct {
	URL              string `json:"url"`
	ConfirmationCode string `json:"confirmation_code"`
}

// DataDeletion handles Facebook's data-deletion request: everything about
// the user is purged, the hidden-title list too, and a confirmation code
// with a status URL is returned.
func (s *Service) DataDeletion(ctx context.Context, signedRequest string) (DeletionAnswer, error) {
	req, err := s.parseSignedRequest(signedRequest)
	if err != nil {
		return DeletionAnswer{}, err
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return DeletionAnswer{}, err
	}
	code := hex.EncodeToString(b)
	if err := s.db.CreateDeletionRequest(ctx, code); err != nil {
		return DeletionAnswer{}, storeErr("create deletion request", err)
	}
	memberID, counts, err := s.db.PurgeByFacebookUserID(ctx, req.UserID, store.PurgeOptions{Path: PathDataDeletion, DeleteHidden: true})
	switch {
	case errors.Is(err, store.ErrNotFound):
		// We hold nothing for this user: the request is complete at once.
	case err != nil:
		return DeletionAnswer{}, storeErr("purge", err)
	default:
		s.afterPurge(ctx, memberID, PathDataDeletion, counts)
	}
	if err := s.db.CompleteDeletionRequest(ctx, code); err != nil {
		return DeletionAnswer{}, storeErr("complete deletion request", err)
	}
	return DeletionAnswer{URL: s.publicURL + "/facebook/data-deletion/" + code, ConfirmationCode: code}, nil
}

// DeletionStatus is GET /facebook/data-deletion/{code}.
type DeletionStatus struct {
	ConfirmationCode string     `json:"confirmation_code"`
	Status           string     `json:"status"`
	RequestedAt      time.Time  `json:"requested_at"`
	CompletedAt      *time.Time `json:"completed_at,omitempty"`
}

// DeletionRequestStatus reports a data-deletion request.
func (s *Service) DeletionRequestStatus(ctx context.Context, code string) (DeletionStatus, error) {
	if len(code) == 0 || len(code) > 64 {
		return DeletionStatus{}, &Error{Kind: KindNotFound, Code: "not_found", Message: "no such deletion request"}
	}
	r, err := s.db.GetDeletionRequest(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return DeletionStatus{}, &Error{Kind: KindNotFound, Code: "not_found", Message: "no such deletion request"}
	} else if err != nil {
		return DeletionStatus{}, storeErr("get deletion request", err)
	}
	return DeletionStatus{ConfirmationCode: r.Code, Status: r.Status, RequestedAt: r.RequestedAt.UTC(), CompletedAt: timePtr(r.CompletedAt)}, nil
}

// Export returns everything held about the member, without any token.
func (s *Service) Export(ctx context.Context, memberID string) (store.Export, error) {
	if err := checkMember(memberID); err != nil {
		return store.Export{}, err
	}
	e, err := s.db.Export(ctx, memberID)
	if err != nil {
		return store.Export{}, storeErr("export", err)
	}
	return e, nil
}
