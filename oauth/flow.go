package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// StateTTLDefault is how long a connect attempt stays valid.
const StateTTLDefault = 10 * time.Minute

// Config configures the flow. AppID, AppSecret, DialogURL, TokenURL and
// RedirectURL are required.
type Config struct {
	AppID       string
	AppSecret   string
	DialogURL   string        // e.g. https://www.facebook.com/v21.0/dialog/oauth
	TokenURL    string        // e.g. https://graph.facebook.com/v21.0/oauth/access_token
	RedirectURL string        // <public>/oauth/facebook/callback, registered with Facebook
	Scopes      []string      // e.g. user_friends, publish_actions
	StateTTL    time.Duration // zero means StateTTLDefault
	HTTPClient  *http.Client  // for the token exchange; nil means a client with a 15 s timeout
	Now         func() time.Time
}

// Flow builds authorize URLs and exchanges codes.
type Flow struct {
	conf     oauth2.Config
	stateTTL time.Duration
	client   *http.Client
	now      func() time.Time
}

// New returns a Flow for cfg.
func New(cfg Config) (*Flow, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("oauth: AppID is required")
	case cfg.AppSecret == "":
		return nil, errors.New("oauth: AppSecret is required")
	case cfg.DialogURL == "" || cfg.TokenURL == "" || cfg.RedirectURL == "":
		return nil, errors.New("oauth: DialogURL, TokenURL and RedirectURL are required")
	}
	f := &Flow{
		conf: oauth2.Config{
			ClientID:     cfg.AppID,
			ClientSecret: cfg.AppSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   cfg.DialogURL,
				TokenURL:  cfg.TokenURL,
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: cfg.RedirectURL,
			Scopes:      cfg.Scopes,
		},
		stateTTL: cfg.StateTTL,
		client:   cfg.HTTPClient,
		now:      cfg.Now,
	}
	if f.stateTTL <= 0 {
		f.stateTTL = StateTTLDefault
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: 15 * time.Second}
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f, nil
}

// Pending is a connect attempt between the authorize URL and the callback.
// The caller stores it server side, keyed by State, and deletes it on first
// use. Verifier is a secret: store it encrypted, never log it.
type Pending struct {
	MemberID     string
	State        string
	Verifier     string
	ReturnTo     string
	AuthorizeURL string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// String keeps the state and verifier out of logs and error messages.
func (p Pending) String() string { return "oauth.Pending{member=" + p.MemberID + "}" }

// LogValue keeps the state and verifier out of structured logs.
func (p Pending) LogValue() slog.Value { return slog.StringValue(p.String()) }

// Begin starts a connect attempt for memberID. returnTo must be empty or
// pass ValidReturnTo.
func (f *Flow) Begin(memberID, returnTo string) (Pending, error) {
	if returnTo != "" {
		if err := ValidReturnTo(returnTo); err != nil {
			return Pending{}, err
		}
	}
	state, err := randomString(32) // 256 bits
	if err != nil {
		return Pending{}, err
	}
	verifier := oauth2.GenerateVerifier()
	now := f.now()
	return Pending{
		MemberID:     memberID,
		State:        state,
		Verifier:     verifier,
		ReturnTo:     returnTo,
		AuthorizeURL: f.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)),
		CreatedAt:    now,
		ExpiresAt:    now.Add(f.stateTTL),
	}, nil
}

// ErrCodeRejected means Facebook refused the code (used, expired, wrong
// redirect URI or PKCE verifier): the member must start again.
var ErrCodeRejected = errors.New("oauth: facebook rejected the authorization code")

// ErrUnavailable means Facebook could not be reached or answered with a
// server error: nothing was exchanged, try again later.
var ErrUnavailable = errors.New("oauth: facebook is unavailable")

// Exchange trades the code for a (short-lived) user access token, sending
// the PKCE verifier. Errors wrap ErrCodeRejected or ErrUnavailable; they
// never contain the code, the token or the secret.
func (f *Flow) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.client)
	tok, err := f.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err == nil {
		return tok, nil // oauth2 never returns an empty access token
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		if status >= 500 || status == http.StatusTooManyRequests {
			return nil, fmt.Errorf("%w: token endpoint answered HTTP %d", ErrUnavailable, status)
		}
		return nil, fmt.Errorf("%w: token endpoint answered HTTP %d", ErrCodeRejected, status)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// No answer from the token endpoint (refused, reset, timeout,
		// cancelled): nothing was exchanged.
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, describeTransport(ue.Err))
	}
	// A success answer we cannot use (no access_token, not JSON, cut
	// short): the code is spent.
	return nil, fmt.Errorf("%w: unusable token endpoint answer", ErrCodeRejected)
}

// describeTransport names the cause of a transport failure (a url.Error's
// Err) without echoing the request (a url.Error would print the token
// endpoint URL; the code travels in the body, but stay conservative).
func describeTransport(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + " " + oe.Err.Error()
	}
	return "transport error"
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oauth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
