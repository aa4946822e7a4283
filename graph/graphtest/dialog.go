package graphtest

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// dialogRequest is the parsed query of /dialog/oauth.
type dialogRequest struct {
	clientID, redirectURI, state string
	responseType                 []string
	challenge, method            string
	authType                     string
	scopes                       []string // requested, deduplicated, public_profile first
}

func parseDialog(p url.Values) dialogRequest {
	d := dialogRequest{
		clientID:    p.Get("client_id"),
		redirectURI: p.Get("redirect_uri"),
		state:       p.Get("state"),
		challenge:   p.Get("code_challenge"),
		method:      p.Get("code_challenge_method"),
		authType:    p.Get("auth_type"),
	}
	sep := func(r rune) bool { return r == ',' || r == ' ' || r == '+' }
	d.responseType = strings.FieldsFunc(p.Get("response_type"), sep)
	d.scopes = []string{"public_profile"}
	for _, sc := range strings.FieldsFunc(p.Get("scope"), sep) {
		if !slices.Contains(d.scopes, sc) {
			d.scopes = append(d.scopes, sc)
		}
	}
	if d.challenge != "" && d.method == "" {
		d.method = "plain"
	}
	return d
}

// validateDialog returns a title and message for the error page, or "" when the
// request may proceed. Nothing here ever redirects: a bad client_id or
// redirect_uri must not send the browser anywhere.
func (s *Server) validateDialog(d dialogRequest) (title, msg string) {
	if d.clientID == "" || d.clientID != s.appID() {
		return "Invalid App ID", "The provided app ID does not look like a valid app ID."
	}
	u, err := url.Parse(d.redirectURI)
	if d.redirectURI == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return "Can't Load URL", "The domain of this URL isn't included in the app's domains. To be able to load this URL, add all domains and subdomains of your app to the App Domains field in your app settings."
	}
	if len(s.RedirectURIs) > 0 && !slices.Contains(s.RedirectURIs, d.redirectURI) {
		return "URL Blocked", "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings. Make sure Client and Web OAuth Login are on and add all your app domains as Valid OAuth Redirect URIs."
	}
	for _, rt := range d.responseType {
		if rt != "code" && rt != "granted_scopes" {
			return "Unsupported response_type", "This emulator implements the server-side flow only: response_type must be code (optionally with granted_scopes)."
		}
	}
	if d.challenge != "" && d.method != "S256" && d.method != "plain" {
		return "Invalid code_challenge_method", "code_challenge_method must be S256 or plain."
	}
	return "", ""
}

// serveDialog implements GET (consent page) and POST (Allow / Cancel) of
// /dialog/oauth.
func (s *Server) serveDialog(req *request) *response {
	d := parseDialog(req.params)
	call := Call{Time: s.now(), Method: req.method, Path: req.path, Route: req.method + " /dialog/oauth", Params: redact(req.params)}
	resp := s.dialogResponse(req, d, &call)
	call.Status = resp.status
	s.record(call)
	return resp
}

func (s *Server) dialogResponse(req *request, d dialogRequest, call *Call) *response {
	if req.method != http.MethodGet && req.method != http.MethodPost {
		return s.dialogError(http.StatusMethodNotAllowed, "Method Not Allowed", "The dialog answers GET and POST only.")
	}
	if title, msg := s.validateDialog(d); title != "" {
		return s.dialogError(http.StatusBadRequest, title, msg)
	}
	if req.method == http.MethodGet {
		return s.consentPage(req, d)
	}
	switch req.params.Get("action") {
	case "cancel":
		q := "error=access_denied&error_reason=user_denied&error_description=Permissions+error."
		return redirect(d.redirectURI, q, d.state)
	case "allow":
	default:
		return s.dialogError(http.StatusBadRequest, "Invalid Request", "Choose Allow or Cancel.")
	}
	userID := req.params.Get("user")
	call.UserID = userID

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	if st.users[userID] == nil {
		return s.dialogError(http.StatusBadRequest, "Unknown User", fmt.Sprintf("There is no user %q. Pick one of the listed users.", userID))
	}
	ticked := req.params["grant"]
	prev := st.authz[userID]
	var granted, declined []string
	for _, sc := range d.scopes {
		switch {
		case sc == "public_profile":
			granted = append(granted, sc)
		case prev.status(sc) == "declined" && d.authType != "rerequest":
			// Once declined, not asked again without auth_type=rerequest.
		case slices.Contains(ticked, sc):
			granted = append(granted, sc)
		default:
			declined = append(declined, sc)
		}
	}
	s.grantLocked(userID, granted, declined)
	c := &authCode{
		code:        "AQ" + randString(96),
		redirectURI: d.redirectURI,
		userID:      userID,
		challenge:   d.challenge,
		method:      d.method,
		issuedAt:    s.now(),
	}
	st.codes[c.code] = c
	q := "code=" + url.QueryEscape(c.code)
	if slices.Contains(d.responseType, "granted_scopes") {
		q += "&granted_scopes=" + url.QueryEscape(strings.Join(st.authz[userID].grantedList(), ","))
	}
	return redirect(d.redirectURI, q, d.state)
}

// redirect answers 302 to redirectURI with q (and state) appended to its
// query, plus Facebook's "#_=_" fragment.
func redirect(redirectURI, q, state string) *response {
	if state != "" {
		q += "&state=" + url.QueryEscape(state)
	}
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
		if strings.HasSuffix(redirectURI, "?") || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	r := newResponse(http.StatusFound)
	r.header.Set("Location", redirectURI+sep+q+"#_=_")
	return r
}

