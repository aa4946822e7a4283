package httpapi

import "net/http"

// registerSharingRoutes registers hidden titles and shares.
func (s *Server) registerSharingRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("PUT /v1/members/{member}/hidden-titles/{title}", s.handleHideTitle)
	v1("DELETE /v1/members/{member}/hidden-titles/{title}", s.handleUnhideTitle)
	v1("GET /v1/members/{member}/hidden-titles", memberGet(s.Service.HiddenTitles, "titles"))
	v1("GET /v1/members/{member}/shares", memberGet(s.Service.Shares, "shares"))
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
