// Command watchshare is the worker behind Facebook sharing for a streaming
// service: `serve` runs the HTTP API, the OAuth connect flow, the JetStream
// worker and the friend-sync scheduler; `demo` runs the whole system on
// embedded defaults and checks a scripted story; `graph-emulator` serves the
// built-in Graph API emulator; `version` prints build information.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: watchshare <command> [flags]

commands:
  serve           HTTP API, OAuth connect flow, JetStream worker and friend-sync scheduler
  demo            the whole system on embedded defaults, driving a scripted story (exit 0 if every check held)
  graph-emulator  the Facebook Graph API emulator alone, on --addr
  bench           measures the worker against this machine's ceiling (bare NATS consumer, bare HTTP client); prints JSON
  version         version and build info

Run 'watchshare <command> -h' for a command's flags.
`

// run executes one command and returns the process exit code: 0 success,
// 1 failure, 2 bad usage or settings.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], os.Getenv, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "graph-emulator":
		err = runGraphEmulator(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "watchshare: unknown command %q\n%s", args[0], usage)
		return 2
	}
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "watchshare: "+err.Error())
	var se *settingError
	var ue usageError
	if errors.As(err, &se) || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError is a bad command line (exit code 2).
type usageError struct{ error }

// parseFlags parses a command's flags: -h is flag.ErrHelp (exit 0), a bad
// flag or a left-over argument a usageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func versionString() string {
	v := "watchshare (devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = "watchshare " + bi.Main.Version
		}
		v += " " + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "CGO_ENABLED" {
				v += " " + s.Key + "=" + s.Value
			}
		}
	}
	return v
}
