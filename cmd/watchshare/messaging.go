package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"watchshare/service"
	"watchshare/sharing"
	"watchshare/worker"
	"watchshare/worker/natsembed"
)

// Intervals of the background loops.
const (
	outboxEvery        = 5 * time.Second
	friendScheduleTick = time.Minute
)

// pullExpiry is the life of one pull request. Under load a pull request is
// now and then lost between client and server (the consumer shows nothing
// waiting while the client waits for its batch); the client notices when
// the request expires, so a long expiry is a long stall (the bench saw 10 s
// ones with the worker's default).
const pullExpiry = 2 * time.Second

// messaging is the NATS side of serve: the connection (to an embedded server
// or a cluster), the streams, the consumers, the announcer and the
// background loops (outbox runner, friend-sync scheduler).
type messaging struct {
	log      *slog.Logger
	cfg      config
	registry prometheus.Registerer
	embedded *natsembed.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	ann      *worker.Announcer
	consumer *worker.Consumer

	closed chan struct{} // closed by nats once the connection is closed

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startMessaging(ctx context.Context, cfg config, log *slog.Logger, reg prometheus.Registerer) (_ *messaging, err error) {
	m := &messaging{log: log, cfg: cfg, registry: reg, closed: make(chan struct{})}
	defer func() {
		if err != nil {
			m.stop(context.Background())
		}
	}()
	var closeOnce sync.Once
	opts := append(worker.ConnectOptions(log), nats.Name("watchshare"),
		nats.ClosedHandler(func(*nats.Conn) { closeOnce.Do(func() { close(m.closed) }) }))
	if cfg.NATSURL == "" {
		dir, err := filepath.Abs(cfg.NATSDir)
		if err != nil {
			return nil, fmt.Errorf("nats dir: %w", err)
		}
		m.embedded, err = natsembed.Start(ctx, natsembed.Options{StoreDir: dir, Listen: cfg.NATSListen, Logger: log})
		var le *natsembed.ListenError
		if errors.As(err, &le) { // exit 2, naming the setting, like a taken HTTP address
			return nil, &settingError{env: "WATCHSHARE_NATS_LISTEN", flag: setting{env: "WATCHSHARE_NATS_LISTEN"}.flagName(), msg: le.Err.Error()}
		}
		if err != nil {
			return nil, fmt.Errorf("starting the embedded NATS server: %w", err)
		}
		m.nc, err = m.embedded.Connect(opts...)
		if err != nil {
			return nil, fmt.Errorf("connecting to the embedded NATS server: %w", err)
		}
		log.Info("embedded nats started", slog.String("store_dir", dir), slog.String("client_url", m.embedded.ClientURL()))
	} else {
		m.nc, err = nats.Connect(cfg.NATSURL, append(opts, nats.RetryOnFailedConnect(false))...)
		if err != nil {
			return nil, fmt.Errorf("connecting to NATS at %s: %w", cfg.NATSURL, err)
		}
	}
	m.js, err = jetstream.New(m.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := worker.EnsureStreams(sctx, m.js); err != nil {
		return nil, fmt.Errorf("creating the streams: %w", err)
	}
	m.ann = worker.NewAnnouncer(m.nc, log, time.Now)
	return m, nil
}

func (m *messaging) announcer() service.Announcer { return m.ann }

// triggerFriendSync asks the worker (any process) to sync one member.
func (m *messaging) triggerFriendSync(ctx context.Context, memberID string) error {
	data, _ := json.Marshal(map[string]string{"member_id": memberID})
	msgID := fmt.Sprintf("friends-sync-%s-%d", memberID, time.Now().UnixMilli())
	_, err := worker.PublishCommand(ctx, m.js, worker.SubjectFriendsSync, data, msgID)
	return err
}

// startWorker starts the consumers and the background loops.
func (m *messaging) startWorker(ctx context.Context, svc *service.Service) error {
	h := &handler{svc: svc, log: m.log, publish: func(ctx context.Context, subject string, data []byte, msgID string) error {
		_, err := worker.PublishCommand(ctx, m.js, subject, data, msgID)
		return err
	}}
	// FastAck: an ack is not waited for. Delivery is at least once anyway,
	// and a redelivered event finds its share recorded (or pending, and
	// reconciles) instead of posting again.
	c, err := worker.New(m.js, h, worker.Config{Logger: m.log, Registerer: m.registry,
		Concurrency: m.cfg.WorkerConcurrency, FastAck: true, PullExpiry: pullExpiry})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("starting the consumers: %w", err)
	}
	m.consumer = c
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		runEvery(bg, outboxEvery, func(ctx context.Context) {
			svc.RunOutbox(ctx, 100)
			svc.Housekeep(ctx)
		})
	}()
	go func() {
		defer m.wg.Done()
		runEvery(bg, friendScheduleTick, func(ctx context.Context) {
			// One command per minute for the whole fleet: the message id
			// makes JetStream drop the copies other processes publish.
			msgID := fmt.Sprintf("friends-sync-due-%d", time.Now().Unix()/60)
			if _, err := worker.PublishCommand(ctx, m.js, worker.SubjectFriendsSync, []byte(`{}`), msgID); err != nil {
				m.log.Warn("scheduling friend syncs", slog.Any("error", err))
			}
		})
	}()
	return nil
}

