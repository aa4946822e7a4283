package graph

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestMe(t *testing.T) {
	f := setup(t, jsonHandler(200, `{"id":10153418311072858,"name":"Jane Doe"}`))
	u, err := f.client.Session(canary).Me(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u != (User{ID: "10153418311072858", Name: "Jane Doe"}) {
		t.Fatalf("Me = %+v", u)
	}
	if got := first(f.last(t).Query, "fields"); got != "id,name" {
		t.Fatalf("fields = %q, want id,name", got)
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantPublish bool
		wantN       int
	}{
		{"v2", `{"data":[{"permission":"public_profile","status":"granted"},{"permission":"user_friends","status":"granted"},
			{"permission":"publish_actions","status":"declined"},{"permission":"user_birthday","status":"expired"}]}`, false, 4},
		{"v2 granted", `{"data":[{"permission":"installed","status":"granted"},{"permission":"publish_actions","status":"granted"}]}`, true, 2},
		{"v1 flat", `{"data":[{"installed":1,"publish_actions":1,"user_friends":0}]}`, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, jsonHandler(200, tc.body))
			perms, err := f.client.Session(canary).Permissions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(perms) != tc.wantN {
				t.Fatalf("len = %d, want %d (%+v)", len(perms), tc.wantN, perms)
			}
			if got := Granted(perms, "publish_actions"); got != tc.wantPublish {
				t.Fatalf("Granted(publish_actions) = %v, want %v", got, tc.wantPublish)
			}
			if Granted(perms, "user_birthday") {
				t.Fatal("Granted(user_birthday) = true for an expired permission")
			}
		})
	}
}

func TestRevokeApp(t *testing.T) {
	f := setup(t, jsonHandler(200, `{"success":true}`))
	if err := f.client.Session(canary).RevokeApp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := f.last(t); r.Method != http.MethodDelete || r.Path != "/v21.0/me/permissions" {
		t.Fatalf("request = %s %s, want DELETE /v21.0/me/permissions", r.Method, r.Path)
	}
	f = setup(t, jsonHandler(400, `{"error":{"code":190,"error_subcode":458,"message":"The user has not authorized application 1"}}`))
	if err := f.client.Session(canary).RevokeApp(t.Context()); !IsTokenInvalid(err) {
		t.Fatalf("err = %v, want token invalid", err)
	}
}

func TestFriends(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "" {
			if got := r.URL.Query().Get("limit"); got != "100" {
				t.Errorf("limit = %q, want 100", got)
			}
			fmt.Fprintf(w, `{"data":[{"name":"Jannes Santoso","id":"1117131014972812"},{"name":"B","id":2}],
				"paging":{"cursors":{"before":"QVFIUldo","after":"QVFIUnQ1"},"next":"http://%s/v2.5/1/friends?access_token=%s&limit=100&after=QVFIUnQ1"},
				"summary":{"total_count":810}}`, r.Host, canary)
			return
		}
		w.Write([]byte(`{"data":[{"name":"C","id":"3"}],"paging":{"cursors":{"before":"x","after":"y"}},"summary":{"total_count":810}}`))
	})
	friends, total, err := f.client.Session(canary).Friends(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if total != 810 || len(friends) != 3 || friends[0] != (Friend{ID: "1117131014972812", Name: "Jannes Santoso"}) || friends[1].ID != "2" {
		t.Fatalf("Friends = %+v total %d", friends, total)
	}

	f = setup(t, jsonHandler(200, `{"summary":{"total_count":23},"data":[]}`))
	friends, total, err = f.client.Session(canary).Friends(t.Context(), 10)
	if err != nil || total != 23 || len(friends) != 0 {
		t.Fatalf("Friends = %v, %d, %v; want none, 23, nil", friends, total, err)
	}
}

