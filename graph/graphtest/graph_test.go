package graphtest_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"watchshare/graph/graphtest"
)

func TestVersionsHeadersAndTokenPlacement(t *testing.T) {
	srv := start(t, nil)
	uid := srv.AddUser(graphtest.User{ID: "10153418311072858", Name: "Jane Doe"}).ID
	tok := srv.AuthorizeApp(uid)
	pf := proof(secret, tok)

	for _, path := range []string{"/me", "/v21.0/me", "/v2.0/me"} {
		r := do(t, srv.Client(), http.MethodGet, srv.URL+path, url.Values{"access_token": {tok}, "appsecret_proof": {pf}, "fields": {"id,name"}})
		wantOK(t, r)
		if r.Body["id"] != uid || r.Body["name"] != "Jane Doe" {
			t.Fatalf("GET %s = %s", path, r.Raw)
		}
		wantVer := "v21.0"
		if strings.HasPrefix(path, "/v2.0") {
			wantVer = "v2.0"
		}
		if got := r.Header.Get("facebook-api-version"); got != wantVer {
			t.Fatalf("facebook-api-version = %q, want %q", got, wantVer)
		}
	}
	r := userCall(t, srv, http.MethodGet, "/me", tok, url.Values{"fields": {"id"}})
	if _, ok := r.Body["name"]; ok || r.Body["id"] != uid {
		t.Fatalf("fields=id: %s", r.Raw)
	}
	r = userCall(t, srv, http.MethodGet, "/me", tok, url.Values{"fields": {"id,bogus"}})
	wantError(t, r, http.StatusBadRequest, 100, 0)

	for _, scheme := range []string{"Bearer", "OAuth"} {
		req, _ := http.NewRequest(http.MethodGet, srv.GraphURL()+"/me?appsecret_proof="+pf, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Authorization: %s: HTTP %d", scheme, resp.StatusCode)
		}
	}
	wantError(t, do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/me", nil), http.StatusBadRequest, 2500, 0)
	wantError(t, do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/"+uid+"/friends", nil), http.StatusBadRequest, 104, 0)
	if c := srv.Calls(); c[0].Path != "/me" || c[0].TokenKind != graphtest.TokenUser || c[0].UserID != uid || c[0].Params.Get("access_token") != "REDACTED" {
		t.Fatalf("first call = %+v", c[0])
	}
	if n := srv.CallCount("GET", "/me"); n != 8 {
		t.Fatalf("CallCount(GET /me) = %d, want 8", n)
	}
}

func TestUnknownRouteFailsLoudly(t *testing.T) {
	srv := new(graphtest.Server)
	srv.Logf = t.Logf
	srv.Start()
	defer srv.Close()
	tok := srv.AuthorizeApp(addUser(srv, "Uma Unknown"))
	r := userCall(t, srv, http.MethodGet, "/me/feed", tok, nil)
	wantError(t, r, http.StatusBadRequest, 2500, 0)
	if _, _, _, msg := r.gerr(); msg != "Unknown path components: /me/feed" {
		t.Fatalf("message = %q", msg)
	}
	u := srv.UnhandledCalls()
	if len(u) != 1 || u[0].Path != "/me/feed" || !u[0].Unhandled {
		t.Fatalf("UnhandledCalls = %+v, want the /me/feed call", u)
	}
	srv.ResetCalls()
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("after ResetCalls: %d calls", n)
	}
}

// friendsPage is one decoded /me/friends answer.
type friendsPage struct {
	ids   []string
	next  string
	total int
}

func decodeFriends(tb testing.TB, r result) friendsPage {
	tb.Helper()
	wantOK(tb, r)
	var p friendsPage
	for _, f := range r.Body["data"].([]any) {
		p.ids = append(p.ids, f.(map[string]any)["id"].(string))
	}
	if pg, ok := r.Body["paging"].(map[string]any); ok {
		p.next, _ = pg["next"].(string)
		if c, ok := pg["cursors"].(map[string]any); !ok || c["before"] == "" || c["after"] == "" {
			tb.Fatalf("paging without cursors: %s", r.Raw)
		}
	}
	if s, ok := r.Body["summary"].(map[string]any); ok {
		p.total = int(s["total_count"].(float64))
	}
	return p
}

// followNext fetches an absolute paging.next URL verbatim, adding only
// appsecret_proof (the token is already in it) and replacing limit.
func followNext(tb testing.TB, srv *graphtest.Server, next, token string, limit int) result {
	tb.Helper()
	u, err := url.Parse(next)
	if err != nil || !u.IsAbs() {
		tb.Fatalf("paging.next %q is not absolute", next)
	}
	if !strings.HasPrefix(u.Path, "/v21.0/") {
		tb.Fatalf("paging.next %q lacks the version prefix", next)
	}
	q := u.Query()
	if q.Get("access_token") != token {
		tb.Fatalf("paging.next does not carry the access token")
	}
	q.Set("appsecret_proof", proof(secret, token))
	q.Set("limit", strconv.Itoa(limit))
	u.RawQuery = q.Encode()
	return do(tb, srv.Client(), http.MethodGet, u.String(), nil)
}

func TestFriendsIrregularPages(t *testing.T) {
	srv := start(t, nil)
	me := addUser(srv, "Paula Pager")
	tok := srv.AuthorizeApp(me, "user_friends")
	friends := srv.GenerateFriends(me, 230, "public_profile", "user_friends")

	limits := []int{7, 50, 100, 13, 250, 1}
	r := userCall(t, srv, http.MethodGet, "/me/friends", tok, url.Values{"limit": {"7"}})
	var got []string
	seen := map[string]bool{}
	for i := 0; ; i++ {
		p := decodeFriends(t, r)
		want := min(limits[i%len(limits)], 100)
		if p.next != "" && len(p.ids) != want {
			t.Fatalf("page %d: %d friends, want %d", i+1, len(p.ids), want)
		}
		if p.total != 230 {
			t.Fatalf("total_count = %d, want 230", p.total)
		}
		for _, id := range p.ids {
			if seen[id] {
				t.Fatalf("duplicate friend %s on page %d", id, i+1)
			}
			seen[id] = true
			got = append(got, id)
		}
		if p.next == "" {
			break
		}
		if i > 100 {
			t.Fatal("paging does not end")
		}
		r = followNext(t, srv, p.next, tok, limits[(i+1)%len(limits)])
	}
	if len(got) != len(friends) {
		t.Fatalf("got %d friends, want %d", len(got), len(friends))
	}
	for i := range friends {
		if got[i] != friends[i].ID {
			t.Fatalf("friend %d = %s, want %s (friendship order)", i, got[i], friends[i].ID)
		}
	}

	t.Run("default and max limit", func(t *testing.T) {
		if p := decodeFriends(t, userCall(t, srv, http.MethodGet, "/me/friends", tok, nil)); len(p.ids) != 25 {
			t.Fatalf("default page = %d, want 25", len(p.ids))
		}
		if p := decodeFriends(t, userCall(t, srv, http.MethodGet, "/me/friends", tok, url.Values{"limit": {"500"}})); len(p.ids) != 100 {
			t.Fatalf("limit=500 page = %d, want 100", len(p.ids))
		}
	})

	t.Run("page fault on the third page", func(t *testing.T) {
		srv.FailPage("GET /me/friends", 3, graphtest.Fault{Code: 2})
		p1 := decodeFriends(t, userCall(t, srv, http.MethodGet, "/me/friends", tok, url.Values{"limit": {"10"}}))
		p2 := decodeFriends(t, followNext(t, srv, p1.next, tok, 10))
		r := followNext(t, srv, p2.next, tok, 10)
		wantError(t, r, http.StatusInternalServerError, 2, 0)
		calls := srv.Calls()
		if c := calls[len(calls)-1]; !c.Injected || c.Code != 2 {
			t.Fatalf("page 3 call logged as %+v, want an injected code 2", c)
		}
		p3 := decodeFriends(t, followNext(t, srv, p2.next, tok, 10)) // retry works
		if p3.ids[0] != friends[20].ID {
			t.Fatalf("third page starts with %s, want %s", p3.ids[0], friends[20].ID)
		}
	})
}

func TestFriendsOnlyAppUsers(t *testing.T) {
	srv := start(t, nil)
	me := addUser(srv, "Fay Filter")
	tok := srv.AuthorizeApp(me, "user_friends")
	appFriend := addUser(srv, "Gus Granted")
	noFriendsPerm := addUser(srv, "Hal NoFriends")
	nonUser := addUser(srv, "Ida Outsider")
	later := addUser(srv, "Jo Later")
	srv.AuthorizeApp(appFriend, "user_friends")
	srv.AuthorizeApp(noFriendsPerm, "publish_actions")
	srv.AuthorizeApp(later, "user_friends")
	srv.AddFriends(me, later, nonUser, noFriendsPerm, appFriend)
	srv.AddFriends(appFriend, me) // already friends: keeps its place

	p := decodeFriends(t, userCall(t, srv, http.MethodGet, "/me/friends", tok, nil))
	if len(p.ids) != 2 || p.ids[0] != later || p.ids[1] != appFriend {
		t.Fatalf("friends = %v, want [%s %s]", p.ids, later, appFriend)
	}
	if p.total != 4 || p.next != "" {
		t.Fatalf("total_count = %d next = %q, want 4 and no next", p.total, p.next)
	}
	// A friend who removes the app disappears.
	wantOK(t, userCall(t, srv, http.MethodDelete, "/me/permissions", srv.AuthorizeApp(later, "user_friends"), nil))
	if p := decodeFriends(t, userCall(t, srv, http.MethodGet, "/me/friends", tok, nil)); len(p.ids) != 1 || p.total != 4 {
		t.Fatalf("after revoke: friends = %v total %d", p.ids, p.total)
	}
}

func TestRevokeAndInvalidate(t *testing.T) {
	clk := newClock()
	srv := start(t, &graphtest.Server{Now: clk.Now})
	uid := addUser(srv, "Kim Revoke")
	tok1 := srv.AuthorizeApp(uid, "user_friends", "publish_actions")
	tok2 := srv.AuthorizeApp(uid, "user_friends", "publish_actions")

	// Revoking one permission.
	wantOK(t, userCall(t, srv, http.MethodDelete, "/me/permissions/publish_actions", tok1, nil))
	r := userCall(t, srv, http.MethodGet, "/me/permissions", tok1, nil)
	wantOK(t, r)
	if got := r.Raw; !strings.Contains(got, `{"permission":"publish_actions","status":"declined"}`) || !strings.Contains(got, `{"permission":"user_friends","status":"granted"}`) {
		t.Fatalf("permissions = %s", got)
	}

	// Revoking the app, by POST with method=delete.
	r = userCall(t, srv, http.MethodPost, "/me/permissions", tok1, url.Values{"method": {"delete"}})
	wantOK(t, r)
	if r.Body["success"] != true {
		t.Fatalf("revoke = %s", r.Raw)
	}
	if srv.Authorized(uid) {
		t.Fatal("still authorized after DELETE /me/permissions")
	}
	for _, tok := range []string{tok1, tok2} {
		r := userCall(t, srv, http.MethodGet, "/me", tok, nil)
		wantError(t, r, http.StatusBadRequest, 190, 458)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `OAuth "Facebook Platform" "invalid_token"`) {
			t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	r = do(t, srv.Client(), http.MethodGet, srv.GraphURL()+"/debug_token", url.Values{"input_token": {tok1}, "access_token": {srv.AppAccessToken()}})
	if d := r.Body["data"].(map[string]any); d["is_valid"] != false || d["error"].(map[string]any)["subcode"] != float64(458) {
		t.Fatalf("debug_token after revoke = %s", r.Raw)
	}

	for _, sub := range []int{460, 467, 459} {
		t.Run("invalidate "+strconv.Itoa(sub), func(t *testing.T) {
			tok := srv.AuthorizeApp(uid, "user_friends")
			srv.InvalidateTokens(uid, sub)
			wantError(t, userCall(t, srv, http.MethodGet, "/me", tok, nil), http.StatusBadRequest, 190, sub)
			if !srv.Authorized(uid) {
				t.Fatal("invalidating tokens removed the app")
			}
			wantOK(t, userCall(t, srv, http.MethodGet, "/me", srv.AuthorizeApp(uid), nil))
		})
	}

	t.Run("expired", func(t *testing.T) {
		tok := srv.AuthorizeApp(uid, "user_friends")
		clk.Advance(61 * 24 * time.Hour)
		r := userCall(t, srv, http.MethodGet, "/me", tok, nil)
		wantError(t, r, http.StatusBadRequest, 190, 463)
		if _, _, _, msg := r.gerr(); !strings.HasPrefix(msg, "Error validating access token: Session has expired on ") {
			t.Fatalf("message = %q", msg)
		}
	})
	wantError(t, userCall(t, srv, http.MethodGet, "/me", "EAABnot-a-token", nil), http.StatusBadRequest, 190, 467)
}

func TestVideoWatches(t *testing.T) {
	clk := newClock()
	srv := start(t, &graphtest.Server{Now: clk.Now, ObjectTitle: func(u string) string { return "Title of " + u }})
	owner := addUser(srv, "Liv Owner")
	other := addUser(srv, "Max Other")
	tok := srv.AuthorizeApp(owner, "user_friends", "publish_actions")
	otherTok := srv.AuthorizeApp(other, "publish_actions")
	movie := "https://www.example.com/title/70143836"

	t.Run("needs publish_actions", func(t *testing.T) {
		u := addUser(srv, "Ned NoPublish")
		r := userCall(t, srv, http.MethodPost, "/me/video.watches", srv.AuthorizeApp(u, "user_friends"), url.Values{"movie": {movie}})
		wantError(t, r, http.StatusForbidden, 200, 0)
		if _, _, typ, msg := r.gerr(); msg != "(#200) Requires extended permission: publish_actions" || typ != "OAuthException" {
			t.Fatalf("error = %s %q", typ, msg)
		}
	})

	bad := []struct {
		name   string
		params url.Values
	}{
		{"no object", url.Values{"start_time": {"1363291200"}}},
		{"two objects", url.Values{"movie": {movie}, "episode": {movie + "/e1"}}},
		{"object id, not URL", url.Values{"movie": {"70143836"}}},
		{"relative URL", url.Values{"movie": {"/title/1"}}},
		{"ftp URL", url.Values{"tv_show": {"ftp://example.com/x"}}},
		{"bad start_time", url.Values{"movie": {movie}, "start_time": {"yesterday"}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, userCall(t, srv, http.MethodPost, "/me/video.watches", tok, tc.params), http.StatusBadRequest, 100, 0)
		})
	}
	if n := len(srv.Actions(owner)); n != 0 {
		t.Fatalf("%d actions stored by failed posts", n)
	}

	r := userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {movie}, "start_time": {"2013-03-14T19:50:00+0000"}, "expires_in": {"5400"}})
	wantOK(t, r)
	id1, _ := r.Body["id"].(string)
	clk.Advance(time.Minute)
	r = userCall(t, srv, http.MethodPost, "/"+owner+"/video.watches", tok, url.Values{"episode": {"https://www.example.com/title/80000001"}})
	wantOK(t, r)
	id2, _ := r.Body["id"].(string)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Fatalf("action ids %q %q", id1, id2)
	}
	acts := srv.Actions(owner)
	if len(acts) != 2 || acts[0].ID != id1 || acts[0].ObjectURL != movie || acts[0].ObjectType != "video.movie" || acts[0].ExpiresIn != 5400 ||
		!acts[0].PublishTime.Equal(time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC)) || !acts[0].StartTime.Equal(time.Date(2013, 3, 14, 19, 50, 0, 0, time.UTC)) {
		t.Fatalf("Actions = %+v", acts)
	}

	r = userCall(t, srv, http.MethodGet, "/me/video.watches", tok, nil)
	wantOK(t, r)
	data := r.Body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("video.watches = %s", r.Raw)
	}
	newest, oldest := data[0].(map[string]any), data[1].(map[string]any)
	if newest["id"] != id2 || oldest["id"] != id1 || oldest["type"] != "video.watches" {
		t.Fatalf("order/type wrong: %s", r.Raw)
	}
	m := oldest["data"].(map[string]any)["movie"].(map[string]any)
	if m["url"] != movie || m["type"] != "video.movie" || m["title"] != "Title of "+movie || m["id"] == "" {
		t.Fatalf("data.movie = %v", m)
	}
	if newest["data"].(map[string]any)["episode"] == nil {
		t.Fatalf("episode action lacks data.episode: %v", newest)
	}
	if from := oldest["from"].(map[string]any); from["id"] != owner || from["name"] != "Liv Owner" {
		t.Fatalf("from = %v", from)
	}
	if app := oldest["application"].(map[string]any); app["id"] != graphtest.DefaultAppID || app["name"] != graphtest.DefaultAppName {
		t.Fatalf("application = %v", app)
	}
	if oldest["start_time"] != "2013-03-14T19:50:00+0000" || oldest["publish_time"] != "2013-03-14T20:00:00+0000" {
		t.Fatalf("times = %v %v", oldest["start_time"], oldest["publish_time"])
	}

	t.Run("delete is owner only", func(t *testing.T) {
		r := userCall(t, srv, http.MethodDelete, "/"+id1, otherTok, nil)
		wantError(t, r, http.StatusBadRequest, 100, 33)
		r = userCall(t, srv, http.MethodDelete, "/424242424242", tok, nil)
		wantError(t, r, http.StatusBadRequest, 100, 33)
		if _, _, _, msg := r.gerr(); !strings.HasPrefix(msg, "Unsupported delete request.") {
			t.Fatalf("message = %q", msg)
		}
		r = userCall(t, srv, http.MethodPost, "/"+id1, tok, url.Values{"method": {"DELETE"}})
		wantOK(t, r)
		if r.Body["success"] != true {
			t.Fatalf("delete = %s", r.Raw)
		}
		if _, ok := srv.Action(id1); ok {
			t.Fatal("action still there after delete")
		}
		wantError(t, userCall(t, srv, http.MethodDelete, "/"+id1, tok, nil), http.StatusBadRequest, 100, 33)
		if n := srv.CallCount("DELETE", "/{id}"); n != 4 {
			t.Fatalf("CallCount(DELETE /{id}) = %d, want 4", n)
		}
	})

	t.Run("app token", func(t *testing.T) {
		r := do(t, srv.Client(), http.MethodPost, srv.GraphURL()+"/"+other+"/video.watches", url.Values{"access_token": {srv.AppAccessToken()}, "video": {"https://www.example.com/v/1"}})
		wantOK(t, r)
		r = do(t, srv.Client(), http.MethodPost, srv.GraphURL()+"/me/video.watches", url.Values{"access_token": {srv.AppAccessToken()}, "video": {"https://www.example.com/v/1"}})
		wantError(t, r, http.StatusBadRequest, 2500, 0)
	})

	t.Run("publish_actions removed", func(t *testing.T) {
		srv.SetPublishActionsRemoved(true)
		defer srv.SetPublishActionsRemoved(false)
		r := userCall(t, srv, http.MethodPost, "/me/video.watches", tok, url.Values{"movie": {movie}})
		wantError(t, r, http.StatusForbidden, 200, 0)
		if _, _, _, msg := r.gerr(); msg != "(#200) This endpoint is deprecated since the required permission publish_actions is deprecated" {
			t.Fatalf("message = %q", msg)
		}
	})
}
