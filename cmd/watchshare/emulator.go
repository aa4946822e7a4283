package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"watchshare/graph/graphtest"
)

// runGraphEmulator serves the Graph API emulator alone, for local
// development and browser tests.
func runGraphEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("graph-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	appID := fs.String("facebook-app-id", envOr("FACEBOOK_APP_ID", graphtest.DefaultAppID), "the app id the emulator knows ($FACEBOOK_APP_ID)")
	appSecret := fs.String("facebook-app-secret", envOr("FACEBOOK_APP_SECRET", graphtest.DefaultAppSecret), "the app's secret ($FACEBOOK_APP_SECRET)")
	fixture := fs.String("fixture", "", "JSON file of users and friendships to load (e.g. testdata/graph-users.json)")
	redirect := fs.String("redirect-uri", "", "the only valid OAuth redirect URI (empty: any http(s) URI)")
	deauth := fs.String("deauthorize-url", "", "where RemoveApp sends the deauthorize callback")
	deletion := fs.String("data-deletion-url", "", "where data deletion requests are sent")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	emu := &graphtest.Server{
		AppID: *appID, AppSecret: *appSecret,
		DeauthorizeURL: *deauth, DataDeletionURL: *deletion,
		Logf: func(format string, a ...any) { logger.Info(fmt.Sprintf(format, a...)) },
	}
	if *redirect != "" {
		emu.RedirectURIs = []string{*redirect}
	}
	if *fixture != "" {
		if err := emu.LoadFile(*fixture); err != nil {
			return usageError{fmt.Errorf("--fixture: %w", err)}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr: %w", err)}
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	logger.Info("listening", slog.String("addr", ln.Addr().String()))
	fmt.Fprintf(stdout, "Graph emulator on %s\n  WATCHSHARE_GRAPH_URL=%s/v21.0\n  WATCHSHARE_DIALOG_URL=%s/v21.0/dialog/oauth\n  FACEBOOK_APP_ID=%s\n", base, base, base, *appID)
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
