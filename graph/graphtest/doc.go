// Package graphtest is an in-process emulator of the parts of Facebook
// that watchshare talks to: the OAuth login dialog, the token endpoint,
// /debug_token, the Graph API nodes and edges used for Open Graph
// video.watches sharing and friend sync, batch requests, and the
// deauthorize and data deletion callbacks Facebook makes to the app.
//
// It is an independent implementation of Facebook's documented behaviour
// (see shared/graph-api.md): shapes, error codes, messages and HTTP
// statuses follow Facebook, so a client that passes against the emulator
// is tested against Facebook, not against itself.
//
// # Use
//
// A Server is an http.Handler whose zero value works, modelled on
// net/http/httptest and tailscale's testcontrol:
//
//	srv := graphtest.NewServer() // started on loopback; srv.URL, srv.Client()
//	defer srv.Close()
//	alice := srv.AddUser(graphtest.User{Name: "Alice Smith"})
//	tok := srv.AuthorizeApp(alice.ID, "user_friends", "publish_actions")
//
// Configure a &graphtest.Server{...} (AppID, AppSecret, RedirectURIs, Now,
// DisableProof, ...) and call Start when the defaults do not fit; a Clock's
// Now as Server.Now lets a test move time forward. The
// "watchshare graph-emulator" command serves the same handler after
// LoadFile.
//
// # What is emulated
//
//   - GET /dialog/oauth: an HTML consent page (user picker, a checkbox per
//     requested scope, Allow / Cancel); Approve and Deny drive it from
//     tests exactly like a browser.
//   - /oauth/access_token (GET or POST, client credentials in the form or
//     HTTP Basic): authorization_code (single use, 10 minutes, exact
//     redirect_uri, PKCE), fb_exchange_token, client_credentials.
//   - /debug_token, /me, /{id}, /me/permissions (GET, DELETE, DELETE
//     /{perm}), /me/friends (cursor paging, summary.total_count),
//     POST and GET /me/video.watches, POST and DELETE /{action-id}, and
//     batch requests at POST /.
//
// Every path is also served under a /vX.Y/ prefix. Tokens are accepted as
// the access_token parameter or an "Authorization: Bearer" or "OAuth"
// header; POST with method=delete is a DELETE. Calls made with a user token
// need appsecret_proof unless DisableProof is set.
//
// # Inspection and fault injection
//
// Every call is logged (Calls, CallCount, UnhandledCalls, ResetCalls);
// routes the emulator does not implement answer a Graph error and are
// logged as unhandled, so tests can assert none happened. State is
// inspected with Actions, Authorized, Permissions, Tokens and friends.
// Failures are injected with FailNext, FailPage, DropNext (commit, then
// drop the connection), SetLatency, SetReplyLatency (execute, then hold
// the reply), SetOutage, InvalidateTokens,
// SetAppUsage, the per-hour call budgets and SetPublishActionsRemoved.
//
// A dropped connection (DropNext, Fault.CloseConn) on a GET route may be
// invisible to the client: Go's http.Transport silently retries an
// idempotent request that fails on a reused keep-alive connection before any
// reply byte, so the fault is consumed and the retry answers normally (after
// DropNext, the call has then run twice). Use a POST route, or a client with
// DisableKeepAlives, when a test needs the client to see the failure.
package graphtest
