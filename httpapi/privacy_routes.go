package httpapi

import (
	"net/http"

	"watchshare/service"
)

// registerPrivacyRoutes registers disconnect, export and Facebook's callbacks.
func (s *Server) registerPrivacyRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error), mux *http.ServeMux) {
	v1("POST /v1/members/{member}/disconnect", s.handleDisconnect)
	v1("GET /v1/members/{member}/export", memberGet(s.Service.Export, ""))
	mux.Handle("POST /facebook/deauthorize", s.handle(s.handleDeauthorize))
	mux.Handle("POST /facebook/data-deletion", s.handle(s.handleDataDeletion))
	mux.Handle("GET /facebook/data-deletion/{code}", s.handle(s.handleDeletionStatus))
}

func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		DeletePosts bool `json:"delete_posts"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	res, err := s.Service.Disconnect(r.Context(), r.PathValue("member"), body.DeletePosts, service.PathDisconnect)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// signedRequest reads the form field signed_request of a Facebook callback.
func signedRequest(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return "", &apiError{status: http.StatusBadRequest, code: "invalid_signed_request", message: "expected a form with signed_request"}
	}
	return r.PostForm.Get("signed_request"), nil
}

func (s *Server) handleDeauthorize(w http.ResponseWriter, r *http.Request) error {
	sr, err := signedRequest(w, r)
	if err != nil {
		return err
	}
	if err := s.Service.Deauthorize(r.Context(), sr); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleDataDeletion(w http.ResponseWriter, r *http.Request) error {
	sr, err := signedRequest(w, r)
	if err != nil {
		return err
	}
	ans, err := s.Service.DataDeletion(r.Context(), sr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) handleDeletionStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Service.DeletionRequestStatus(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
