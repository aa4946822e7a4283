package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Consumer runs a Handler on the durable pull consumers of Config.Streams.
// Create it with New, then Start (or Run) once and Stop once; both Stop and
// Ready are safe to call at any time and from any goroutine.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	nc      *nats.Conn
	h       Handler
	log     *slog.Logger
	metrics *metrics
	stats   counters

	pullers []*puller
	sched   *scheduler
	gate    *gate

	started  atomic.Bool
	hardOnce sync.Once
	stopping chan struct{}   // closed, with lifeMu held, when Stop begins: no more pulling
	hard     chan struct{}   // closed when the stop deadline passed
	quit     chan struct{}   // closed when the handler goroutines have exited
	hctx     context.Context // handlers' context: cancelled by a hard stop
	hcancel  context.CancelFunc
	pctx     context.Context // pulls' context: also cancelled when a drain hangs
	pcancel  context.CancelFunc
	sctx     context.Context // setup and info calls: cancelled when Stop begins
	scancel  context.CancelFunc
	done     chan struct{} // closed when every goroutine has exited

	lifeMu sync.Mutex // serialises Start against the beginning of Stop

	dispatchers sync.WaitGroup
	workers     sync.WaitGroup
	background  sync.WaitGroup
}

// puller owns the durable consumer and the pull iterator of one stream.
type puller struct {
	c      *Consumer
	stream string

	mu         sync.Mutex
	cons       jetstream.Consumer
	iter       jetstream.MessagesContext
	needCreate bool
	stopped    bool
}

// New returns a Consumer that will run h on messages from js. It does not
// talk to the server; Start does.
func New(js jetstream.JetStream, h Handler, cfg Config) (*Consumer, error) {
	if js == nil || h == nil {
		return nil, errors.New("worker: New needs a JetStream and a Handler")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer, cfg.Streams)
	if err != nil {
		return nil, fmt.Errorf("worker: register metrics: %w", err)
	}
	c := &Consumer{
		cfg:      cfg,
		js:       js,
		nc:       js.Conn(),
		h:        h,
		log:      cfg.Logger.With("component", "worker"),
		metrics:  m,
		sched:    newScheduler(cfg.QueueSize),
		stopping: make(chan struct{}),
		hard:     make(chan struct{}),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	// Handler contexts end only when a Stop runs out of time.
	c.hctx, c.hcancel = context.WithCancel(context.Background())
	c.pctx, c.pcancel = context.WithCancel(c.hctx)
	c.sctx, c.scancel = context.WithCancel(c.pctx)
	c.gate = newGate(m.setPaused)
	for _, s := range cfg.Streams {
		c.pullers = append(c.pullers, &puller{c: c, stream: s})
	}
	return c, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Consumer) Config() Config { return c.cfg }

// Stats returns the counters since New.
func (c *Consumer) Stats() Stats { return c.stats.snapshot() }

// Start creates the streams if they are missing, creates or updates the
// durable consumers, and starts pulling and handling in the background. ctx
// bounds the setup and is the Consumer's lifetime: when it is cancelled, a
// graceful Stop bounded by Config.ShutdownTimeout begins. Start may be called
// once.
func (c *Consumer) Start(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopped() {
		return errors.New("worker: Consumer already stopped")
	}
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("worker: Consumer already started")
	}
	if err := EnsureStreams(ctx, c.js); err != nil {
		c.beginStopLocked(false)
		return err
	}
	for _, p := range c.pullers {
		cons, err := c.js.CreateOrUpdateConsumer(ctx, p.stream, c.consumerConfig())
		if err != nil {
			c.beginStopLocked(false)
			return fmt.Errorf("worker: create consumer %s on %s: %w", c.cfg.Durable, p.stream, err)
		}
		p.cons = cons
	}
	for range c.cfg.Concurrency {
		c.workers.Add(1)
		go c.work()
	}
	for _, p := range c.pullers {
		c.dispatchers.Add(1)
		go p.dispatch()
		c.background.Add(1)
		go p.watch()
	}
	c.background.Add(1)
	go c.heartbeats()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
			defer cancel()
			if err := c.Stop(sctx); err != nil {
				c.log.Warn("worker stop after context end", "err", err)
			}
		case <-c.stopping:
		}
	}()
	c.log.Info("worker started", "streams", c.cfg.Streams, "durable", c.cfg.Durable,
		"concurrency", c.cfg.Concurrency, "ack_wait", c.cfg.AckWait, "max_deliver", c.cfg.MaxDeliver)
	return nil
}

