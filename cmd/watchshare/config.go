package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the contract, after env and flags are merged.
type config struct {
	HTTPAddr          string
	PublicURL         string
	AccountURL        string
	DB                string
	NATSURL           string
	NATSDir           string
	NATSListen        string
	FacebookAppID     string
	FacebookAppSecret string
	GraphURL          string
	DialogURL         string
	Scopes            []string
	TokenKey          []byte
	APIToken          string
	ShareAfter        time.Duration
	ReshareAfter      time.Duration
	MaxEventAge       time.Duration
	FriendSyncEvery   time.Duration
	ConsentTTL        time.Duration
	WorkerConcurrency int
	LogLevel          slog.Level
	DevAccountPage    bool

	// now replaces the clock of the store, the connect flow and the
	// service; nil means time.Now. Tests only.
	now func() time.Time
	// pendingStaleAfter and rateLimitBackoff shorten the service's waits
	// in tests; zero means the service's defaults.
	pendingStaleAfter time.Duration
	rateLimitBackoff  time.Duration
}

// setting describes one contract setting: its environment variable, the flag
// derived from it, its default, and whether serve needs it.
type setting struct {
	env      string
	def      string
	required bool
	usage    string
	// boolean makes the flag a switch: --name alone means true.
	boolean bool
}

func (s setting) flagName() string {
	name := strings.TrimPrefix(s.env, "WATCHSHARE_")
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

var settings = []setting{
	{env: "WATCHSHARE_HTTP_ADDR", def: "127.0.0.1:8080", usage: "listen address (port 0 = any free port)"},
	{env: "WATCHSHARE_PUBLIC_URL", usage: "external base URL (default http://<http addr>)"},
	{env: "WATCHSHARE_ACCOUNT_URL", usage: "where the browser lands after connecting (default <public>/account)"},
	{env: "WATCHSHARE_DB", def: "./watchshare.db", usage: "SQLite database file"},
	{env: "WATCHSHARE_NATS_URL", usage: "NATS server URL; empty = embedded server with JetStream"},
	{env: "WATCHSHARE_NATS_DIR", def: "./nats", usage: "JetStream store directory of the embedded server"},
	{env: "WATCHSHARE_NATS_LISTEN", usage: "if set, the embedded server also accepts TCP clients there"},
	{env: "FACEBOOK_APP_ID", required: true, usage: "Facebook app id"},
	{env: "FACEBOOK_APP_SECRET", required: true, usage: "Facebook app secret"},
	{env: "WATCHSHARE_GRAPH_URL", def: "https://graph.facebook.com/v21.0", usage: "Graph API base, version included"},
	{env: "WATCHSHARE_DIALOG_URL", def: "https://www.facebook.com/v21.0/dialog/oauth", usage: "OAuth dialog URL"},
	{env: "WATCHSHARE_SCOPES", def: "user_friends,publish_actions", usage: "scopes asked for"},
	{env: "WATCHSHARE_TOKEN_KEY", required: true, usage: "base64 of 32 random bytes; encrypts tokens at rest"},
	{env: "WATCHSHARE_API_TOKEN", required: true, usage: "bearer token for /v1"},
	{env: "WATCHSHARE_SHARE_AFTER", def: "5m", usage: "watch time before a title is shared"},
	{env: "WATCHSHARE_RESHARE_AFTER", def: "24h", usage: "no second post of a title by a member within this"},
	{env: "WATCHSHARE_MAX_EVENT_AGE", def: "24h", usage: "older events are not posted"},
	{env: "WATCHSHARE_FRIEND_SYNC_EVERY", def: "24h", usage: "per-member friend sync period"},
	{env: "WATCHSHARE_CONSENT_TTL", def: "17520h", usage: "how long consent to automatic sharing lasts"},
	{env: "WATCHSHARE_WORKER_CONCURRENCY", def: "128", usage: "events handled at once, so Graph calls in flight (each member's events stay in order)"},
	{env: "WATCHSHARE_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
	{env: "WATCHSHARE_DEV_ACCOUNT_PAGE", def: "false", boolean: true, usage: "serve the example account page at /account, with a proxy that adds the API token (development only)"},
}

// switchValue is the flag of a boolean setting: given alone it means true,
// and it also takes a value (--dev-account-page=false).
type switchValue struct{ v *string }

func (s switchValue) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

func (s switchValue) Set(v string) error { *s.v = v; return nil }
func (s switchValue) IsBoolFlag() bool   { return true }

// settingError names the setting that stopped the process (exit code 2).
type settingError struct {
	env, flag, msg string
}

func (e *settingError) Error() string {
	return fmt.Sprintf("setting %s (--%s): %s", e.env, e.flag, e.msg)
}

// parseConfig merges the environment and the command line (a flag wins) and
// checks every value. requireSecrets is false for commands that do not talk
// to Facebook on their own behalf (they may still be given the values).
func parseConfig(name string, args []string, getenv func(string) string, requireSecrets bool, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		values[s.env] = &v
		if s.boolean {
			fs.Var(switchValue{&v}, s.flagName(), s.usage+" ($"+s.env+")")
		} else {
			fs.StringVar(&v, s.flagName(), v, s.usage+" ($"+s.env+")")
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return config{}, err
	}
	get := func(env string) string { return strings.TrimSpace(*values[env]) }
	fail := func(env, format string, a ...any) error {
		return &settingError{env: env, flag: setting{env: env}.flagName(), msg: fmt.Sprintf(format, a...)}
	}
	if requireSecrets {
		for _, s := range settings {
			if s.required && get(s.env) == "" {
				return config{}, fail(s.env, "required")
			}
		}
	}

	var c config
	c.HTTPAddr = get("WATCHSHARE_HTTP_ADDR")
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return config{}, fail("WATCHSHARE_HTTP_ADDR", "not host:port: %v", err)
	}
	c.PublicURL = strings.TrimRight(get("WATCHSHARE_PUBLIC_URL"), "/")
	if c.PublicURL != "" {
		if err := checkBaseURL(c.PublicURL); err != nil {
			return config{}, fail("WATCHSHARE_PUBLIC_URL", "%v", err)
		}
	}
	c.AccountURL = get("WATCHSHARE_ACCOUNT_URL")
	if c.AccountURL != "" {
		if err := checkBaseURL(c.AccountURL); err != nil {
			return config{}, fail("WATCHSHARE_ACCOUNT_URL", "%v", err)
		}
	}
	c.DB = get("WATCHSHARE_DB")
	if c.DB == "" {
		return config{}, fail("WATCHSHARE_DB", "must not be empty")
	}
	c.NATSURL = get("WATCHSHARE_NATS_URL")
	if c.NATSURL != "" {
		if u, err := url.Parse(strings.Split(c.NATSURL, ",")[0]); err != nil || u.Host == "" {
			return config{}, fail("WATCHSHARE_NATS_URL", "not a URL like nats://127.0.0.1:4222")
		}
	}
	c.NATSDir = get("WATCHSHARE_NATS_DIR")
	c.NATSListen = get("WATCHSHARE_NATS_LISTEN")
	if c.NATSListen != "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			return config{}, fail("WATCHSHARE_NATS_LISTEN", "not host:port: %v", err)
		}
	}
	c.FacebookAppID = get("FACEBOOK_APP_ID")
	if c.FacebookAppID != "" && strings.ContainsAny(c.FacebookAppID, " |/?&#") {
		return config{}, fail("FACEBOOK_APP_ID", "not an app id")
	}
	c.FacebookAppSecret = get("FACEBOOK_APP_SECRET")
	c.GraphURL = strings.TrimRight(get("WATCHSHARE_GRAPH_URL"), "/")
	if err := checkBaseURL(c.GraphURL); err != nil {
		return config{}, fail("WATCHSHARE_GRAPH_URL", "%v", err)
	}
	c.DialogURL = get("WATCHSHARE_DIALOG_URL")
	if err := checkBaseURL(c.DialogURL); err != nil {
		return config{}, fail("WATCHSHARE_DIALOG_URL", "%v", err)
	}
	for _, s := range strings.FieldsFunc(get("WATCHSHARE_SCOPES"), func(r rune) bool { return r == ',' || r == ' ' }) {
		c.Scopes = append(c.Scopes, s)
	}
	if len(c.Scopes) == 0 {
		return config{}, fail("WATCHSHARE_SCOPES", "must name at least one scope")
	}
	if k := get("WATCHSHARE_TOKEN_KEY"); k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(k, "="))
		}
		if err != nil || len(key) != 32 {
			return config{}, fail("WATCHSHARE_TOKEN_KEY", "must be base64 of exactly 32 bytes (try: head -c 32 /dev/urandom | base64)")
		}
		c.TokenKey = key
	}
	c.APIToken = get("WATCHSHARE_API_TOKEN")
	if c.APIToken != "" && len(c.APIToken) < 16 {
		return config{}, fail("WATCHSHARE_API_TOKEN", "must be at least 16 characters")
	}
	durations := []struct {
		env string
		dst *time.Duration
		min time.Duration
	}{
		{"WATCHSHARE_SHARE_AFTER", &c.ShareAfter, time.Second},
		{"WATCHSHARE_RESHARE_AFTER", &c.ReshareAfter, time.Second},
		{"WATCHSHARE_MAX_EVENT_AGE", &c.MaxEventAge, time.Second},
		{"WATCHSHARE_FRIEND_SYNC_EVERY", &c.FriendSyncEvery, time.Second},
		{"WATCHSHARE_CONSENT_TTL", &c.ConsentTTL, time.Second},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.env))
		if err != nil {
			return config{}, fail(d.env, "not a duration like 5m or 24h")
		}
		if v < d.min {
			return config{}, fail(d.env, "must be at least %s", d.min)
		}
		*d.dst = v
	}
	n, err := strconv.Atoi(get("WATCHSHARE_WORKER_CONCURRENCY"))
	if err != nil || n < 1 || n > 4096 {
		return config{}, fail("WATCHSHARE_WORKER_CONCURRENCY", "must be a number from 1 to 4096")
	}
	c.WorkerConcurrency = n
	if err := c.LogLevel.UnmarshalText([]byte(get("WATCHSHARE_LOG_LEVEL"))); err != nil {
		return config{}, fail("WATCHSHARE_LOG_LEVEL", "must be debug, info, warn or error")
	}
	dev, err := strconv.ParseBool(get("WATCHSHARE_DEV_ACCOUNT_PAGE"))
	if err != nil {
		return config{}, fail("WATCHSHARE_DEV_ACCOUNT_PAGE", "must be true or false")
	}
	c.DevAccountPage = dev
	return c, nil
}

// withListenAddr fills the URLs that default to the listen address once the
// real address (port 0 resolved) is known.
func (c *config) withListenAddr(addr string) {
	if c.PublicURL == "" {
		c.PublicURL = "http://" + addr
	}
	if c.AccountURL == "" {
		c.AccountURL = c.PublicURL + "/account"
	}
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	if u.Host == "" {
		return errors.New("must have a host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}
