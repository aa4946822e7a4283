package graphtest

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// fbTimeLayout is how Graph renders DateTime values ("2013-03-14T20:00:00+0000").
const fbTimeLayout = "2006-01-02T15:04:05-0700"

// userFields renders a user node for the requested fields (default id,name).
func userFields(req *request, u User) (map[string]any, *gerror) {
	fields := req.params.Get("fields")
	if fields == "" {
		fields = "id,name"
	}
	out := map[string]any{}
	for _, f := range strings.Split(fields, ",") {
		f = strings.TrimSpace(f)
		first, last, _ := strings.Cut(u.Name, " ")
		switch f {
		case "":
		case "id":
			out["id"] = u.ID
		case "name":
			out["name"] = u.Name
		case "first_name":
			out["first_name"] = first
		case "last_name":
			out["last_name"] = last
		case "link":
			out["link"] = "https://www.facebook.com/app_scoped_user_id/" + u.ID + "/"
		default:
			return nil, newError(100, fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (User)", f))
		}
	}
	return out, nil
}

// serveUser implements GET /me.
func (s *Server) serveUser(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	out, e := userFields(req, u.User)
	if e != nil {
		return s.errorJSON(e)
	}
	return jsonResponse(http.StatusOK, out)
}

// serveNode implements GET, POST and DELETE /{id} for users and actions.
func (s *Server) serveNode(req *request, rt route, a *auth) *response {
	st := s.stateLocked()
	id := rt.subject
	if u := st.users[id]; u != nil {
		if req.method != http.MethodGet {
			return s.errorJSON(unsupported(req.method, id))
		}
		out, e := userFields(req, u.User)
		if e != nil {
			return s.errorJSON(e)
		}
		return jsonResponse(http.StatusOK, out)
	}
	act := st.actions[id]
	if act == nil || act.deleted || (a.kind == TokenUser && act.UserID != a.userID) {
		return s.errorJSON(unsupported(req.method, id))
	}
	switch req.method {
	case http.MethodGet:
		return jsonResponse(http.StatusOK, s.actionJSONLocked(act))
	case http.MethodDelete:
		if a.kind == TokenUser {
			if e := s.requirePublishLocked(act.UserID); e != nil {
				return s.errorJSON(e)
			}
		}
		act.deleted = true
		return success()
	default: // POST: update the action
		if a.kind == TokenUser {
			if e := s.requirePublishLocked(act.UserID); e != nil {
				return s.errorJSON(e)
			}
		}
		upd := act.Action
		if e := applyActionParams(req.params, &upd); e != nil {
			return s.errorJSON(e)
		}
		act.Action = upd
		return success()
	}
}

// servePermissions implements GET and DELETE /me/permissions.
func (s *Server) servePermissions(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	if req.method == http.MethodDelete {
		s.revokeLocked(u.ID)
		return success()
	}
	data := []Permission{}
	if az := s.stateLocked().authz[u.ID]; az != nil {
		data = append(data, az.perms...)
	}
	return jsonResponse(http.StatusOK, map[string]any{"data": data})
}

// servePermission implements GET and DELETE /me/permissions/{permission}.
func (s *Server) servePermission(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	az := s.stateLocked().authz[u.ID]
	if req.method == http.MethodDelete {
		if rt.tail == "public_profile" {
			return s.errorJSON(newError(100, "(#100) public_profile cannot be revoked; DELETE /me/permissions removes the app"))
		}
		if az != nil && az.status(rt.tail) != "" {
			az.set(rt.tail, "declined")
		}
		return success()
	}
	data := []Permission{}
	if st := az.status(rt.tail); st != "" {
		data = append(data, Permission{rt.tail, st})
	}
	return jsonResponse(http.StatusOK, map[string]any{"data": data})
}

// serveFriends implements GET /me/friends: friends who use the app and
// granted user_friends, in friendship order, cursor-paged, with the total
// friend count in summary.
func (s *Server) serveFriends(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	st := s.stateLocked()
	if !st.authz[u.ID].granted("user_friends") {
		return jsonResponse(http.StatusOK, map[string]any{"data": []any{}})
	}
	var items []pageItem
	for _, fid := range s.friendsLocked(u.ID) {
		if !st.authz[fid].granted("user_friends") {
			continue
		}
		v, e := userFields(req, st.users[fid].User)
		if e != nil {
			return s.errorJSON(e)
		}
		items = append(items, pageItem{seq: u.friends[fid], v: v})
	}
	out, resp := s.pageLocked(req, rt, a, items, true)
	if resp != nil {
		return resp
	}
	out["summary"] = map[string]int{"total_count": len(u.friends)}
	return jsonResponse(http.StatusOK, out)
}

// serveListWatches implements GET /me/video.watches, newest first.
func (s *Server) serveListWatches(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	acts := s.liveActionsLocked(u.ID)
	items := make([]pageItem, 0, len(acts))
	for i := len(acts) - 1; i >= 0; i-- {
		items = append(items, pageItem{seq: acts[i].seq, v: s.actionJSONLocked(acts[i])})
	}
	out, resp := s.pageLocked(req, rt, a, items, false)
	if resp != nil {
		return resp
	}
	return jsonResponse(http.StatusOK, out)
}

// objectProperties maps the video.watches object properties to og:types.
var objectProperties = []struct{ prop, ogType string }{
	{"movie", "video.movie"},
	{"episode", "video.episode"},
	{"tv_show", "video.tv_show"},
	{"video", "video.other"},
}

// servePostWatch implements POST /me/video.watches.
func (s *Server) servePostWatch(req *request, rt route, a *auth) *response {
	u, e := s.subjectLocked(req, rt, a)
	if e != nil {
		return s.errorJSON(e)
	}
	if e := s.requirePublishLocked(u.ID); e != nil {
		return s.errorJSON(e)
	}
	var prop, ogType, objURL string
	n := 0
	for _, p := range objectProperties {
		if v := req.params.Get(p.prop); v != "" {
			n++
			prop, ogType, objURL = p.prop, p.ogType, v
		}
	}
	switch {
	case n == 0:
		return s.errorJSON(newError(100, "(#100) Action Requires At Least One Reference: The action you're trying to publish is invalid because it does not specify any reference objects. At least one of the following properties must be specified: movie, episode, tv_show, video."))
	case n > 1:
		return s.errorJSON(newError(100, "(#100) Only one of the properties movie, episode, tv_show, video may be specified for a video.watches action."))
	}
	if pu, err := url.Parse(objURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return s.errorJSON(newError(100, fmt.Sprintf("(#100) Object at URL '%s' of type '%s' is invalid because the given value could not be parsed as an absolute http or https URL for property '%s'.", objURL, ogType, prop)))
	}
	st := s.stateLocked()
	now := s.now()
	act := Action{
		UserID:      u.ID,
		Type:        "video.watches",
		Property:    prop,
		ObjectType:  ogType,
		ObjectURL:   objURL,
		Title:       objURL,
		StartTime:   now,
		PublishTime: now,
	}
	if s.ObjectTitle != nil {
		act.Title = s.ObjectTitle(objURL)
	}
	if e := applyActionParams(req.params, &act); e != nil {
		return s.errorJSON(e)
	}
	if st.objectIDs[objURL] == "" {
		st.objectIDs[objURL] = st.newIDLocked()
	}
	act.ObjectID = st.objectIDs[objURL]
	act.ID = st.newIDLocked()
	st.actionSeq++
	st.actions[act.ID] = &action{Action: act, seq: st.actionSeq}
	return jsonResponse(http.StatusOK, map[string]string{"id": act.ID})
}

// applyActionParams applies the optional action properties
// (start_time, end_time, expires_in, fb:explicitly_shared, no_feed_story).
func applyActionParams(p url.Values, act *Action) *gerror {
	for _, name := range []string{"start_time", "end_time"} {
		v := p.Get(name)
		if v == "" {
			continue
		}
		t, ok := parseDateTime(v)
		if !ok {
			return newError(100, fmt.Sprintf("(#100) param %s must be a valid date-time (ISO-8601 or UNIX timestamp)", name))
		}
		if name == "start_time" {
			act.StartTime = t
		} else {
			act.EndTime = t
		}
	}
	if v := p.Get("expires_in"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return newError(100, "(#100) param expires_in must be a non-negative integer")
		}
		act.ExpiresIn = n
	}
	if v := p.Get("fb:explicitly_shared"); v != "" {
		act.ExplicitlyShared = v == "true" || v == "1"
	}
	if v := p.Get("no_feed_story"); v != "" {
		act.NoFeedStory = v == "true" || v == "1"
	}
	return nil
}