// beginStopLocked begins the stop; lifeMu is held and the stop has not
// begun yet. With goroutines running it starts the shutdown, else (never
// started, or Start failed) the Consumer is done at once.
func (c *Consumer) beginStopLocked(running bool) {
	close(c.stopping)
	c.scancel()
	if running {
		go c.shutdown()
		return
	}
	c.hcancel()
	close(c.done)
}

// Run starts the Consumer and blocks until it has stopped: after ctx is
// cancelled (graceful stop bounded by Config.ShutdownTimeout) or Stop. It
// returns the Start error, else nil.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-c.done
	return nil
}

// Done is closed when the Consumer has stopped and all its goroutines have
// exited.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Stop stops pulling, lets the messages already pulled be handled (the
// iterators are drained, Drain semantics), and returns when every goroutine
// has exited. If ctx ends first, the handlers' contexts are cancelled and
// messages not handled yet are given back to the server (nak, or dead letter
// on their last delivery); Stop still waits for the goroutines and then
// returns ctx's error. Stop is idempotent; it does not close the NATS
// connection.
func (c *Consumer) Stop(ctx context.Context) error {
	c.lifeMu.Lock()
	if !c.stopped() {
		c.beginStopLocked(c.started.Load())
	}
	c.lifeMu.Unlock()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.hardStop()
		<-c.done
		return fmt.Errorf("worker: stop: %w", ctx.Err())
	}
}

func (c *Consumer) hardStop() {
	c.hardOnce.Do(func() {
		close(c.hard)
		c.hcancel()
	})
}

func (c *Consumer) shutdown() {
	c.log.Info("worker stopping")
	for _, p := range c.pullers {
		p.stop(false)
	}
	// Draining needs the server (the unsubscribe is flushed first). If it
	// cannot finish, say the connection broke meanwhile, stop the iterators
	// outright: their buffered messages are redelivered after AckWait.
	dispatched := make(chan struct{})
	go func() {
		c.dispatchers.Wait()
		close(dispatched)
	}()
	t := time.NewTimer(max(c.cfg.PullExpiry, 2*time.Second))
	select {
	case <-dispatched:
	case <-t.C:
		c.log.Warn("worker drain timed out; stopping pulls")
		c.pcancel()
		for _, p := range c.pullers {
			p.stop(true)
		}
		<-dispatched
	case <-c.hard:
		<-dispatched // the dispatchers' Next returns on the cancelled context
	}
	t.Stop()
	c.sched.close()
	c.workers.Wait()
	close(c.quit)
	c.background.Wait()
	c.pcancel()
	c.hcancel()
	c.log.Info("worker stopped")
	close(c.done)
}

func (c *Consumer) stopped() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// Ready reports whether the Consumer is running, its connection is
// connected and JetStream answers (within Config.ReadyTimeout). For /readyz.
func (c *Consumer) Ready() error {
	if !c.started.Load() {
		return errors.New("worker: not started")
	}
	if c.stopped() {
		return errors.New("worker: stopped")
	}
	if st := c.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("worker: nats connection %s", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ReadyTimeout)
	defer cancel()
	if _, err := c.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("worker: jetstream: %w", err)
	}
	return nil
}

func (c *Consumer) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "watchshare worker",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver,
		BackOff:       c.cfg.BackOff,
		MaxAckPending: c.cfg.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// --- pulling ---

