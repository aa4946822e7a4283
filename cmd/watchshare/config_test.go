package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	base := map[string]string{
		"FACEBOOK_APP_ID":      "123",
		"FACEBOOK_APP_SECRET":  "secret",
		"WATCHSHARE_TOKEN_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"WATCHSHARE_API_TOKEN": "0123456789abcdef",
	}
	env := func(over map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return base[k]
		}
	}
	cfg, err := parseConfig("serve", nil, env(nil), true, io.Discard)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.DB != "./watchshare.db" || cfg.GraphURL != "https://graph.facebook.com/v21.0" || len(cfg.Scopes) != 2 || cfg.ConsentTTL.Hours() != 17520 {
		t.Fatalf("defaults = %+v", cfg)
	}
	// A flag wins over the environment.
	cfg, err = parseConfig("serve", []string{"--http-addr", "127.0.0.1:9999", "--share-after=1m"}, env(map[string]string{"WATCHSHARE_HTTP_ADDR": "127.0.0.1:7777"}), true, io.Discard)
	if err != nil || cfg.HTTPAddr != "127.0.0.1:9999" || cfg.ShareAfter.Minutes() != 1 {
		t.Fatalf("flag over env: %+v %v", cfg.HTTPAddr, err)
	}
	cases := []struct {
		name, env, value string
	}{
		{"missing app id", "FACEBOOK_APP_ID", ""},
		{"missing secret", "FACEBOOK_APP_SECRET", ""},
		{"missing token key", "WATCHSHARE_TOKEN_KEY", ""},
		{"short token key", "WATCHSHARE_TOKEN_KEY", "c2hvcnQ="},
		{"missing api token", "WATCHSHARE_API_TOKEN", ""},
		{"short api token", "WATCHSHARE_API_TOKEN", "0123456789abcde"},
		{"duration below a second", "WATCHSHARE_RESHARE_AFTER", "500ms"},
		{"concurrency zero", "WATCHSHARE_WORKER_CONCURRENCY", "0"},
		{"concurrency too high", "WATCHSHARE_WORKER_CONCURRENCY", "4097"},
		{"bad nats url", "WATCHSHARE_NATS_URL", "127.0.0.1:4222"},
		{"bad nats listen", "WATCHSHARE_NATS_LISTEN", "4222"},
		{"bad account url", "WATCHSHARE_ACCOUNT_URL", "https://account.example.com/?x=1"},
		{"no scopes", "WATCHSHARE_SCOPES", " , "},
		{"bad duration", "WATCHSHARE_SHARE_AFTER", "five minutes"},
		{"bad addr", "WATCHSHARE_HTTP_ADDR", "localhost"},
		{"bad graph url", "WATCHSHARE_GRAPH_URL", "graph.facebook.com"},
		{"bad log level", "WATCHSHARE_LOG_LEVEL", "loud"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("serve", nil, env(map[string]string{tc.env: tc.value}), true, io.Discard)
			var se *settingError
			if !errors.As(err, &se) || se.env != tc.env {
				t.Fatalf("err = %v, want a settingError naming %s", err, tc.env)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}
