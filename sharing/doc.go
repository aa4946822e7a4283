// Package sharing is watchshare's domain: the watch event the playback
// service publishes, its validation, and the rules that decide whether an
// event is posted to Facebook or skipped (and why).
//
// Everything here is pure: no I/O, no clock of its own, no imports of other
// watchshare packages. The worker gathers the member's state from the store,
// asks Decide, and acts on the answer; the rules are table-tested in isolation.
package sharing
