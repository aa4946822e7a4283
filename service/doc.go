// Package service holds watchshare's use cases: connect, the member's
// settings (pause, hide/unshare), sharing a watch event exactly once, friend
// sync, disconnect and purge. It orchestrates the store (SQLite), the Graph
// client and the pure rules of package sharing; the HTTP API and the NATS
// worker are thin adapters over it, so every path (HTTP, NATS, Facebook's
// callbacks) runs the same code.
package service