func TestPublishWatch(t *testing.T) {
	f := setup(t, jsonHandler(200, `{"id":"10100657260775943"}`))
	start := time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC)
	id, res, err := f.client.Session(canary).PublishWatch(t.Context(), PropertyEpisode, "https://example.com/t/9",
		WatchOptions{StartTime: start, ExpiresIn: 42*time.Minute + 500*time.Millisecond, NoFeedStory: true})
	if err != nil {
		t.Fatal(err)
	}
	if id != "10100657260775943" || res.StatusCode != 200 {
		t.Fatalf("PublishWatch = %q, %d", id, res.StatusCode)
	}
	r := f.last(t)
	if r.Method != http.MethodPost || r.Path != "/v21.0/me/video.watches" {
		t.Fatalf("request = %s %s", r.Method, r.Path)
	}
	for k, want := range map[string]string{
		"episode": "https://example.com/t/9", "start_time": "2013-03-14T20:00:00+0000",
		"expires_in": "2520", "no_feed_story": "true", "fb:explicitly_shared": "",
	} {
		if got := first(r.Form, k); got != want {
			t.Fatalf("%s = %q, want %q", k, got, want)
		}
	}

	for _, bad := range []struct{ prop, url string }{{"tv_episode", "https://x"}, {"movie", ""}} {
		if _, _, err := f.client.Session(canary).PublishWatch(t.Context(), bad.prop, bad.url, WatchOptions{}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("PublishWatch(%q, %q) err = %v, want ErrInvalidArgument", bad.prop, bad.url, err)
		}
	}

	f = setup(t, jsonHandler(400, `{"error":{"code":506,"message":"(#506) Duplicate"}}`))
	if _, _, err := f.client.Session(canary).PublishWatch(t.Context(), PropertyMovie, "https://x", WatchOptions{}); !IsDuplicate(err) {
		t.Fatalf("err = %v, want duplicate", err)
	}
}

func TestWatches(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "" {
			fmt.Fprintf(w, `{"data":[{"id":"1","from":{"id":"9","name":"J"},"start_time":"2013-03-14T20:00:00+0000",
				"end_time":"2013-03-14T21:30:00+0000","publish_time":"2013-03-14T20:00:10+0000",
				"application":{"id":"1","name":"W"},"data":{"movie":{"id":"77","url":"https://example.com/m/1","type":"video.movie","title":"M"}},
				"type":"video.watches","no_feed_story":false}],"paging":{"next":"http://%s/v21.0/me/video.watches?after=A"}}`, r.Host)
			return
		}
		w.Write([]byte(`{"data":[{"id":2,"publish_time":"2013-03-15T10:00:00Z","data":{"tv_show":{"id":"5","url":"https://example.com/s/2","type":"video.tv_show"}},"no_feed_story":true}]}`))
	})
	ws, err := f.client.Session(canary).Watches(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("len = %d, want 2", len(ws))
	}
	a := ws[0]
	if a.ID != "1" || a.Property != "movie" || a.ObjectURL != "https://example.com/m/1" || a.ObjectType != "video.movie" ||
		a.ObjectID != "77" || a.ObjectTitle != "M" ||
		!a.StartTime.Equal(time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC)) ||
		!a.PublishTime.Equal(time.Date(2013, 3, 14, 20, 0, 10, 0, time.UTC)) ||
		!a.EndTime.Equal(time.Date(2013, 3, 14, 21, 30, 0, 0, time.UTC)) {
		t.Fatalf("watch 0 = %+v", a)
	}
	b := ws[1]
	if b.ID != "2" || b.Property != "tv_show" || !b.NoFeedStory || !b.StartTime.IsZero() ||
		!b.PublishTime.Equal(time.Date(2013, 3, 15, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("watch 1 = %+v", b)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{`"2013-03-14T20:00:00+0000"`, time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC), false},
		{`"2013-03-14T13:00:00-0700"`, time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC), false},
		{`"2013-03-14T20:00:00Z"`, time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC), false},
		{`1363291200`, time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC), false},
		{`null`, time.Time{}, false},
		{``, time.Time{}, false},
		{`""`, time.Time{}, false},
		{`"yesterday"`, time.Time{}, true},
		{`{}`, time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := ParseTime([]byte(tc.in))
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
			t.Fatalf("ParseTime(%s) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
