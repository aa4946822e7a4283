package graph

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestExchangeToken(t *testing.T) {
	now := time.Date(2013, 3, 14, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		contentType string
		body        string
		wantToken   string
		wantExpires time.Time
		wantErr     bool
	}{
		{"json", "application/json", `{"access_token":"EAABlong","token_type":"bearer","expires_in":5183944}`, "EAABlong", now.Add(5183944 * time.Second), false},
		{"json string expiry", "application/json", `{"access_token":"EAABlong","expires_in":"3600"}`, "EAABlong", now.Add(time.Hour), false},
		{"json no expiry", "application/json", `{"access_token":"EAABlong","token_type":"bearer"}`, "EAABlong", time.Time{}, false},
		{"form encoded pre v2.3", "text/plain", `access_token=AAABlong&expires=5183999`, "AAABlong", now.Add(5183999 * time.Second), false},
		{"form encoded no expiry", "text/plain", `access_token=AAABlong`, "AAABlong", time.Time{}, false},
		{"no token", "application/json", `{"token_type":"bearer"}`, "", time.Time{}, true},
		{"bad form expiry", "text/plain", `access_token=A&expires=soon`, "", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.Write([]byte(tc.body))
			})
			tok, err := f.client.ExchangeToken(t.Context(), canary)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tok.AccessToken != tc.wantToken || !tok.ExpiresAt.Equal(tc.wantExpires) {
				t.Fatalf("token = %q %v, want %q %v", tok.AccessToken, tok.ExpiresAt, tc.wantToken, tc.wantExpires)
			}
			r := f.last(t)
			if r.Method != http.MethodGet || r.Path != "/v21.0/oauth/access_token" {
				t.Fatalf("request = %s %s", r.Method, r.Path)
			}
			for k, want := range map[string]string{
				"grant_type": "fb_exchange_token", "client_id": testAppID,
				"client_secret": testSecret, "fb_exchange_token": canary,
			} {
				if got := first(r.Query, k); got != want {
					t.Fatalf("%s = %q, want %q", k, got, want)
				}
			}
			if r.Auth != "" {
				t.Fatalf("Authorization = %q, want none", r.Auth)
			}
		})
	}
}

func TestAppAccessToken(t *testing.T) {
	f := setup(t, jsonHandler(200, `access_token=`+testAppID+`|abcdef`))
	tok, err := f.client.AppAccessToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != testAppID+"|abcdef" || !tok.ExpiresAt.IsZero() {
		t.Fatalf("token = %q %v", tok.AccessToken, tok.ExpiresAt)
	}
	if got := first(f.last(t).Query, "grant_type"); got != "client_credentials" {
		t.Fatalf("grant_type = %q, want client_credentials", got)
	}
}

func TestExchangeTokenError(t *testing.T) {
	f := setup(t, jsonHandler(400, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463}}`))
	_, err := f.client.ExchangeToken(t.Context(), canary)
	if !IsTokenInvalid(err) {
		t.Fatalf("IsTokenInvalid(%v) = false, want true", err)
	}
	if _, err := (&Client{AppID: "1"}).ExchangeToken(t.Context(), "x"); !errors.Is(err, ErrNoAppSecret) {
		t.Fatalf("err = %v, want ErrNoAppSecret", err)
	}
}

func TestDebugToken(t *testing.T) {
	tests := []struct {
		name string
		body string
		want TokenInfo
	}{
		{
			name: "valid",
			body: `{"data":{"app_id":"138483919580948","type":"USER","application":"Social Cafe","data_access_expires_at":1754846089,
				"expires_at":1352419328,"is_valid":true,"issued_at":1347235328,"metadata":{"sso":"iphone-safari"},
				"scopes":["email","publish_actions"],"user_id":"1207059"}}`,
			want: TokenInfo{
				AppID: "138483919580948", UserID: "1207059", Type: "USER", Application: "Social Cafe", IsValid: true,
				IssuedAt: time.Unix(1347235328, 0).UTC(), ExpiresAt: time.Unix(1352419328, 0).UTC(),
				DataAccessExpiresAt: time.Unix(1754846089, 0).UTC(), Scopes: []string{"email", "publish_actions"},
			},
		},
		{
			name: "numeric app id, never expires",
			body: `{"data":{"app_id":138483919580948,"type":"APP","is_valid":true,"expires_at":0,"user_id":1207059}}`,
			want: TokenInfo{AppID: "138483919580948", UserID: "1207059", Type: "APP", IsValid: true},
		},
		{
			name: "invalid",
			body: `{"data":{"app_id":"138483919580948","error":{"code":190,"message":"Invalid OAuth access token.","subcode":460},"is_valid":false,"scopes":[]}}`,
			want: TokenInfo{AppID: "138483919580948", IsValid: false, Scopes: []string{},
				Error: &TokenError{Code: 190, Subcode: 460, Message: "Invalid OAuth access token."}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, jsonHandler(200, tc.body))
			got, err := f.client.DebugToken(t.Context(), canary)
			if err != nil {
				t.Fatal(err)
			}
			if got.AppID != tc.want.AppID || got.UserID != tc.want.UserID || got.Type != tc.want.Type ||
				got.Application != tc.want.Application || got.IsValid != tc.want.IsValid ||
				!got.IssuedAt.Equal(tc.want.IssuedAt) || !got.ExpiresAt.Equal(tc.want.ExpiresAt) ||
				!got.DataAccessExpiresAt.Equal(tc.want.DataAccessExpiresAt) || len(got.Scopes) != len(tc.want.Scopes) {
				t.Fatalf("DebugToken = %+v, want %+v", got, tc.want)
			}
			if (got.Error == nil) != (tc.want.Error == nil) || (got.Error != nil && *got.Error != *tc.want.Error) {
				t.Fatalf("Error = %+v, want %+v", got.Error, tc.want.Error)
			}
			r := f.last(t)
			if r.Path != "/v21.0/debug_token" || first(r.Query, "input_token") != canary {
				t.Fatalf("request = %s %v", r.Path, r.Query)
			}
			if want := "Bearer " + testAppID + "|" + testSecret; r.Auth != want {
				t.Fatalf("Authorization = %q, want the app token", r.Auth)
			}
		})
	}
}
