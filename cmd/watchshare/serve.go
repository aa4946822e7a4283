package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"time"
)

// shutdownGrace bounds a graceful shutdown (the contract promises exit 0
// within 15 s of SIGTERM).
const shutdownGrace = 12 * time.Second

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig("serve", args, getenv, true, stderr)
	if err != nil {
		var se *settingError
		if errors.As(err, &se) || errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	sys, err := startSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := sys.shutdown(sctx); err != nil {
		log.Error("shutdown", slog.Any("error", err))
		return err
	}
	log.Info("stopped")
	return nil
}
