// Package natsembed runs a NATS server with JetStream inside the current
// process.
//
// It is used by `watchshare serve` when WATCHSHARE_NATS_URL is empty, by
// `watchshare demo`, and by tests (see the natstest subpackage). The server
// keeps its JetStream store in [Options.StoreDir]; starting a new server on the
// same directory (and, for TCP clients, the same address) resumes every stream
// and durable consumer where the previous one stopped.
//
// With an empty [Options.Listen] the server opens no socket at all and clients
// reach it only through [Server.Connect] (an in-process pipe). Such a client
// cannot follow the server across a restart, because the pipe belongs to one
// server object; use a fixed TCP address for restart tests.
package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configures an embedded server. The zero value is not usable:
// StoreDir is required.
type Options struct {
	// StoreDir is the JetStream store directory. Required.
	StoreDir string
	// Listen is where the server accepts TCP clients. Empty means in-process
	// only (no socket is opened). "127.0.0.1:0" picks a free port; see
	// [Server.ClientURL] for the result.
	Listen string
	// SyncAlways makes the server fsync every write. The default is the
	// nats-server default (sync every 2 minutes), which can lose recent
	// writes on an OS crash or power loss (not on a process crash).
	SyncAlways bool
	// Logger receives the server's warnings and errors (notices at debug
	// level). Nil means the server logs nothing.
	Logger *slog.Logger
}

// readyTimeout bounds the wait for the server to accept connections (the
// context given to Start bounds it too).
const readyTimeout = 10 * time.Second

// Server is a running embedded NATS server.
type Server struct {
	ns     *server.Server
	inProc bool
	once   sync.Once
}

// Start starts an embedded NATS server with JetStream enabled and waits until
// it accepts connections. The caller must call Shutdown.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsembed: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: "watchshare-embedded",
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: o.SyncAlways,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		// No HTTP monitoring, no cluster, no leafnodes.
	}
	if o.Listen == "" {
		opts.DontListen = true
		opts.Port = server.RANDOM_PORT
	} else {
		host, portStr, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsembed: listen address %q: %w", o.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("natsembed: listen address %q: bad port", o.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT // 0 would mean the default port 4222
		}
		if host == "" {
			host = "0.0.0.0"
		}
		if port != server.RANDOM_PORT {
			// The server would only log a bind failure and never become
			// ready; find out now, with an error the caller can name.
			ln, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
			if err != nil {
				return nil, &ListenError{Addr: o.Listen, Err: err}
			}
			ln.Close()
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(slogLogger{o.Logger}, false, false, false)
	}
	go ns.Start()

	s := &Server{ns: ns, inProc: opts.DontListen}
	fail := func(err error) (*Server, error) {
		s.Shutdown()
		return nil, err
	}
	deadline := time.Now().Add(readyTimeout)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("natsembed: waiting for server: %w", err))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("natsembed: server not ready after %s", readyTimeout))
		}
	}
	if !ns.JetStreamEnabled() {
		return fail(errors.New("natsembed: JetStream failed to start"))
	}
	return s, nil
}

// ListenError: the server cannot listen on Options.Listen (taken, or not an
// address of this host).
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("natsembed: listen on %s: %v", e.Addr, e.Err)
}
func (e *ListenError) Unwrap() error { return e.Err }

// Connect connects a client to the server: through an in-process pipe when
// the server does not listen, else over TCP to ClientURL. The defaults
// (reconnect forever every 250ms, name "watchshare") come first, so opts
// override them.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{
		nats.Name("watchshare"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	all = append(all, opts...)
	if s.inProc {
		all = append(all, nats.InProcessServer(s.ns))
		return nats.Connect("", all...)
	}
	return nats.Connect(s.ClientURL(), all...)
}

// ClientURL is the server's TCP URL ("nats://host:port"), or "" when the
// server is in-process only.
func (s *Server) ClientURL() string {
	if s.inProc {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once and from several goroutines.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}

// slogLogger routes nats-server logging to slog: notices at debug, warnings
// at warn, errors and fatals at error. Debug and trace are never enabled.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Noticef(format string, v ...any) {
	l.l.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (l slogLogger) Warnf(format string, v ...any) {
	l.l.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (l slogLogger) Fatalf(format string, v ...any) {
	l.l.Error(fmt.Sprintf(format, v...), "component", "nats-server", "fatal", true)
}
func (l slogLogger) Errorf(format string, v ...any) {
	l.l.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (l slogLogger) Debugf(format string, v ...any) {}
func (l slogLogger) Tracef(format string, v ...any) {}
