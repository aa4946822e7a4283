// Package worker is watchshare's messaging runtime: it consumes the
// JetStream streams of the contract (PLAYBACK, SOCIAL_CMD), runs the business
// logic on each message through the small Handler interface, settles every
// delivery (ack, retry, pause, dead letter), and announces events on core
// NATS. It imports no other watchshare package; cmd wires a Handler from the
// use-case layer into it.
//
// # Streams and consumers
//
// EnsureStreams creates PLAYBACK (playback.watch.>), SOCIAL_CMD
// (social.cmd.>) and SOCIAL_DLQ (social.dlq.>) when they are missing and
// never touches existing ones (see StreamConfigs). A Consumer binds a durable
// pull consumer named "watchshare" on each consumed stream
// (CreateOrUpdateConsumer, explicit acks), so several processes share the
// work: each message goes to one of them at a time.
//
// Defaults (Config): AckWait 30s, MaxDeliver 10, no BackOff list (the
// server would stretch every NakWithDelay by it; redeliveries after an ack
// timeout, i.e. crashed or stuck workers, come after AckWait, and naks carry
// their own delay), MaxAckPending 1000, 16 handler goroutines, at most 64
// messages held per process, a pull buffer of 16.
//
// # Settlement
//
// The handler's error decides, in one place (settle):
//
//   - nil: Ack, as a DoubleAck (bounded by AckTimeout) unless FastAck.
//   - Permanent(reason, err): the original message (same data, same headers
//     minus JetStream publish controls other than Nats-Msg-Id) is published to
//     social.dlq.<stream> with Watchshare-Error, Watchshare-Stream,
//     Watchshare-Subject, Watchshare-Sequence and Watchshare-Deliveries; after
//     the PubAck the delivery is terminated with TermWithReason. If the dead
//     letter cannot be stored the message is nak'd with a delay instead, so it
//     is never lost. The dead letter keeps Nats-Msg-Id (or gets
//     watchshare-dlq:<stream>:<seq>), so a redelivery after a lost PubAck or
//     Term is dropped by SOCIAL_DLQ's duplicate window: a message is
//     dead-lettered once.
//   - RetryAfter(d, err), any other error, or a panic: NakWithDelay(d), or when
//     d is 0 RetryMin*2^(deliveries-1) capped at RetryMax with ±20% jitter
//     (2s, 4s, 8s, ... 5m). On the last delivery (NumDelivered >= MaxDeliver)
//     the message is dead-lettered with the error text as reason instead.
//   - Pause(d, err): a dependency is down. The message is nak'd with delay d
//     (PauseDefault 10s when 0, at most PauseMax = AckWait/2) and the whole Consumer
//     pauses: it pulls nothing and starts no handler until the pause ends;
//     then one message runs alone as a probe, and only when it does not
//     pause again does everyone resume (a small circuit breaker).
//
// NATS counts every delivery against MaxDeliver; a nak cannot be made free.
// So pauses are made cheap instead: only the message whose handler reported
// the outage is nak'd (one delivery per Pause); the other messages this
// process holds wait at the gate, kept alive with InProgress, without being
// redelivered, and the probe keeps others from burning deliveries while the
// outage lasts. A message whose handler pauses on its last delivery is not
// nak'd (that nak would never come back): it is held and retried in place
// after the pause. With MaxDeliver 10 a message can thus see nine outages
// and still be handled.
//
// When a graceful Stop finds messages waiting for a pause to end, it gives
// them back at once (nak with the remaining pause; a dead letter if it was
// their last delivery). A Stop that runs out of time cancels the handlers'
// contexts; their messages are nak'd the same way, without the
// retry-exhaustion rule being applied to the cancellation error.
//
// # Concurrency and ordering
//
// A Consumer runs Config.Concurrency handler goroutines shared by all its
// streams. Messages with the same key (Message.Key: the member id) run one
// at a time, in the order this process received them; different keys run in
// parallel, round robin. At most QueueSize messages are held; when that is
// reached pulling stops (back-pressure). Every held message, running or
// queued, gets InProgress every AckWait/3, so slow handlers (Graph calls) do
// not cause redeliveries; HandlerTimeout (5m) bounds a handler call.
//
// Ordering is per process and per delivery: a redelivered message (retry,
// pause, another worker's crash) arrives after newer messages of its key,
// and two processes can hold messages of the same member at once. Handlers
// must therefore be idempotent and tolerate reordering (the store's unique
// keys and version checks, RELIABILITY.md §1.9).
//
// # Lifecycle
//
// New, then Start(ctx) (or Run(ctx), which blocks), then Stop(ctx). Stop
// stops pulling, drains the pull iterators (buffered messages are still
// handled), waits for the handlers, and returns when every goroutine has
// exited; the NATS connection is the caller's. Cancelling the context given
// to Start begins the same graceful stop, bounded by ShutdownTimeout.
//
// The connection should come from ConnectOptions (reconnect forever): the
// pull iterators re-issue their pull requests after a reconnect, and a
// consumer that disappeared is recreated (checked every InfoInterval, which
// also refreshes the lag gauge). Ready reports connection and JetStream
// health for /readyz.
//
// # Metrics
//
// With Config.Registerer set: watchshare_worker_messages_total{stream,
// outcome} (acked, retried, dead_lettered, paused),
// watchshare_worker_handler_duration_seconds{stream},
// watchshare_worker_in_flight, watchshare_worker_consumer_pending{stream}
// (lag, NumPending), watchshare_worker_consumer_ack_pending{stream} and
// watchshare_worker_paused.
//
// # Other helpers
//
// Announcer publishes social.event.<kind> announcements. PublishWatch and
// PublishCommand publish like the playback and account services do, for
// tests and the demo. The embedded server lives in worker/natsembed, and test
// helpers in worker/natsembed/natstest.
package worker
