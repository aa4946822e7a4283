package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"
)

// shutdownGrace bounds a graceful shutdown (the contract promises exit 0
// within 15 s of SIGTERM).
const shutdownGrace = 12 * time.Second

// serveCPUProfileEnv names a file that receives a CPU profile of serve, from
// its start to its exit. It is no setting of the contract: `watchshare
// bench -cpuprofile` sets it to profile the worker process it runs.
const serveCPUProfileEnv = "WATCHSHARE_CPUPROFILE"

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig("serve", args, getenv, true, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if path := getenv(serveCPUProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("%s: %w", serveCPUProfileEnv, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("%s: %w", serveCPUProfileEnv, err)
		}
		defer pprof.StopCPUProfile()
	}
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
