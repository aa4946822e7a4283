package httpapi

import "net/http"

// registerSharingRoutes registers hidden titles and shares.
func (s *Server) registerSharingRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("PUT /v1/members/{member}/hidden-titles/{title}", s.handleHideTitle)
	v1("DELETE /v1/members/{member}/hidden-titles/{title}", s.handleUnhideTitle)
	v1("GET /v1/members/{member}/hidden-titles", s.handleListHidden)
	v1("GET /v1/members/{member}/shares", s.handleListShares)
}

func (s *Server) handleHideTitle(w http.ResponseWriter, r *http.Request) error {
	var ignored map[string]any
	if err := decodeBody(w, r, &ignored); err != nil {
		return err
	}
	res, err := s.Service.HideTitle(r.Context(), r.PathValue("member"), r.PathValue("title"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleUnhideTitle(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Service.UnhideTitle(r.Context(), r.PathValue("member"), r.PathValue("title"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleListHidden(w http.ResponseWriter, r *http.Request) error {
	titles, err := s.Service.HiddenTitles(r.Context(), r.PathValue("member"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"titles": titles})
	return nil
}

func (s *Server) handleListShares(w http.ResponseWriter, r *http.Request) error {
	shares, err := s.Service.Shares(r.Context(), r.PathValue("member"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": shares})
	return nil
}
