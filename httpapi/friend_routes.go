package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"watchshare/service"
)

// registerFriendRoutes registers the friends list, activity and sync.
func (s *Server) registerFriendRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/members/{member}/friends", memberGet(s.Service.Friends, ""))
	v1("GET /v1/members/{member}/friends/activity", s.handleActivity)
	v1("POST /v1/members/{member}/friends/sync", s.handleSyncFriends)
}

func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return &apiError{status: http.StatusBadRequest, code: "invalid_limit", message: "limit must be a number between 1 and 200"}
		}
		limit = n
	}
	var before time.Time
	if v := r.URL.Query().Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return &apiError{status: http.StatusBadRequest, code: "invalid_before", message: "before must be an RFC 3339 time (the shared_at of the last entry seen)"}
		}
		before = t
	}
	acts, err := s.Service.Activity(r.Context(), r.PathValue("member"), limit, before)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"activity": acts})
	return nil
}

func (s *Server) handleSyncFriends(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Service.SyncFriends(r.Context(), r.PathValue("member"))
	var re *service.RetryError
	if errors.As(err, &re) {
		w.Header().Set("Retry-After", strconv.Itoa(int(re.After.Seconds())+1))
		return &apiError{status: http.StatusServiceUnavailable, code: "rate_limited", message: "Facebook asked us to slow down; the friend list is unchanged, try again later"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