func runEvery(ctx context.Context, every time.Duration, f func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		f(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *messaging) ready() error {
	if m.nc == nil || !m.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	if m.consumer != nil {
		return m.consumer.Ready()
	}
	return nil
}

// stop stops pulling, lets in-flight messages finish (bounded by ctx),
// stops the loops and closes the connection and the embedded server.
func (m *messaging) stop(ctx context.Context) error {
	var errs []error
	if m.consumer != nil {
		if err := m.consumer.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the consumers: %w", err))
		}
	}
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
	if m.nc != nil {
		// Drain flushes pending publishes (announcements, acks) and closes
		// the connection asynchronously; wait for that, bounded by ctx.
		if err := m.nc.Drain(); err != nil {
			m.nc.Close()
		}
		select {
		case <-m.closed:
		case <-ctx.Done():
			m.nc.Close()
		}
	}
	if m.embedded != nil {
		m.embedded.Shutdown()
	}
	return errors.Join(errs...)
}

// handler adapts the service to the worker: it decodes and validates
// messages and maps the service's errors to settlements.
type handler struct {
	svc     *service.Service
	log     *slog.Logger
	publish func(ctx context.Context, subject string, data []byte, msgID string) error
}

func (h *handler) HandleMessage(ctx context.Context, m worker.Message) error {
	switch m.Stream {
	case worker.StreamPlayback:
		return h.handleWatch(ctx, m)
	case worker.StreamCommands:
		return h.handleCommand(ctx, m)
	}
	return worker.Permanent("unknown stream "+m.Stream, nil)
}

func (h *handler) handleWatch(ctx context.Context, m worker.Message) error {
	ev, err := sharing.DecodeWatchEvent(m.Data, time.Now())
	if err != nil {
		return worker.Permanent(err.Error(), nil)
	}
	if subjMember := strings.TrimPrefix(m.Subject, worker.SubjectWatchPrefix); subjMember != ev.MemberID {
		return worker.Permanent("invalid watch event: member_id differs from the subject's member", nil)
	}
	if m.MsgID != "" && m.MsgID != ev.EventID {
		return worker.Permanent("invalid watch event: event_id differs from Nats-Msg-Id", nil)
	}
	_, err = h.svc.ProcessWatch(ctx, ev)
	return settlement(err)
}

func (h *handler) handleCommand(ctx context.Context, m worker.Message) error {
	switch m.Subject {
	case worker.SubjectFriendsSync:
		var cmd struct {
			MemberID *string `json:"member_id"`
			All      bool    `json:"all"`
		}
		if err := decodeCommand(m.Data, &cmd); err != nil {
			return worker.Permanent("invalid friends.sync command: "+err.Error(), nil)
		}
		if cmd.MemberID != nil {
			if !sharing.ValidID(*cmd.MemberID) {
				return worker.Permanent("invalid friends.sync command: member_id must be 1–64 characters of [A-Za-z0-9_.-]", nil)
			}
			_, err := h.svc.SyncFriendsIfIdle(ctx, *cmd.MemberID)
			var se *service.Error
			if errors.As(err, &se) && se.Kind == service.KindConflict {
				// Not connected (any more), must reconnect, or another
				// process is syncing this member right now: nothing to do.
				return nil
			}
			return settlement(err)
		}
		var ids []string
		var err error
		if cmd.All {
			ids, err = h.svc.ConnectedMembers(ctx)
		} else {
			ids, err = h.svc.ClaimDueFriendSyncs(ctx, 10000)
		}
		if err != nil {
			return settlement(err)
		}
		// Fan out one command per member so that the work spreads over every
		// process and each member is synced by exactly one of them; the
		// message id drops a second request for the same member in the
		// duplicate window.
		bucket := m.Sequence
		for _, id := range ids {
			data, _ := json.Marshal(map[string]string{"member_id": id})
			if err := h.publish(ctx, worker.SubjectFriendsSync, data, fmt.Sprintf("friends-sync-%s-fanout-%d", id, bucket)); err != nil {
				return worker.RetryAfter(0, err)
			}
		}
		return nil
	case worker.SubjectDisconnect:
		var cmd struct {
			MemberID    string `json:"member_id"`
			DeletePosts bool   `json:"delete_posts"`
		}
		if err := decodeCommand(m.Data, &cmd); err != nil {
			return worker.Permanent("invalid disconnect command: "+err.Error(), nil)
		}
		if !sharing.ValidID(cmd.MemberID) {
			return worker.Permanent("invalid disconnect command: member_id must be 1–64 characters of [A-Za-z0-9_.-]", nil)
		}
		_, err := h.svc.Disconnect(ctx, cmd.MemberID, cmd.DeletePosts, service.PathNATSDisconnect)
		return settlement(err)
	}
	return worker.Permanent("unknown command subject "+m.Subject, nil)
}

func decodeCommand(data []byte, dst any) error {
	if len(data) > sharing.MaxEventBytes {
		return errors.New("payload over 64 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		return errors.New("malformed JSON")
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// settlement maps a service error to how the message is settled.
func settlement(err error) error {
	if err == nil {
		return nil
	}
	var re *service.RetryError
	var pe *service.PermanentError
	var ue *service.UnavailableError
	var se *service.Error
	switch {
	case errors.As(err, &pe):
		return worker.Permanent(pe.Reason, pe.Err)
	case errors.As(err, &re):
		return worker.RetryAfter(re.After, re.Err)
	case errors.As(err, &ue): // the store is down: not the message's fault
		return worker.Pause(0, ue.Err)
	case errors.As(err, &se) && se.Kind == service.KindInvalid:
		return worker.Permanent(se.Code+": "+se.Message, se)
	}
	return worker.RetryAfter(0, err)
}
