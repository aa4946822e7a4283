package service

import (
	"context"
	"time"

	"watchshare/store"
)

// MemberView is GET /v1/members/{member}.
type MemberView struct {
	MemberID         string     `json:"member_id"`
	Status           string     `json:"status"`
	FacebookUserID   *string    `json:"facebook_user_id"`
	Name             *string    `json:"name"`
	Scopes           []string   `json:"scopes"`
	CanPublish       bool       `json:"can_publish"`
	SharingEnabled   bool       `json:"sharing_enabled"`
	ConnectedAt      *time.Time `json:"connected_at"`
	ConsentExpiresAt *time.Time `json:"consent_expires_at"`
	LastFriendSync   *time.Time `json:"last_friend_sync"`
}

// Member reports a member's connection and settings. Any valid member id
// answers, also one that never connected.
func (s *Service) Member(ctx context.Context, memberID string) (MemberView, error) {
	if err := checkMember(memberID); err != nil {
		return MemberView{}, err
	}
	m, err := s.db.GetMember(ctx, memberID)
	if err != nil {
		return MemberView{}, storeErr("get member", err)
	}
	return s.view(m), nil
}

func (s *Service) view(m store.Member) MemberView {
	v := MemberView{
		MemberID:       m.MemberID,
		Status:         string(m.Status),
		Scopes:         m.Scopes,
		CanPublish:     m.CanPublish,
		SharingEnabled: m.SharingEnabled,
	}
	if v.Status == "" {
		v.Status = string(store.StatusNotConnected)
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if m.Status != store.StatusNotConnected && m.Status != "" {
		v.FacebookUserID = ptr(m.FacebookUserID)
		v.Name = ptr(m.Name)
		v.ConnectedAt = timePtr(m.ConnectedAt)
		if !m.ConsentAt.IsZero() {
			v.ConsentExpiresAt = timePtr(m.ConsentAt.Add(s.rules.ConsentTTL))
		}
		v.LastFriendSync = timePtr(m.LastFriendSync)
	}
	return v
}

// SetSharing pauses (false) or resumes (true) all posting for the member.
func (s *Service) SetSharing(ctx context.Context, memberID string, enabled bool) (MemberView, error) {
	if err := checkMember(memberID); err != nil {
		return MemberView{}, err
	}
	if err := s.db.SetSharingEnabled(ctx, memberID, enabled); err != nil {
		return MemberView{}, storeErr("set sharing", err)
	}
	return s.Member(ctx, memberID)
}

func ptr(s string) *string { return &s }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