// open returns a new pull iterator, (re)creating the durable consumer first
// if it is missing.
func (p *puller) open() (jetstream.MessagesContext, error) {
	c := p.c
	p.mu.Lock()
	cons, needCreate := p.cons, p.needCreate || p.cons == nil
	p.mu.Unlock()
	if needCreate {
		ctx, cancel := context.WithTimeout(c.sctx, 10*time.Second)
		defer cancel()
		if err := EnsureStreams(ctx, c.js); err != nil {
			return nil, err
		}
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(ctx, p.stream, c.consumerConfig())
		if err != nil {
			return nil, fmt.Errorf("create consumer: %w", err)
		}
		c.log.Info("worker consumer recreated", "stream", p.stream, "durable", c.cfg.Durable)
	}
	it, err := cons.Messages(
		jetstream.PullMaxMessages(c.cfg.PullMaxMessages),
		jetstream.PullExpiry(c.cfg.PullExpiry),
	)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		it.Stop()
		return nil, errStopping
	}
	p.cons, p.needCreate, p.iter = cons, false, it
	return it, nil
}

// stop ends pulling. It drains the current iterator (buffered messages are
// still returned by Next, then Next reports the iterator closed), unless
// force is set or there is no connection (a drain could not complete): then
// the iterator is stopped, and its buffered messages are dropped and
// redelivered after AckWait.
func (p *puller) stop(force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	switch {
	case p.iter == nil:
	case !force && p.c.nc.Status() == nats.CONNECTED:
		p.iter.Drain()
	default:
		p.iter.Stop()
	}
}

// recreate makes the dispatcher recreate the consumer and its iterator.
func (p *puller) recreate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.needCreate = true
	if p.iter != nil {
		p.iter.Stop()
	}
}

func (p *puller) dispatch() {
	c := p.c
	defer c.dispatchers.Done()
	var it jetstream.MessagesContext
	retry := 0
	for {
		if it == nil {
			if c.stopped() {
				return
			}
			var err error
			it, err = p.open()
			if err != nil {
				if errors.Is(err, errStopping) {
					return
				}
				retry++
				d := min(time.Duration(retry)*250*time.Millisecond, 5*time.Second)
				c.log.Warn("worker pull setup failed", "stream", p.stream, "err", err, "retry_in", d)
				if !sleep(d, c.stopping) {
					return
				}
				continue
			}
		}
		c.gate.waitOpen(c.stopping) // no pulling while paused
		select {
		case c.sched.slots <- struct{}{}:
		case <-c.hard:
			it.Stop()
			return
		}
		msg, err := it.Next(jetstream.NextContext(c.pctx))
		if err != nil {
			<-c.sched.slots
			switch {
			case errors.Is(err, jetstream.ErrMsgIteratorClosed):
				it = nil
				if c.stopped() {
					return
				}
				// Closed under us: connection closed, consumer deleted.
				p.mu.Lock()
				p.iter, p.needCreate = nil, true
				p.mu.Unlock()
				c.log.Warn("worker pull iterator closed; reopening", "stream", p.stream, "err", err)
				if !sleep(250*time.Millisecond, c.stopping) {
					return
				}
			case c.pctx.Err() != nil:
				it.Stop()
				return
			default:
				lvl := slog.LevelWarn
				if c.nc.Status() != nats.CONNECTED {
					lvl = slog.LevelDebug // expected while reconnecting
				}
				c.log.Log(c.sctx, lvl, "worker pull error", "stream", p.stream, "err", err)
				sleep(100*time.Millisecond, c.stopping)
			}
			continue
		}
		retry = 0
		c.accept(p.stream, msg)
	}
}

// accept takes a pulled message into the scheduler; the caller holds a slot.
func (c *Consumer) accept(stream string, msg jetstream.Msg) {
	m := Message{Stream: stream, Subject: msg.Subject(), Data: msg.Data(), Header: msg.Headers()}
	if md, err := msg.Metadata(); err == nil {
		m.Stream = md.Stream
		m.NumDelivered = md.NumDelivered
		m.Sequence = md.Sequence.Stream
		m.Timestamp = md.Timestamp
	} else {
		c.log.Error("worker message without metadata", "stream", stream, "subject", m.Subject, "err", err)
	}
	if m.Header != nil {
		m.MsgID = m.Header.Get(jetstream.MsgIDHeader)
	}
	m.key = messageKey(m.Subject, m.Data)
	c.stats.held.Add(1)
	c.sched.push(m.key, &item{msg: msg, m: m})
}

