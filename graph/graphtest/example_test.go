package graphtest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"watchshare/graph/graphtest"
)

func Example() {
	srv := graphtest.NewServer()
	defer srv.Close()

	// A user connects through the OAuth dialog, approving both scopes.
	jane := srv.AddUser(graphtest.User{ID: "10153418311072858", Name: "Jane Doe"})
	authURL := srv.DialogURL() + "?" + url.Values{
		"client_id":    {graphtest.DefaultAppID},
		"redirect_uri": {"https://app.example/callback"},
		"state":        {"xyz"},
		"scope":        {"user_friends,publish_actions"},
	}.Encode()
	redirect, err := srv.Approve(authURL, jane.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", redirect.Query().Get("state"))

	// The app redeems the code for a token.
	resp, err := srv.Client().PostForm(srv.TokenURL(), url.Values{
		"client_id":     {graphtest.DefaultAppID},
		"client_secret": {graphtest.DefaultAppSecret},
		"redirect_uri":  {"https://app.example/callback"},
		"code":          {redirect.Query().Get("code")},
	})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println("expires_in:", tok.ExpiresIn)

	// Publish a watch, with the appsecret_proof Facebook requires.
	mac := hmac.New(sha256.New, []byte(graphtest.DefaultAppSecret))
	mac.Write([]byte(tok.AccessToken))
	resp, err = srv.Client().PostForm(srv.GraphURL()+"/me/video.watches", url.Values{
		"movie":           {"https://www.example.com/title/70143836"},
		"access_token":    {tok.AccessToken},
		"appsecret_proof": {hex.EncodeToString(mac.Sum(nil))},
	})
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("post:", resp.StatusCode)

	for _, a := range srv.Actions(jane.ID) {
		fmt.Println("action:", a.Type, a.ObjectType, a.ObjectURL)
	}
	fmt.Println("posts:", srv.CallCount(http.MethodPost, "/me/video.watches"))
	// Output:
	// state: xyz
	// expires_in: 7200
	// post: 200
	// action: video.watches video.movie https://www.example.com/title/70143836
	// posts: 1
}

func ExampleServer_FailNext() {
	srv := graphtest.NewServer()
	defer srv.Close()
	srv.FailNext("GET /debug_token", 1, graphtest.Fault{Code: 2})

	resp, err := http.Get(srv.GraphURL() + "/debug_token?input_token=x&access_token=" + url.QueryEscape(srv.AppAccessToken()))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Message     string `json:"message"`
			Code        int    `json:"code"`
			IsTransient bool   `json:"is_transient"`
		} `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	fmt.Println(resp.StatusCode, body.Error.Code, body.Error.IsTransient, body.Error.Message)
	// Output:
	// 500 2 true An unexpected error has occurred. Please retry your request later.
}
