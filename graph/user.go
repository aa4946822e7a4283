package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
)

// User is the member's Facebook identity (an app-scoped ID since v2.0).
type User struct {
	ID   string
	Name string
}

// Me reads GET /me?fields=id,name.
func (s *Session) Me(ctx context.Context) (User, error) {
	var w struct {
		ID   flexString `json:"id"`
		Name string     `json:"name"`
	}
	if _, err := s.Get(ctx, "/me", url.Values{"fields": {"id,name"}}, &w); err != nil {
		return User{}, err
	}
	if w.ID == "" {
		return User{}, fmt.Errorf("graph: /me: answer has no id")
	}
	return User{ID: string(w.ID), Name: w.Name}, nil
}

// Permission is one entry of /me/permissions.
type Permission struct {
	Name   string // e.g. "publish_actions"
	Status string // granted, declined or expired
}

// Permission statuses.
const (
	StatusGranted  = "granted"
	StatusDeclined = "declined"
	StatusExpired  = "expired"
)

// Permissions reads GET /me/permissions. It accepts the v2 shape
// [{"permission":..,"status":..}] and the flat v1.0 shape
// [{"installed":1,"publish_actions":1}] (each key set to 1 is granted).
func (s *Session) Permissions(ctx context.Context) ([]Permission, error) {
	var w struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if _, err := s.Get(ctx, "/me/permissions", nil, &w); err != nil {
		return nil, err
	}
	var perms []Permission
	for _, m := range w.Data {
		if raw, ok := m["permission"]; ok {
			var p Permission
			if err := json.Unmarshal(raw, &p.Name); err != nil {
				return nil, fmt.Errorf("graph: /me/permissions: decode permission: %w", err)
			}
			if st, ok := m["status"]; ok {
				if err := json.Unmarshal(st, &p.Status); err != nil {
					return nil, fmt.Errorf("graph: /me/permissions: decode status: %w", err)
				}
			}
			perms = append(perms, p)
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			var n json.Number
			if json.Unmarshal(m[k], &n) == nil && n.String() == "1" {
				perms = append(perms, Permission{Name: k, Status: StatusGranted})
			}
		}
	}
	return perms, nil
}

// Granted reports whether perms has name with status granted.
func Granted(perms []Permission, name string) bool {
	return slices.Contains(perms, Permission{Name: name, Status: StatusGranted})
}

// RevokeApp removes the app for the user (DELETE /me/permissions): every
// token the user has for the app stops working.
func (s *Session) RevokeApp(ctx context.Context) error {
	return s.deleteConfirmed(ctx, "/me/permissions", "DELETE /me/permissions")
}

// deleteConfirmed sends DELETE path and requires Facebook to confirm it
// (true or {"success":true}); what names the call in the error.
func (s *Session) deleteConfirmed(ctx context.Context, path, what string) error {
	res, err := s.Delete(ctx, path, nil, nil)
	if err != nil {
		return err
	}
	if !isSuccessBody(res.Body) {
		return fmt.Errorf("%w: %s", ErrNotSuccessful, what)
	}
	return nil
}

// Friend is one entry of /me/friends: a friend who also uses the app.
type Friend struct {
	ID   string
	Name string
}

type wireFriend struct {
	ID   flexString `json:"id"`
	Name string     `json:"name"`
}

// Friends reads GET /me/friends (limit=100) to the end, for at most maxPages
// pages. totalCount is summary.total_count: all of the user's friends,
// including those who do not use the app (0 when absent). The list is all or
// nothing: on any error no friends are returned, so a caller can never take
// a partial list for the whole one.
func (s *Session) Friends(ctx context.Context, maxPages int) (friends []Friend, totalCount int, err error) {
	params := url.Values{"limit": {"100"}, "fields": {"id,name"}}
	for p, err := range s.Pages(ctx, "/me/friends", params, maxPages) {
		if err != nil {
			return nil, 0, err
		}
		if len(p.Summary) > 0 {
			var sum struct {
				TotalCount flexInt `json:"total_count"`
			}
			if json.Unmarshal(p.Summary, &sum) == nil && sum.TotalCount > 0 {
				totalCount = int(clampInt(int64(sum.TotalCount)))
			}
		}
		for _, raw := range p.Data {
			var f wireFriend
			if err := json.Unmarshal(raw, &f); err != nil {
				return nil, 0, fmt.Errorf("graph: /me/friends: decode friend: %w", err)
			}
			if f.ID == "" {
				continue
			}
			friends = append(friends, Friend{ID: string(f.ID), Name: f.Name})
		}
	}
	return friends, totalCount, nil
}