// watch refreshes the lag gauges every InfoInterval and recreates the
// consumer if it disappeared (deleted by an operator, stream recreated).
func (p *puller) watch() {
	c := p.c
	defer c.background.Done()
	t := time.NewTicker(c.cfg.InfoInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stopping:
			return
		case <-t.C:
		}
		p.mu.Lock()
		cons := p.cons
		p.mu.Unlock()
		if cons == nil || c.stopped() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.sctx, 5*time.Second)
		info, err := cons.Info(ctx)
		cancel()
		switch {
		case err == nil:
			c.metrics.setLag(p.stream, info.NumPending, uint64(info.NumAckPending))
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			c.log.Warn("worker consumer missing; recreating", "stream", p.stream, "err", err)
			p.recreate()
		default:
			c.log.Debug("worker consumer info", "stream", p.stream, "err", err)
		}
	}
}

// --- heartbeats ---

// heartbeats sends InProgress every AckWait/3 for every held message:
// running, queued behind its key, or waiting at the pause gate. It runs
// until the handler goroutines have exited.
func (c *Consumer) heartbeats() {
	defer c.background.Done()
	// AckWait is the shortest ack deadline: BackOff entries are not shorter.
	t := time.NewTicker(max(c.cfg.AckWait/3, 10*time.Millisecond))
	defer t.Stop()
	var batch []*item
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		batch = c.sched.items(batch[:0])
		for _, it := range batch {
			it.heartbeat()
		}
	}
}

// --- handling ---

func (c *Consumer) work() {
	defer c.workers.Done()
	var hc *callContext // this goroutine's handler context, reused
	defer func() {
		if hc != nil {
			hc.release()
		}
	}()
	for key := range c.sched.ready {
		it := c.sched.head(key)
		c.process(&hc, it)
		c.stats.held.Add(-1)
		c.sched.done(key)
	}
}

func (c *Consumer) process(hc **callContext, it *item) {
	select {
	case <-c.hard:
		c.giveBack(it, 0, "not handled before shutdown")
		return
	default:
	}
	for {
		probe, err := c.gate.enter(c.stopping)
		if err != nil {
			c.giveBack(it, c.gate.pausedFor(), "paused at shutdown")
			return
		}
		herr := c.call(hc, it)
		pe, paused := asPause(herr)
		var d time.Duration
		if paused {
			d = c.pauseDelay(pe.Delay)
		}
		c.gate.exit(probe, d)
		if paused && it.m.LastDelivery(c.cfg.MaxDeliver) && c.hctx.Err() == nil {
			// A nak on the last delivery would never come back: keep the
			// message (InProgress keeps it alive) and try again after the
			// pause. An outage is not the message's fault.
			c.count(it.m.Stream, OutcomePaused)
			c.log.Warn("worker paused on last delivery; holding message", "stream", it.m.Stream,
				"seq", it.m.Sequence, "pause", d, "err", herr)
			continue
		}
		c.settle(it, herr)
		return
	}
}

// call runs the handler with a timeout, recovering panics. *hc is the
// calling goroutine's handler context: made when nil, replaced after it was
// cancelled.
func (c *Consumer) call(hc **callContext, it *item) (err error) {
	if *hc == nil {
		*hc = newCallContext(c.hctx, c.cfg.HandlerTimeout)
	}
	ctx := *hc
	start := time.Now()
	ctx.begin(start)
	defer func() {
		if !ctx.end() {
			*hc = nil
		}
	}()
	c.stats.inFlight.Add(1)
	c.metrics.addInFlight(1)
	defer func() {
		if r := recover(); r != nil {
			err = errPanic{r}
			c.stats.panics.Add(1)
			c.log.Error("worker handler panic", "stream", it.m.Stream, "subject", it.m.Subject,
				"seq", it.m.Sequence, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		c.metrics.observe(it.m.Stream, time.Since(start).Seconds())
		c.metrics.addInFlight(-1)
		c.stats.inFlight.Add(-1)
	}()
	return c.h.HandleMessage(ctx, it.m)
}

func (c *Consumer) pauseDelay(d time.Duration) time.Duration {
	if d <= 0 {
		d = c.cfg.PauseDefault
	}
	return min(d, c.cfg.PauseMax)
}

// sleep waits d or until stop is closed; it reports whether d passed.
func sleep(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
