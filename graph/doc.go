// Package graph is watchshare's small client for the Facebook Graph API.
//
// A [Client] holds the app's configuration (app ID and secret, the Graph base
// URL with its version, an *http.Client and an optional logger). A [Session]
// binds a Client to one access token: a user token from [Client.Session] or
// the app token "APPID|SECRET" from [Client.AppSession].
//
// Every request:
//   - carries the token in the "Authorization: Bearer" header, never in the URL;
//   - carries appsecret_proof, the lowercase hex HMAC-SHA256 of the token keyed
//     with the app secret (also for app tokens, where it is harmless);
//   - sets format=json and the user agent "watchshare";
//   - honours its context and reads at most [MaxResponseBytes] of the answer.
//
// Each call returns a [Result] with the HTTP status, headers, raw body and the
// parsed [Usage] headers (X-App-Usage, X-Page-Usage,
// X-Business-Use-Case-Usage), also when the call failed with an [*APIError].
//
// # Errors
//
// Graph's error object becomes an [*APIError]; a non-JSON error body (an HTML
// 502 from a proxy, say) becomes an APIError with Code -1. [APIError.Class]
// and the helpers [IsTokenInvalid], [IsPermission], [IsRateLimited],
// [IsTransient] and [IsDuplicate] classify any error with errors.As. Network
// failures are a [*TransportError]; [IsAmbiguous] tells whether the request may
// have reached Facebook (an error after request bytes were written), which
// matters before retrying a non-idempotent write such as [Session.PublishWatch].
//
// No token, app secret, input_token, fb_exchange_token, client_secret or code
// ever appears in an error string or a log line: URLs in errors are scrubbed
// and the literal secrets are redacted from echoed messages. [Token], [Session]
// and [Client] print "[REDACTED]" in place of secrets with fmt and log/slog.
//
// # Paging and batches
//
// [Session.Pages] walks a list edge by following paging.next verbatim (minus
// any access_token in it) until it is absent or a page is empty, bounded by a
// page count ([ErrTooManyPages]); [Collect] gathers the items into a slice.
// [Session.Batch] sends up to [MaxBatchSize] requests in one call and decodes
// each answer separately; answers Facebook did not finish carry
// [ErrBatchIncomplete].
//
// # Signed requests
//
// [ParseSignedRequest] verifies the signed_request posted to the deauthorize
// and data-deletion callbacks; graphtest.SignedRequest makes one for tests.
//
// The emulator in graph/graphtest implements the server side of the same API
// for tests and local runs.
package graph
