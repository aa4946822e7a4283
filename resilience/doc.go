// Package resilience is watchshare's end-to-end resilience suite: it builds
// the real `watchshare` binary, runs `watchshare serve` as a child process
// against an embedded NATS server on a fixed loopback port (so the test can
// stop and restart it on the same store) and the Graph emulator
// (graph/graphtest), and then kills, stops, starves and fails what is around
// the worker while watch events flow.
//
// Ground truth is independent of the code under test: the test's own log of
// the events it published (with the expected posts computed by a simple
// model of the share rule: a member's title is posted once, when its watch
// progress crosses WATCHSHARE_SHARE_AFTER) and the emulator's call log of
// the posts Facebook executed. Every case counts lost posts (expected, never
// executed), duplicate posts (the same member and title executed twice,
// deleted ones included) and events not in a terminal state (the PLAYBACK
// consumer's pending and ack-pending messages, dead letters in SOCIAL_DLQ).
//
// `go test ./resilience/` runs the short form (a few minutes of wall time at
// most, the cases in parallel). WATCHSHARE_RESILIENCE=long runs the long
// form with the counts (3,000 events for 150 members, 10 kills, ...).
// Every case logs its figures and one "summary" line; with -v the summaries
// are printed again at the end.
//
// The package has no code of its own: everything is in its tests.
package resilience
