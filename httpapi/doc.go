// Package httpapi is watchshare's HTTP surface: the bearer-protected /v1
// member API used by the account page, the public OAuth callback, Facebook's
// signed deauthorize and data-deletion callbacks, and /healthz, /readyz and
// /metrics. Handlers decode, call the service and encode; errors go through
// one function that maps them to the contract's JSON error shape.
package httpapi
