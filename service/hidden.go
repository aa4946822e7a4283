package service

import (
	"context"
	"time"

	"watchshare/store"
)

// HideResult is PUT /v1/members/{member}/hidden-titles/{title}.
type HideResult struct {
	TitleID          string `json:"title_id"`
	Hidden           bool   `json:"hidden"`
	DeletedActions   int    `json:"deleted_actions"`
	PendingDeletions int    `json:"pending_deletions"`
}

// hideDeleteTimeout bounds how long a hide waits for Facebook before it
// answers; deletions not done by then are retried by the outbox runner.
const hideDeleteTimeout = 10 * time.Second

// HideTitle hides a title for the member ("don't share / unshare"): the hide
// is durable before this returns, future events of the title are never
// posted, and every action already posted for it is deleted on Facebook,
// now if possible, else by the outbox runner until done.
func (s *Service) HideTitle(ctx context.Context, memberID, titleID string) (HideResult, error) {
	if err := checkMember(memberID); err != nil {
		return HideResult{}, err
	}
	if err := checkTitle(titleID); err != nil {
		return HideResult{}, err
	}
	_, items, err := s.db.HideTitle(ctx, memberID, titleID)
	if err != nil {
		return HideResult{}, storeErr("hide title", err)
	}
	res := HideResult{TitleID: titleID, Hidden: true}
	dctx, cancel := context.WithTimeout(ctx, hideDeleteTimeout)
	defer cancel()
	for _, it := range items {
		if s.runOutboxItem(dctx, it) {
			res.DeletedActions++
		} else {
			res.PendingDeletions++
		}
	}
	s.announce(ctx, "unshared", memberID, map[string]any{"title_id": titleID, "deleted_actions": res.DeletedActions, "pending_deletions": res.PendingDeletions})
	return res, nil
}

// UnhideTitle allows a title again; nothing is re-posted.
func (s *Service) UnhideTitle(ctx context.Context, memberID, titleID string) (map[string]any, error) {
	if err := checkMember(memberID); err != nil {
		return nil, err
	}
	if err := checkTitle(titleID); err != nil {
		return nil, err
	}
	if _, err := s.db.UnhideTitle(ctx, memberID, titleID); err != nil {
		return nil, storeErr("unhide title", err)
	}
	return map[string]any{"title_id": titleID, "hidden": false}, nil
}

// HiddenTitleView is one entry of GET .../hidden-titles.
type HiddenTitleView struct {
	TitleID  string    `json:"title_id"`
	HiddenAt time.Time `json:"hidden_at"`
}

// HiddenTitles lists the member's hidden titles, newest first.
func (s *Service) HiddenTitles(ctx context.Context, memberID string) ([]HiddenTitleView, error) {
	if err := checkMember(memberID); err != nil {
		return nil, err
	}
	hs, err := s.db.ListHiddenTitles(ctx, memberID)
	if err != nil {
		return nil, storeErr("list hidden titles", err)
	}
	out := make([]HiddenTitleView, 0, len(hs))
	for _, h := range hs {
		out = append(out, HiddenTitleView{TitleID: h.TitleID, HiddenAt: h.HiddenAt.UTC()})
	}
	return out, nil
}

// ShareView is one entry of GET .../shares.
type ShareView struct {
	TitleID   string    `json:"title_id"`
	TitleName string    `json:"title_name"`
	ActionID  string    `json:"action_id"`
	SharedAt  time.Time `json:"shared_at"`
}

// Shares lists what was posted for the member, newest first.
func (s *Service) Shares(ctx context.Context, memberID string) ([]ShareView, error) {
	if err := checkMember(memberID); err != nil {
		return nil, err
	}
	sh, err := s.db.ListShares(ctx, memberID)
	if err != nil {
		return nil, storeErr("list shares", err)
	}
	out := make([]ShareView, 0, len(sh))
	for _, x := range sh {
		if x.Status != store.SharePosted {
			continue
		}
		out = append(out, ShareView{TitleID: x.TitleID, TitleName: x.TitleName, ActionID: x.ActionID, SharedAt: x.SharedAt.UTC()})
	}
	return out, nil
}
