package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"watchshare/graph"
	"watchshare/store"
)

// maxFriendPages bounds a friend sync: 100 friends a page, 5,000 friends is
// Facebook's own cap.
const maxFriendPages = 60

// SyncResult is POST /v1/members/{member}/friends/sync.
type SyncResult struct {
	Friends int `json:"friends"`
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

// friendSyncLease bounds how long one sync holds the member's lease: a sync
// reads at most maxFriendPages pages, each bounded by the Graph client's
// timeout; a holder that dies leaves the lease to run out.
const friendSyncLease = 2 * time.Minute

// friendSyncWait is how long SyncFriends waits for another process's sync of
// the same member to finish before it answers sync_in_progress.
const friendSyncWait = 15 * time.Second

// errSyncBusy is SyncFriendsIfIdle's answer while another sync runs.
var errSyncBusy = &Error{Kind: KindConflict, Code: "sync_in_progress", Message: "a friend sync of this member is already running"}

// SyncFriends reads the member's whole friend list from Facebook and
// replaces the stored one atomically. Any failure leaves the previous list
// intact; 190 marks the member reconnect_required; a rate limit returns a
// *RetryError. One sync of a member runs at a time across every process (a
// lease in the store): if another is running, SyncFriends waits for it (at
// most friendSyncWait) and then syncs again, so the answer is never older
// than the call.
func (s *Service) SyncFriends(ctx context.Context, memberID string) (SyncResult, error) {
	wait := time.NewTimer(friendSyncWait)
	defer wait.Stop()
	for {
		res, err := s.SyncFriendsIfIdle(ctx, memberID)
		if !errors.Is(err, errSyncBusy) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return SyncResult{}, ctx.Err()
		case <-wait.C:
			return SyncResult{}, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SyncFriendsIfIdle is SyncFriends for commands: when another sync of the
// member is running it returns at once with a KindConflict error, code
// sync_in_progress (that sync's result is as fresh as this one would be).
func (s *Service) SyncFriendsIfIdle(ctx context.Context, memberID string) (SyncResult, error) {
	if err := checkMember(memberID); err != nil {
		return SyncResult{}, err
	}
	token, err := s.db.MemberToken(ctx, memberID)
	if errors.Is(err, store.ErrNotConnected) {
		s.metrics.syncs.WithLabelValues("not_connected").Inc()
		return SyncResult{}, &Error{Kind: KindConflict, Code: "not_connected", Message: "the member has not connected Facebook"}
	} else if err != nil {
		return SyncResult{}, storeErr("member token", err)
	}
	if wait := s.throttle.wait(s.now(), memberID); wait > 0 {
		s.metrics.syncs.WithLabelValues("deferred").Inc()
		return SyncResult{}, &RetryError{After: wait, Err: errors.New("facebook rate limit in force")}
	}
	lease, err := s.db.ClaimFriendSync(ctx, memberID, s.now().Add(friendSyncLease))
	switch {
	case errors.Is(err, store.ErrFriendSyncBusy):
		s.metrics.syncs.WithLabelValues("busy").Inc()
		return SyncResult{}, errSyncBusy
	case errors.Is(err, store.ErrNotConnected):
		s.metrics.syncs.WithLabelValues("not_connected").Inc()
		return SyncResult{}, &Error{Kind: KindConflict, Code: "not_connected", Message: "the member has no usable Facebook connection"}
	case err != nil:
		return SyncResult{}, storeErr("claim friend sync", err)
	}
	replaced := false
	defer func() { // a completed sync gave the lease back with the new list
		if replaced {
			return
		}
		if err := s.db.ReleaseFriendSync(context.WithoutCancel(ctx), memberID, lease); err != nil {
			s.log.WarnContext(ctx, "releasing the friend-sync lease (it runs out by itself)", slog.String("member_id", memberID), slog.Any("error", err))
		}
	}()
	friends, _, err := s.graph.Session(token).Friends(ctx, maxFriendPages)
	s.countGraph("friends", err)
	if err != nil {
		s.metrics.syncs.WithLabelValues("failed").Inc()
		return SyncResult{}, s.syncFailure(ctx, memberID, err)
	}
	list := make([]store.Friend, 0, len(friends))
	for _, f := range friends {
		list = append(list, store.Friend{FacebookUserID: f.ID, Name: f.Name})
	}
	now := s.now()
	added, removed, err := s.db.ReplaceFriendsLeased(ctx, memberID, lease, list, now, s.nextFriendSync(now))
	replaced = err == nil
	switch {
	case errors.Is(err, store.ErrNotConnected):
		// Purged while we were reading: write nothing.
		s.metrics.syncs.WithLabelValues("not_connected").Inc()
		return SyncResult{}, &Error{Kind: KindConflict, Code: "not_connected", Message: "the member disconnected during the sync"}
	case err != nil:
		return SyncResult{}, storeErr("replace friends", err)
	}
	s.metrics.syncs.WithLabelValues("ok").Inc()
	s.log.InfoContext(ctx, "friends synced", slog.String("member_id", memberID), slog.Int("friends", len(list)), slog.Int("added", added), slog.Int("removed", removed))
	return SyncResult{Friends: len(list), Added: added, Removed: removed}, nil
}

// nextFriendSync spreads the next sync over ±10% of the period so that
// members who connected together do not all sync in the same minute.
func (s *Service) nextFriendSync(now time.Time) time.Time {
	jitter := s.syncEvery / 5
	return now.Add(s.syncEvery - jitter/2 + rand.N(jitter+1))
}

func (s *Service) syncFailure(ctx context.Context, memberID string, err error) error {
	switch {
	case graph.IsTokenInvalid(err):
		if merr := s.markReconnectRequired(ctx, memberID); merr != nil {
			return storeErr("mark reconnect required", merr)
		}
		return &Error{Kind: KindConflict, Code: "reconnect_required", Message: "Facebook no longer accepts the member's token; they must connect again", Err: err}
	case graph.IsRateLimited(err):
		return &RetryError{After: s.holdOff(memberID, err), Err: err}
	case graph.IsTransient(err), errors.Is(err, graph.ErrTooManyPages):
		return &Error{Kind: KindUnavailable, Code: "facebook_unavailable", Message: "Facebook could not be reached; the friend list is unchanged", Err: err}
	default:
		return &Error{Kind: KindUpstream, Code: "facebook_error", Message: "Facebook refused the friend list request", Err: fmt.Errorf("%s", graphErrorSummary(err))}
	}
}

// FriendView is one entry of GET .../friends.
type FriendView struct {
	MemberID       string `json:"member_id"`
	Name           string `json:"name"`
	FacebookUserID string `json:"facebook_user_id"`
}

// FriendsList is GET /v1/members/{member}/friends.
type FriendsList struct {
	Friends  []FriendView `json:"friends"`
	SyncedAt *time.Time   `json:"synced_at"`
}

// Friends lists the member's Facebook friends who are connected members.
func (s *Service) Friends(ctx context.Context, memberID string) (FriendsList, error) {
	if err := checkMember(memberID); err != nil {
		return FriendsList{}, err
	}
	fs, synced, err := s.db.ListFriendMembers(ctx, memberID)
	if err != nil {
		return FriendsList{}, storeErr("list friends", err)
	}
	out := FriendsList{Friends: make([]FriendView, 0, len(fs)), SyncedAt: timePtr(synced)}
	for _, f := range fs {
		out.Friends = append(out.Friends, FriendView{MemberID: f.MemberID, Name: f.Name, FacebookUserID: f.FacebookUserID})
	}
	return out, nil
}

// ActivityView is one entry of GET .../friends/activity.
type ActivityView struct {
	MemberID  string    `json:"member_id"`
	Name      string    `json:"name"`
	TitleID   string    `json:"title_id"`
	TitleName string    `json:"title_name"`
	SharedAt  time.Time `json:"shared_at"`
}

// Activity lists what the member's connected friends shared, newest first,
// at most limit entries strictly before before (zero: now).
func (s *Service) Activity(ctx context.Context, memberID string, limit int, before time.Time) ([]ActivityView, error) {
	if err := checkMember(memberID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		return nil, invalidf("invalid_limit", "limit must be between 1 and 200")
	}
	acts, err := s.db.FriendsActivity(ctx, memberID, limit, before)
	if err != nil {
		return nil, storeErr("friends activity", err)
	}
	out := make([]ActivityView, 0, len(acts))
	for _, a := range acts {
		out = append(out, ActivityView{MemberID: a.MemberID, Name: a.Name, TitleID: a.TitleID, TitleName: a.TitleName, SharedAt: a.SharedAt.UTC()})
	}
	return out, nil
}

// ClaimDueFriendSyncs lists connected members whose friend sync is due and
// moves their next sync a lease ahead, so that a second scheduler tick (from
// this process or another) does not pick them again while their sync
// commands are queued; a sync that never completes comes due again then.
func (s *Service) ClaimDueFriendSyncs(ctx context.Context, limit int) ([]string, error) {
	now := s.now()
	ids, err := s.db.ClaimDueFriendSyncs(ctx, now, now.Add(dueSyncRetry), limit)
	if err != nil {
		return nil, storeErr("due friend syncs", err)
	}
	return ids, nil
}

// dueSyncRetry is when a claimed due sync that never completed (its command
// lost, the member rate limited) comes due again.
const dueSyncRetry = 30 * time.Minute

// ConnectedMembers lists every connected member (for {"all":true} syncs).
func (s *Service) ConnectedMembers(ctx context.Context) ([]string, error) {
	ids, err := s.db.ConnectedMemberIDs(ctx)
	if err != nil {
		return nil, storeErr("connected members", err)
	}
	return ids, nil
}