// parseDateTime accepts the DateTime forms Graph accepts: a UNIX timestamp
// or ISO-8601.
func parseDateTime(v string) (time.Time, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, fbTimeLayout, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func fbFormat(t time.Time) string { return t.UTC().Format(fbTimeLayout) }

// actionJSONLocked renders an action the way GET /me/video.watches does.
func (s *Server) actionJSONLocked(act *action) map[string]any {
	from := map[string]string{"id": act.UserID}
	if u := s.stateLocked().users[act.UserID]; u != nil {
		from["name"] = u.Name
	}
	out := map[string]any{
		"id":           act.ID,
		"from":         from,
		"start_time":   fbFormat(act.StartTime),
		"publish_time": fbFormat(act.PublishTime),
		"application":  map[string]string{"id": s.appID(), "name": s.appName()},
		"data": map[string]any{act.Property: map[string]string{
			"id":    act.ObjectID,
			"url":   act.ObjectURL,
			"type":  act.ObjectType,
			"title": act.Title,
		}},
		"type":          act.Type,
		"no_feed_story": act.NoFeedStory,
		"likes":         map[string]any{"count": 0, "can_like": true, "user_likes": false},
		"comments":      map[string]any{"count": 0, "can_comment": true, "comment_order": "chronological"},
	}
	if !act.EndTime.IsZero() {
		out["end_time"] = fbFormat(act.EndTime)
	}
	if act.ExpiresIn > 0 {
		out["expires_time"] = fbFormat(act.StartTime.Add(time.Duration(act.ExpiresIn) * time.Second))
	}
	if act.ExplicitlyShared {
		out["explicitly_shared"] = true
	}
	return out
}
