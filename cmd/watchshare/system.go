package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"watchshare/accountpage"
	"watchshare/graph"
	"watchshare/httpapi"
	"watchshare/oauth"
	"watchshare/service"
	"watchshare/sharing"
	"watchshare/store"
)

// system is everything `serve` runs, started from a config. The demo and the
// tests start the same thing.
type system struct {
	cfg      config
	log      *slog.Logger
	db       *store.DB
	svc      *service.Service
	registry *prometheus.Registry
	http     *http.Server
	listener net.Listener
	msg      *messaging // NATS, the consumers and the scheduler

	httpDone chan error
	stopOnce sync.Once
}

// startSystem opens the store, connects NATS, starts the worker and the
// HTTP server. On error everything already started is stopped again.
func startSystem(ctx context.Context, cfg config, log *slog.Logger) (_ *system, err error) {
	s := &system{cfg: cfg, log: log, registry: prometheus.NewRegistry(), httpDone: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.shutdown(context.Background())
		}
	}()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.listener, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, &settingError{env: "WATCHSHARE_HTTP_ADDR", flag: setting{env: "WATCHSHARE_HTTP_ADDR"}.flagName(), msg: err.Error()}
	}
	s.cfg.withListenAddr(s.listener.Addr().String())
	cfg = s.cfg

	s.db, err = store.Open(ctx, cfg.DB, store.Options{TokenKey: cfg.TokenKey, Logger: log, Now: cfg.now})
	if err != nil {
		return nil, fmt.Errorf("opening the database %s: %w", cfg.DB, err)
	}

	metrics := service.NewMetrics(s.registry)
	if err := service.RegisterOutboxGauges(s.registry, s.db, log); err != nil {
		return nil, err
	}
	httpc := *graph.DefaultHTTPClient()
	httpc.Transport = metrics.GraphTransport(httpc.Transport)
	exchange := httpc
	exchange.Timeout = 15 * time.Second // the connect flow's own bound
	gc := &graph.Client{AppID: cfg.FacebookAppID, AppSecret: cfg.FacebookAppSecret, BaseURL: cfg.GraphURL, HTTPClient: &httpc, Logger: log}
	flow, err := oauth.New(oauth.Config{
		AppID: cfg.FacebookAppID, AppSecret: cfg.FacebookAppSecret,
		DialogURL: cfg.DialogURL, TokenURL: cfg.GraphURL + "/oauth/access_token",
		RedirectURL: cfg.PublicURL + "/oauth/facebook/callback",
		Scopes:      cfg.Scopes,
		HTTPClient:  &exchange,
		Now:         cfg.now,
	})
	if err != nil {
		return nil, err
	}

	s.msg, err = startMessaging(ctx, cfg, log, s.registry)
	if err != nil {
		return nil, err
	}

	s.svc, err = service.New(service.Config{
		DB: s.db, Graph: gc, Flow: flow,
		Rules: sharing.Rules{
			ShareAfter: cfg.ShareAfter, ReshareAfter: cfg.ReshareAfter,
			MaxEventAge: cfg.MaxEventAge, ConsentTTL: cfg.ConsentTTL,
		},
		AccountURL: cfg.AccountURL, PublicURL: cfg.PublicURL,
		FriendSyncEvery:   cfg.FriendSyncEvery,
		Announcer:         s.msg.announcer(),
		TriggerFriendSync: s.msg.triggerFriendSync,
		Metrics:           metrics,
		Logger:            log,
		Now:               cfg.now,
		PendingStaleAfter: cfg.pendingStaleAfter,
		RateLimitBackoff:  cfg.rateLimitBackoff,
	})
	if err != nil {
		return nil, err
	}
	if err := s.msg.startWorker(ctx, s.svc); err != nil {
		return nil, err
	}

	api := &httpapi.Server{
		Service: s.svc, APIToken: cfg.APIToken, Logger: log,
		Ready:   s.ready,
		Metrics: promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}),
	}
	s.http = &http.Server{
		Handler:           s.handler(api.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { s.httpDone <- s.http.Serve(s.listener) }()
	log.Info("listening", slog.String("addr", s.listener.Addr().String()), slog.String("public_url", cfg.PublicURL))
	return s, nil
}

// handler is the HTTP API, with the example account page and its proxy at
// /account in front of it when the dev setting asks for them.
func (s *system) handler(api http.Handler) http.Handler {
	if !s.cfg.DevAccountPage {
		return api
	}
	page := (&accountpage.Page{API: api, APIToken: s.cfg.APIToken, Logger: s.log}).Handler()
	mux := http.NewServeMux()
	mux.Handle(accountpage.Prefix, page)
	mux.Handle(accountpage.Prefix+"/", page)
	mux.Handle("/", api)
	s.log.Warn("serving the example account page: anyone who can reach it acts with the API token (development only)",
		slog.String("url", s.cfg.PublicURL+accountpage.Prefix))
	return mux
}

// ready is /readyz: the store and NATS must be reachable.
func (s *system) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return errors.New("store unreachable")
	}
	if s.msg != nil {
		if err := s.msg.ready(); err != nil {
			return errors.New("nats unreachable")
		}
	}
	return nil
}

// addr is the HTTP listen address (port resolved).
func (s *system) addr() string { return s.listener.Addr().String() }

// shutdown stops taking work, lets in-flight work finish (bounded by ctx),
// and closes everything. It is idempotent.
func (s *system) shutdown(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		if s.http != nil {
			if err := s.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
		} else if s.listener != nil {
			s.listener.Close()
		}
		if s.msg != nil {
			if err := s.msg.stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if s.db != nil {
			if err := s.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing the database: %w", err))
			}
		}
	})
	return errors.Join(errs...)
}
