// Package oauth is the Facebook connect flow seen from watchshare: the
// authorize URL with a random single-use state and PKCE S256, validation of
// the post-login return path, and the code exchange, all through
// golang.org/x/oauth2. It keeps no state itself: the caller stores the
// Pending record server side (the state is bound to the member there) and
// hands the verifier back at the callback.
package oauth
