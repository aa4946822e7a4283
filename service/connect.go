package service

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"watchshare/graph"
	"watchshare/oauth"
	"watchshare/store"
)

// StartConnect begins the connect flow for a member: it stores a single-use
// state bound to the member (with the PKCE verifier, encrypted) and returns
// the Facebook dialog URL.
func (s *Service) StartConnect(ctx context.Context, memberID, returnTo string) (string, error) {
	if err := checkMember(memberID); err != nil {
		return "", err
	}
	p, err := s.flow.Begin(memberID, returnTo) // checks returnTo
	if errors.Is(err, oauth.ErrBadReturnTo) {
		return "", invalidf("invalid_return_to", "return_to must be a relative path starting with a single /")
	} else if err != nil {
		return "", err
	}
	err = s.db.CreateOAuthState(ctx, store.OAuthState{
		State: p.State, MemberID: memberID, Verifier: p.Verifier, ReturnTo: returnTo,
		CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt,
	})
	if err != nil {
		return "", storeErr("create oauth state", err)
	}
	return p.AuthorizeURL, nil
}

// CompleteConnect handles Facebook's redirect to the callback and returns
// where to send the browser. Every outcome is a redirect to the account page
// with facebook=connected|denied|error&reason=...; nothing is stored unless
// the connection succeeded.
func (s *Service) CompleteConnect(ctx context.Context, q url.Values) string {
	state := q.Get("state")
	if state == "" || len(state) > 256 {
		return s.connectOutcome(ctx, "", "", oauth.Failed("invalid_state"))
	}
	st, err := s.db.ConsumeOAuthState(ctx, state)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired):
		return s.connectOutcome(ctx, "", "", oauth.Failed("invalid_state"))
	case err != nil:
		s.log.ErrorContext(ctx, "connect: consuming state", slog.Any("error", err))
		return s.connectOutcome(ctx, "", "", oauth.Failed("unavailable"))
	}
	if q.Get("error") != "" {
		return s.connectOutcome(ctx, st.MemberID, st.ReturnTo, oauth.Denied)
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return s.connectOutcome(ctx, st.MemberID, st.ReturnTo, oauth.Failed("exchange_failed"))
	}
	outcome := s.connect(ctx, st.MemberID, code, st.Verifier)
	return s.connectOutcome(ctx, st.MemberID, st.ReturnTo, outcome)
}

func (s *Service) connectOutcome(ctx context.Context, memberID, returnTo string, o oauth.Outcome) string {
	s.metrics.connects.WithLabelValues(outcomeLabel(o)).Inc()
	s.log.InfoContext(ctx, "connect finished", slog.String("member_id", memberID), slog.String("outcome", o.Status), slog.String("reason", o.Reason))
	return oauth.RedirectURL(s.accountURL, returnTo, o)
}

func outcomeLabel(o oauth.Outcome) string {
	if o.Reason != "" {
		return o.Status + ":" + o.Reason
	}
	return o.Status
}

// connect exchanges the code, upgrades to a long-lived token, reads the
// user and their permissions and stores the connection.
func (s *Service) connect(ctx context.Context, memberID, code, verifier string) oauth.Outcome {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	short, err := s.flow.Exchange(ctx, code, verifier)
	if err != nil {
		s.log.WarnContext(ctx, "connect: code exchange failed", slog.String("member_id", memberID), slog.Any("error", err))
		if errors.Is(err, oauth.ErrUnavailable) {
			return oauth.Failed("facebook_unavailable")
		}
		return oauth.Failed("exchange_failed")
	}
	long, err := s.graph.ExchangeToken(ctx, short.AccessToken)
	if err != nil {
		return s.graphConnectFailure(ctx, memberID, "long-lived token exchange", err)
	}
	sess := s.graph.Session(long.AccessToken)
	me, err := sess.Me(ctx)
	if err != nil {
		return s.graphConnectFailure(ctx, memberID, "reading /me", err)
	}
	perms, err := sess.Permissions(ctx)
	if err != nil {
		return s.graphConnectFailure(ctx, memberID, "reading /me/permissions", err)
	}
	var scopes []string
	for _, p := range perms {
		if p.Status == "granted" {
			scopes = append(scopes, p.Name)
		}
	}
	now := s.now()
	_, err = s.db.SaveConnection(ctx, store.Connection{
		MemberID: memberID, FacebookUserID: me.ID, Name: me.Name, Scopes: scopes,
		CanPublish: graph.Granted(perms, "publish_actions"),
		Token:      long.AccessToken, TokenExpiresAt: long.ExpiresAt,
		ConnectedAt: now, ConsentAt: now,
	})
	switch {
	case errors.Is(err, store.ErrFacebookAccountInUse):
		return oauth.Failed("facebook_account_in_use")
	case err != nil:
		s.log.ErrorContext(ctx, "connect: storing the connection", slog.String("member_id", memberID), slog.Any("error", err))
		return oauth.Failed("unavailable")
	}
	s.announce(ctx, "connected", memberID, map[string]any{"can_publish": graph.Granted(perms, "publish_actions")})
	if s.triggerFS != nil {
		if err := s.triggerFS(ctx, memberID); err != nil {
			s.log.WarnContext(ctx, "connect: starting the friend sync", slog.String("member_id", memberID), slog.Any("error", err))
		}
	}
	return oauth.Connected
}

func (s *Service) graphConnectFailure(ctx context.Context, memberID, step string, err error) oauth.Outcome {
	s.log.WarnContext(ctx, "connect: "+step+" failed", slog.String("member_id", memberID), slog.Any("error", err))
	if graph.IsTransient(err) || graph.IsRateLimited(err) { // incl. transport errors
		return oauth.Failed("facebook_unavailable")
	}
	return oauth.Failed("exchange_failed")
}
