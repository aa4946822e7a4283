package httpapi

import (
	"net/http"
)

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ReturnTo *string `json:"return_to"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	returnTo := ""
	if body.ReturnTo != nil {
		returnTo = *body.ReturnTo
	}
	u, err := s.Service.StartConnect(r.Context(), r.PathValue("member"), returnTo)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"authorize_url": u})
	return nil
}

// handleCallback is Facebook's redirect target. It always answers with a
// redirect to the account page; the code and state never reach a log.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	target := s.Service.CompleteConnect(r.Context(), r.URL.Query())
	http.Redirect(w, r, target, http.StatusFound)
}

func (s *Server) handleSetSharing(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Enabled == nil {
		return &apiError{status: http.StatusBadRequest, code: "invalid_body", message: `body must be {"enabled": true|false}`}
	}
	m, err := s.Service.SetSharing(r.Context(), r.PathValue("member"), *body.Enabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}
