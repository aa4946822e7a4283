// Package accountpage is an example account page for development, demos and
// browser tests: plain HTML, CSS and a little JavaScript, embedded in the
// binary, with no build step. It shows how an integrator's page talks to
// watchshare: it calls only the public /v1 API, through a small dev-only
// proxy that adds the bearer token on the server, so the token never reaches
// the browser.
//
// Page.Handler serves, under Prefix (/account):
//
//   - GET /account (and /account/): the page. The member is chosen with
//     ?member=<id> (or the form on the page); after the connect flow the
//     browser lands here with facebook=connected|denied|error (and reason=)
//     in the query, which the page turns into a message.
//   - GET /account/static/...: the page's script and style sheet.
//   - /account/api/v1/...: the proxy. It forwards GET, POST, PUT and DELETE
//     of /v1/ paths only to Page.API, as the same path without the
//     /account/api prefix, with Authorization: Bearer <APIToken> and nothing
//     else of the browser's headers but Content-Type and Accept; bodies over
//     MaxBodyBytes are refused with 413; cross-origin writes are refused
//     (net/http.CrossOriginProtection) so another site cannot use the
//     token through a visitor's browser.
//
// The page is off unless `serve` is given --dev-account-page (or `demo
// --serve` runs): anyone who can reach it acts with the API token.
package accountpage