func (s *Server) dialogError(status int, title, msg string) *response {
	var b strings.Builder
	errorTmpl.Execute(&b, map[string]string{"Title": title, "Message": msg})
	r := htmlResponse(status, b.String())
	r.errText = title + ": " + msg
	return r
}

func (s *Server) consentPage(req *request, d dialogRequest) *response {
	type scopeRow struct {
		Name     string
		Required bool
	}
	var rows []scopeRow
	for _, sc := range d.scopes {
		rows = append(rows, scopeRow{sc, sc == "public_profile"})
	}
	hidden := url.Values{}
	for k, v := range req.params {
		if k != "user" && k != "grant" && k != "action" {
			hidden[k] = v
		}
	}
	action := "/dialog/oauth"
	if req.version != "" {
		action = "/" + req.version + action
	}
	var b strings.Builder
	err := consentTmpl.Execute(&b, map[string]any{
		"AppName": s.appName(),
		"Action":  action,
		"Hidden":  hidden,
		"Users":   s.Users(),
		"Scopes":  rows,
	})
	if err != nil {
		return s.dialogError(http.StatusInternalServerError, "Template Error", err.Error())
	}
	return htmlResponse(http.StatusOK, b.String())
}

const pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:Helvetica,Arial,sans-serif;background:#e9ebee;margin:0}
header{background:#3b5998;color:#fff;padding:10px 20px;font-weight:bold}
main{background:#fff;max-width:480px;margin:30px auto;padding:20px;border:1px solid #dddfe2;border-radius:3px}
button{padding:6px 16px;margin-right:8px}.allow{background:#4267b2;color:#fff;border:0}
label{display:block;margin:4px 0}</style></head><body><header>facebook (graphtest emulator)</header><main>`

var errorTmpl = template.Must(template.New("error").Parse(pageHead +
	`<h1 id="error-title">{{.Title}}</h1><p id="error-message">{{.Message}}</p></main></body></html>`))

var consentTmpl = template.Must(template.New("consent").Parse(strings.Replace(pageHead, "{{.Title}}", "Log in With Facebook", 1) + `
<h1>{{.AppName}} would like to access your information</h1>
<form method="post" action="{{.Action}}">
{{range $k, $vs := .Hidden}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}
<p><label for="user">Continue as</label>
{{if .Users}}<select id="user" name="user">{{range .Users}}<option value="{{.ID}}">{{.Name}} ({{.ID}})</option>{{end}}</select>
{{else}}<em>No users. Load some (graphtest.Server.Load) or add them with AddUser.</em>{{end}}</p>
<fieldset><legend>{{.AppName}} will receive:</legend>
{{range .Scopes}}{{if .Required}}<label><input type="checkbox" checked disabled> {{.Name}} (required)</label><input type="hidden" name="grant" value="{{.Name}}">
{{else}}<label><input type="checkbox" name="grant" value="{{.Name}}" checked> {{.Name}}</label>
{{end}}{{end}}</fieldset>
<p><button class="allow" type="submit" name="action" value="allow"{{if not .Users}} disabled{{end}}>Allow</button>
<button type="submit" name="action" value="cancel">Cancel</button></p>
</form></main></body></html>`))

// Approve behaves exactly like a browser that opens authorizeURL (a
// /dialog/oauth URL of this server, with any host), picks userID and
// clicks Allow with the checkboxes of grantScopes ticked. With no
// grantScopes every requested scope is granted; unticked requested scopes
// are declined. It returns the redirect Facebook would send the browser
// to (redirect_uri?code=...&state=...), or an error carrying the error
// page's text when the dialog refuses (bad client_id, redirect_uri not
// allowed, unknown user) or the emulator is down.
func (s *Server) Approve(authorizeURL, userID string, grantScopes ...string) (*url.URL, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, fmt.Errorf("graphtest: approve: %w", err)
	}
	form := u.Query()
	if len(grantScopes) == 0 {
		grantScopes = parseDialog(form).scopes
	}
	form["grant"] = grantScopes
	form.Set("user", userID)
	form.Set("action", "allow")
	return s.submitDialog(u, form)
}

// Deny behaves exactly like a browser that opens authorizeURL and clicks
// Cancel; it returns the redirect with error=access_denied.
func (s *Server) Deny(authorizeURL string) (*url.URL, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, fmt.Errorf("graphtest: deny: %w", err)
	}
	form := u.Query()
	form.Set("action", "cancel")
	return s.submitDialog(u, form)
}

// submitDialog POSTs the consent form through the same code path a browser
// uses and returns the redirect target.
func (s *Server) submitDialog(u *url.URL, form url.Values) (*url.URL, error) {
	if _, p := splitVersion(u.Path); p != "/dialog/oauth" {
		return nil, fmt.Errorf("graphtest: %q is not a /dialog/oauth URL", u.String())
	}
	r, err := http.NewRequest(http.MethodPost, u.Path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("graphtest: %w", err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Host = u.Host
	resp := s.handle(r)
	switch {
	case resp.closeConn:
		return nil, errors.New("graphtest: dialog: connection closed")
	case resp.status != http.StatusFound:
		if resp.errText != "" {
			return nil, fmt.Errorf("graphtest: dialog: %s", resp.errText)
		}
		return nil, fmt.Errorf("graphtest: dialog: HTTP %d", resp.status)
	}
	return url.Parse(resp.header.Get("Location"))
}
