package graphtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// gerror is a Graph API error before it is rendered.
type gerror struct {
	status    int
	code      int
	subcode   int
	typ       string
	message   string
	transient bool
	wwwAuth   string // WWW-Authenticate reason ("invalid_token", "invalid_code"), if any
}

// newError returns a Graph error with Facebook's HTTP status, type and
// transience for code, and the given message.
func newError(code int, msg string) *gerror {
	return &gerror{
		status:    statusForCode(code),
		code:      code,
		typ:       "OAuthException",
		message:   msg,
		transient: transientCode(code),
	}
}

// stdError returns the error Facebook answers for code with its usual
// message.
func stdError(code int) *gerror { return newError(code, StandardMessage(code)) }

func (e *gerror) withSubcode(sub int) *gerror  { e.subcode = sub; return e }
func (e *gerror) withType(typ string) *gerror  { e.typ = typ; return e }
func (e *gerror) withStatus(st int) *gerror    { e.status = st; return e }
func (e *gerror) withWWWAuth(r string) *gerror { e.wwwAuth = r; return e }

// statusForCode is the HTTP status Facebook uses for a Graph error code.
func statusForCode(code int) int {
	switch {
	case code == 1 || code == 2:
		return http.StatusInternalServerError
	case code == 10 || (code >= 200 && code <= 299):
		return http.StatusForbidden
	default:
		return http.StatusBadRequest
	}
}

// transientCode reports the codes Facebook marks is_transient:true.
func transientCode(code int) bool {
	switch {
	case code == 1, code == 2, code == 4, code == 17, code == 32, code == 341, code == 613:
		return true
	case code >= 80000 && code <= 80014:
		return true
	}
	return false
}

// StandardMessage returns the message Facebook sends with a Graph error
// code (used by fault injection when Fault.Message is empty).
func StandardMessage(code int) string {
	switch code {
	case 1:
		return "An unknown error occurred"
	case 2:
		return "An unexpected error has occurred. Please retry your request later."
	case 3:
		return "(#3) Application does not have the capability to make this API call."
	case 4:
		return "(#4) Application request limit reached"
	case 10:
		return "(#10) Application does not have permission for this action"
	case 17:
		return "(#17) User request limit reached"
	case 32:
		return "(#32) Page request limit reached"
	case 100:
		return "(#100) Invalid parameter"
	case 102:
		return "Session key invalid or no longer valid"
	case 104:
		return "An access token is required to request this resource."
	case 190:
		return "Invalid OAuth access token - Cannot parse access token"
	case 200:
		return "(#200) Permissions error"
	case 341:
		return "(#341) Feed action request limit reached"
	case 368:
		return "(#368) The action attempted has been deemed abusive or is otherwise disallowed"
	case 506:
		return "(#506) Duplicate status message"
	case 613:
		return "(#613) Calls to this api have exceeded the rate limit."
	case 80001:
		return "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
	}
	if code >= 80000 && code <= 80014 {
		return "(#" + strconv.Itoa(code) + ") There have been too many calls. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
	}
	return "(#" + strconv.Itoa(code) + ") An error occurred"
}

// fbTime formats times in token error messages ("Feb 7, 2014 9:54am").
func fbTime(t time.Time) string { return t.UTC().Format("Jan 2, 2006 3:04pm") }

// tokenError is the 190 error for an invalid token with the given subcode.
// expiredAt and now are used by subcode 463 only.
func (s *Server) tokenError(subcode int, expiredAt, now time.Time) *gerror {
	var msg string
	switch subcode {
	case 458:
		msg = "Error validating access token: The user has not authorized application " + s.appID() + "."
	case 459:
		msg = "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given."
	case 460:
		msg = "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."
	case 463:
		msg = fmt.Sprintf("Error validating access token: Session has expired on %s. The current time is %s.", fbTime(expiredAt), fbTime(now))
	case 464:
		msg = "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user."
	case 466:
		msg = "Error validating access token: The session was invalidated explicitly using an API call."
	case 467:
		msg = "Error validating access token: The session is invalid because the user logged out."
	default:
		msg = "Error validating access token: The session has been invalidated."
	}
	return newError(190, msg).withSubcode(subcode).withWWWAuth("invalid_token")
}

// unknownTokenError is the answer for a token the emulator never issued.
func unknownTokenError() *gerror {
	return newError(190, "Invalid OAuth access token - Cannot parse access token").withSubcode(467).withWWWAuth("invalid_token")
}

// unknownPath is the error for a route the emulator does not implement.
func unknownPath(p string) *gerror {
	return newError(2500, "Unknown path components: "+p)
}

// unsupported is Facebook's answer for an id that does not exist or is not
// visible to the caller.
func unsupported(method, id string) *gerror {
	verb := map[string]string{http.MethodGet: "get", http.MethodPost: "post", http.MethodDelete: "delete"}[method]
	if verb == "" {
		verb = "get"
	}
	return newError(100, fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", verb, id)).
		withType("GraphMethodException").withSubcode(33)
}

type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient,omitempty"`
	FBTraceID   string `json:"fbtrace_id"`
}

// errorJSON renders e in Graph's error shape.
func (s *Server) errorJSON(e *gerror) *response {
	resp := jsonResponse(e.status, errorBody{errorObject{
		Message:     e.message,
		Type:        e.typ,
		Code:        e.code,
		Subcode:     e.subcode,
		IsTransient: e.transient,
		FBTraceID:   traceID(),
	}})
	if e.wwwAuth != "" {
		resp.header.Set("WWW-Authenticate", fmt.Sprintf("OAuth \"Facebook Platform\" %q %q", e.wwwAuth, e.message))
	}
	return resp
}
