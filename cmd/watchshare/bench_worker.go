package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchWorker is the worker the bench measures: `watchshare serve` as a child
// process, as production runs it, against the bench's NATS server and Graph
// emulator, so that its memory and CPU are its own.
type benchWorker struct {
	cmd     *exec.Cmd
	log     *os.File // its stderr
	started time.Time
	done    chan struct{} // closed once the process has exited and been waited for
}

// startBenchWorker starts `<binary> serve` with env on top of the bench's own
// environment, minus every WATCHSHARE_ and FACEBOOK_ variable of the caller
// (runtime settings such as GOGC or GOMAXPROCS pass through). Its stderr goes
// to logPath, and to tee as well when tee is not nil.
func startBenchWorker(binary string, env map[string]string, logPath string, tee io.Writer) (*benchWorker, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WATCHSHARE_") && !strings.HasPrefix(kv, "FACEBOOK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = f
	if tee != nil {
		cmd.Stderr = io.MultiWriter(f, tee)
	}
	w := &benchWorker{cmd: cmd, log: f, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s serve: %w", binary, err)
	}
	go func() {
		cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// exited is closed once the process has exited.
func (w *benchWorker) exited() <-chan struct{} { return w.done }

// exitError describes an exit that was not asked for.
func (w *benchWorker) exitError() error {
	return fmt.Errorf("watchshare serve exited: %v", w.cmd.ProcessState)
}

// stop sends SIGTERM and waits for the exit, at most timeout (then it kills
// the process); anything but exit code 0 is an error. It returns the
// process's resource usage (see benchRun.stopWorker about its Maxrss).
func (w *benchWorker) stop(timeout time.Duration) (*syscall.Rusage, error) {
	select {
	case <-w.done:
		return nil, w.exitError()
	default:
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return nil, err
	}
	select {
	case <-w.done:
	case <-time.After(timeout):
		w.kill()
		return nil, fmt.Errorf("watchshare serve did not exit within %s of SIGTERM", timeout)
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		return nil, fmt.Errorf("watchshare serve exited with %v after SIGTERM", w.cmd.ProcessState)
	}
	ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil, errors.New("no resource usage for watchshare serve")
	}
	return ru, nil
}

// kill kills the process if it still runs, waits for it and closes its log;
// idempotent.
func (w *benchWorker) kill() {
	select {
	case <-w.done:
	default:
		w.cmd.Process.Kill()
		<-w.done
	}
	w.log.Close()
}

// logTail is the last n lines of the process's stderr.
func (w *benchWorker) logTail(n int) string {
	data, err := os.ReadFile(w.log.Name())
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(len(lines)-n, 0):], []byte("\n")))
}

// cpuSeconds is the running process's user and system CPU time so far, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15, in clock ticks of
// USER_HZ, 100 per second on Linux).
func (w *benchWorker) cpuSeconds() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Field 2, the command name in parentheses, may hold spaces: count the
	// fields after its closing parenthesis, which start at field 3.
	i := bytes.LastIndexByte(data, ')')
	fields := strings.Fields(string(data[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", w.cmd.Process.Pid)
	}
	const userHZ = 100
	var ticks float64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %w", w.cmd.Process.Pid, err)
		}
		ticks += float64(n)
	}
	return ticks / userHZ, nil
}

// peakRSSMB is the running process's peak resident set so far (VmHWM).
func (w *benchWorker) peakRSSMB() float64 {
	return vmHWMMB(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
}

// vmHWMMB reads the peak resident set (VmHWM) from a /proc/<pid>/status
// file, in MiB; 0 where /proc is missing.
func vmHWMMB(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kibToMiB(kb)
		}
	}
	return 0
}

// kibToMiB converts KiB to MiB, rounded to 0.1.
func kibToMiB(kib float64) float64 { return math.Round(kib/1024*10) / 10 }

// rusageSeconds is the user plus system CPU time of a resource usage.
func rusageSeconds(ru *syscall.Rusage) float64 {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
