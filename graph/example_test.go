package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"watchshare/graph"
	"watchshare/graph/graphtest"
)

func Example() {
	// A stand-in for graph.facebook.com that checks appsecret_proof.
	const appSecret = "app-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")[len("Bearer "):]
		if r.FormValue("appsecret_proof") != graph.AppsecretProof(appSecret, token) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"Invalid appsecret_proof","type":"GraphMethodException","code":100}}`)
			return
		}
		switch r.URL.Path {
		case "/v21.0/me":
			w.Header().Set("X-App-Usage", `{"call_count":12,"total_time":4,"total_cputime":3}`)
			fmt.Fprint(w, `{"id":"10153418311072858","name":"Jane Doe"}`)
		case "/v21.0/me/video.watches":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"message":"(#200) Requires extended permission: publish_actions","type":"OAuthException","code":200,"fbtrace_id":"AbC"}}`)
		}
	}))
	defer srv.Close()

	c := &graph.Client{AppID: "1234", AppSecret: appSecret, BaseURL: srv.URL + "/v21.0"}
	s := c.Session("EAAB-user-token")
	ctx := context.Background()

	me, err := s.Me(ctx)
	fmt.Println(me.ID, me.Name, err)

	_, _, err = s.PublishWatch(ctx, graph.PropertyMovie, "https://example.com/title/1", graph.WatchOptions{})
	fmt.Println(err)
	fmt.Println("permission:", graph.IsPermission(err), "retry:", graph.IsTransient(err))

	// Output:
	// 10153418311072858 Jane Doe <nil>
	// graph: (#200) Requires extended permission: publish_actions (code 200, type OAuthException, status 403, fbtrace_id AbC)
	// permission: true retry: false
}

func ExampleParseSignedRequest() {
	const appSecret = "app-secret"
	// What Facebook posts to the deauthorize callback, signed like Facebook does.
	sr := graphtest.SignedRequest(appSecret, map[string]any{
		"algorithm": "HMAC-SHA256", "issued_at": 1291836800, "user_id": "218471",
	})
	now := time.Unix(1291836800, 0).Add(time.Hour)

	req, err := graph.ParseSignedRequest(appSecret, sr, now, 24*time.Hour)
	fmt.Println(req.UserID, err)

	_, err = graph.ParseSignedRequest("wrong-secret", sr, now, 24*time.Hour)
	fmt.Println(err)
	// Output:
	// 218471 <nil>
	// graph: signed_request signature invalid
}
