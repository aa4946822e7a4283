package resilience

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/graph/graphtest"
	"watchshare/worker"
	"watchshare/worker/natsembed"
	"watchshare/worker/natsembed/natstest"
)

// long reports whether the long form runs (WATCHSHARE_RESILIENCE=long).
var long = os.Getenv("WATCHSHARE_RESILIENCE") == "long"

// size picks the short or the long figure.
func size[T any](short, lng T) T {
	if long {
		return lng
	}
	return short
}

const (
	apiToken   = "resilience-api-token-0123456789"
	shareAfter = 60 // WATCHSHARE_SHARE_AFTER in seconds
	titleURL   = "https://www.example.com/title/"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error

	summaryMu sync.Mutex
	summaries []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	summaryMu.Lock()
	if len(summaries) > 0 && testing.Verbose() {
		slices.Sort(summaries)
		fmt.Println("resilience summary (" + size("short", "long") + " form):")
		for _, s := range summaries {
			fmt.Println("  " + s)
		}
	}
	summaryMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// summary logs a case's figures and keeps them for the end of the run.
func summary(t *testing.T, format string, args ...any) {
	t.Helper()
	line := t.Name() + ": " + fmt.Sprintf(format, args...)
	t.Log("summary: " + line)
	summaryMu.Lock()
	summaries = append(summaries, line)
	summaryMu.Unlock()
}

// binary builds ./cmd/watchshare once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "watchshare-resilience-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "watchshare")
		gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gotool); err != nil {
			gotool = "go"
		}
		cmd := exec.Command(gotool, "build", "-o", binPath, "watchshare/cmd/watchshare")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/watchshare: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// waitFor polls cond every 20ms until it holds; it fails the test after
// timeout. It returns how long it waited.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// --- NATS ---

// natsServer is an embedded NATS server on a fixed loopback port with its
// JetStream store in a fixed directory, so that it can be stopped and
// started again as the same server.
type natsServer struct {
	t    *testing.T
	addr string
	dir  string
	log  *slog.Logger

	mu sync.Mutex
	s  *natsembed.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, addr: fixedPort(t), dir: t.TempDir(), log: natstest.Logger(t, slog.LevelError)}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// fixedPort picks a free loopback port below the ephemeral range, so that
// no outgoing connection (a client reconnecting while the server is down)
// can take it meanwhile.
func fixedPort(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(10000)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr
	}
	t.Fatal("no free port in 20000-29999")
	return ""
}

func (n *natsServer) url() string { return "nats://" + n.addr }

// start starts the server (again) on the same address and store.
func (n *natsServer) start() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := natsembed.Start(ctx, natsembed.Options{StoreDir: n.dir, Listen: n.addr, Logger: n.log})
	if err != nil {
		n.t.Fatalf("starting NATS on %s: %v", n.addr, err)
	}
	n.mu.Lock()
	n.s = s
	n.mu.Unlock()
}

// stop shuts the server down; idempotent.
func (n *natsServer) stop() {
	n.mu.Lock()
	s := n.s
	n.s = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
	}
}

// --- the rig: emulator, NATS, worker process, publisher ---

// rig is one case's world: its own Graph emulator, NATS server, database
// and worker process.
type rig struct {
	t    *testing.T
	dir  string
	emu  *graphtest.Server
	nats *natsServer
	nc   *nats.Conn // the test's own connection: publisher and inspector
	js   jetstream.JetStream
	env  map[string]string
	http *http.Client

	mu       sync.Mutex
	w        *proc
	fbOf     map[string]string // member → Facebook user id
	memberOf map[string]string // Facebook user id → member
	pub      []event           // every event the stream acknowledged
}

type rigOptions struct {
	dbDir string            // the database directory; empty means a temp dir
	env   map[string]string // overrides
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	binary(t) // build first: a build failure is the first thing to report
	emu := &graphtest.Server{Logf: t.Logf}
	emu.Start()
	t.Cleanup(emu.Close)
	n := startNATS(t)
	nc, err := nats.Connect(n.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Name("resilience-test"))
	if err != nil {
		t.Fatalf("connecting to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dbDir := o.dbDir
	if dbDir == "" {
		dbDir = dir
	}
	key := make([]byte, 32)
	crand.Read(key)
	env := map[string]string{
		"FACEBOOK_APP_ID":        graphtest.DefaultAppID,
		"FACEBOOK_APP_SECRET":    graphtest.DefaultAppSecret,
		"WATCHSHARE_TOKEN_KEY":   base64.StdEncoding.EncodeToString(key),
		"WATCHSHARE_API_TOKEN":   apiToken,
		"WATCHSHARE_GRAPH_URL":   emu.GraphURL(),
		"WATCHSHARE_DIALOG_URL":  emu.DialogURL(),
		"WATCHSHARE_DB":          filepath.Join(dbDir, "watchshare.db"),
		"WATCHSHARE_NATS_URL":    n.url(),
		"WATCHSHARE_HTTP_ADDR":   "127.0.0.1:0",
		"WATCHSHARE_ACCOUNT_URL": "https://account.example.com/account",
		"WATCHSHARE_SHARE_AFTER": strconv.Itoa(shareAfter) + "s",
		"WATCHSHARE_LOG_LEVEL":   "info",
	}
	for k, v := range o.env {
		env[k] = v
	}
	r := &rig{
		t: t, dir: dir, emu: emu, nats: n, nc: nc, js: js, env: env,
		http: &http.Client{
			Timeout:       60 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		fbOf: map[string]string{}, memberOf: map[string]string{},
	}
	return r
}

// db is the database file.
func (r *rig) db() string { return r.env["WATCHSHARE_DB"] }

// worker returns the current worker process.
func (r *rig) worker() *proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w
}

// start starts a worker process and waits until it listens.
func (r *rig) start() *proc {
	r.t.Helper()
	p := startProc(r.t, binary(r.t), r.env)
	r.mu.Lock()
	r.w = p
	r.mu.Unlock()
	return p
}

// restart kills the current worker with SIGKILL and starts another.
func (r *rig) restart() *proc {
	r.t.Helper()
	r.worker().kill()
	return r.start()
}

// proc is one `watchshare serve` child process.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	addr  string
	done  chan struct{} // closed when the process has exited
	state *os.ProcessState

	mu    sync.Mutex
	lines []string // its stderr, JSON log lines
}

func startProc(t *testing.T, bin string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// The child dies with the test process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting watchshare serve: %v", err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if strings.Contains(line, `"msg":"listening"`) {
				var v struct{ Addr string }
				if json.Unmarshal([]byte(line), &v) == nil && v.Addr != "" {
					select {
					case addr <- v.Addr:
					default:
					}
				}
			}
		}
	}()
	go func() {
		<-scanned // Wait must follow the last read of the pipe
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dumpLog(40)
		}
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		p.dumpLog(40)
		t.Fatalf("watchshare serve exited at start: %v", p.state)
	case <-time.After(60 * time.Second):
		p.kill()
		p.dumpLog(40)
		t.Fatal("watchshare serve did not log `listening` within 60s")
	}
	return p
}

// kill sends SIGKILL and waits for the exit; idempotent.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and waits up to limit for the exit. It returns
// the exit code (-1 when killed by a signal) and how long the exit took;
// after limit it kills the process and fails the test.
func (p *proc) terminate(limit time.Duration) (code int, took time.Duration) {
	p.t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.kill()
		p.dumpLog(40)
		p.t.Fatalf("no exit within %s of SIGTERM", limit)
	}
	return p.state.ExitCode(), time.Since(start)
}

// logs returns the log lines so far that contain every one of subs.
func (p *proc) logs(subs ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func (p *proc) dumpLog(n int) {
	p.mu.Lock()
	lines := p.lines[max(0, len(p.lines)-n):]
	p.mu.Unlock()
	p.t.Logf("last %d log lines of pid %d:\n%s", len(lines), p.cmd.Process.Pid, strings.Join(lines, "\n"))
}

// --- HTTP ---

// api calls the worker's HTTP API with the bearer token.
func (r *rig) api(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+r.worker().addr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return r.do(req)
}

func (r *rig) do(req *http.Request) (int, map[string]any, error) {
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("decoding %q: %w", data, err)
		}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		out["location"] = loc
	}
	return resp.StatusCode, out, nil
}

// mustAPI calls the API and fails the test unless the status is want.
func (r *rig) mustAPI(want int, method, path string, body any) map[string]any {
	r.t.Helper()
	status, out, err := r.api(method, path, body)
	if err != nil || status != want {
		r.t.Fatalf("%s %s = %d %v %v, want %d", method, path, status, out, err, want)
	}
	return out
}

// readyz returns the status of GET /readyz (0 if it could not be asked).
func (r *rig) readyz() int {
	resp, err := r.http.Get("http://" + r.worker().addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// connect runs the real connect flow for member as a new Facebook user:
// POST /v1/members/{member}/connect, the emulator's dialog (Allow), then
// Facebook's redirect to our callback, which must send the browser on with
// facebook=connected.
func (r *rig) connect(member, fbID, name string) {
	r.t.Helper()
	if err := r.tryConnect(member, fbID, name); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) tryConnect(member, fbID, name string) error {
	u := r.emu.AddUser(graphtest.User{ID: fbID, Name: name})
	status, out, err := r.api("POST", "/v1/members/"+member+"/connect", map[string]any{})
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("connect %s: %d %v %v", member, status, out, err)
	}
	redirect, err := r.emu.Approve(out["authorize_url"].(string), u.ID)
	if err != nil {
		return fmt.Errorf("approve %s: %w", member, err)
	}
	req, _ := http.NewRequest("GET", redirect.String(), nil)
	status, out, err = r.do(req)
	if err != nil || status != http.StatusFound {
		return fmt.Errorf("callback %s: %d %v %v", member, status, out, err)
	}
	loc, err := url.Parse(fmt.Sprint(out["location"]))
	if err != nil || loc.Query().Get("facebook") != "connected" {
		return fmt.Errorf("callback %s: sent to %v, want facebook=connected", member, out["location"])
	}
	r.mu.Lock()
	r.fbOf[member] = u.ID
	r.memberOf[u.ID] = member
	r.mu.Unlock()
	return nil
}

// connectMembers connects n members (m000, m001, ...) through the connect
// flow, a few at a time, and returns their ids.
func (r *rig) connectMembers(prefix string, n int) []string {
	r.t.Helper()
	ids := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = fmt.Sprintf("%s%03d", prefix, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- r.tryConnect(ids[i], fmt.Sprintf("9%05d%06d", hashID(prefix), i), "Member "+ids[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			r.t.Fatal(err)
		}
	}
	return ids
}

// hashID gives a member a stable numeric part for its Facebook id.
func hashID(s string) int {
	h := 7
	for _, c := range s {
		h = (h*131 + int(c)) % 99_991
	}
	return h
}

// --- events: the publisher and its log ---

// event is one published watch event.
type event struct {
	ID      string
	Member  string
	Title   string
	Watched int
}

// pair is a member and a title.
type pair struct{ Member, Title string }

// plan is a sequence of watch events and the posts the share rule
// expects from them.
type plan struct {
	events []event
	expect map[pair]bool // the pairs that must be posted exactly once
	pairs  int
}

// makePlan builds, for every member, titles playback sessions of beats
// heartbeats each with increasing watch progress. In every member's
// sessions but the last, the heartbeat at index cross (0-based) is the first
// to reach SHARE_AFTER, and the later ones stay above it; the last session
// never reaches it (an abandoned title). The sessions are interleaved at
// random (each session's heartbeats stay in order), so that posts happen
// all along the stream.
func makePlan(tag string, members []string, titles, beats, cross int) plan {
	p := plan{expect: map[pair]bool{}}
	var sessions [][]event
	total := 0
	for _, m := range members {
		for i := range titles {
			k := pair{m, fmt.Sprintf("%s%d", tag, i)}
			posted := i < titles-1
			if posted {
				p.expect[k] = true
			}
			var evs []event
			for b := range beats {
				watched := 5 * (b + 1) // abandoned: never reaches 60s
				if posted {
					// below the threshold before cross, at or above it from cross on
					watched = shareAfter * (b + 1) / (cross + 1)
				}
				evs = append(evs, event{ID: fmt.Sprintf("ev-%s-%s-%d", k.Member, k.Title, b), Member: k.Member, Title: k.Title, Watched: watched})
			}
			sessions = append(sessions, evs)
			total += len(evs)
		}
	}
	p.pairs = len(sessions)
	// Pick the next event from a session chosen with probability
	// proportional to what it has left: a uniform random interleaving.
	for left := total; left > 0; left-- {
		n := rand.IntN(left)
		for i, evs := range sessions {
			if n < len(evs) {
				p.events = append(p.events, evs[0])
				sessions[i] = evs[1:]
				break
			}
			n -= len(evs)
		}
	}
	return p
}

func (e event) payload() []byte {
	data, _ := json.Marshal(map[string]any{
		"event_id":     e.ID,
		"member_id":    e.Member,
		"profile_id":   "p1",
		"kids_profile": false,
		"session_id":   "s-" + e.Title,
		"title": map[string]any{
			"id": e.Title, "type": "movie", "url": titleURL + e.Title, "name": "Title " + e.Title,
		},
		"watched_seconds":  e.Watched,
		"duration_seconds": 7200,
		"state":            "playing",
		"occurred_at":      time.Now().UTC().Format(time.RFC3339),
	})
	return data
}

// publish publishes one event with Nats-Msg-Id = event id, retrying (the
// stream drops a second copy) until the stream acknowledges it, and logs it.
func (r *rig) publish(ev event) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := worker.PublishWatch(ctx, r.js, ev.Member, ev.ID, ev.payload())
		cancel()
		if err == nil {
			r.mu.Lock()
			r.pub = append(r.pub, ev)
			r.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("publishing %s: %w", ev.ID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishAll publishes the events in order, spread over about d, and
// returns when the last one is acknowledged.
func (r *rig) publishAll(events []event, d time.Duration) error {
	if len(events) == 0 {
		return nil
	}
	gap := d / time.Duration(len(events))
	start := time.Now()
	for i, ev := range events {
		if err := r.publish(ev); err != nil {
			return err
		}
		if wait := time.Until(start.Add(time.Duration(i+1) * gap)); wait > 0 {
			time.Sleep(wait)
		}
	}
	return nil
}

// publishInBackground publishes the events like publishAll on a goroutine;
// the returned channel delivers its result.
func (r *rig) publishInBackground(events []event, d time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.publishAll(events, d) }()
	return done
}

// published returns the events acknowledged by the stream so far.
func (r *rig) published() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pub)
}

// --- ground truth ---

// tally compares the expected posts with the posts the emulator executed.
type tally struct {
	Events     int // events published (acknowledged by the stream)
	Expected   int // posts the rule asks for
	Executed   int // posts executed by the emulator (answered, dropped or abandoned by the caller)
	Lost       int // expected, never executed
	Duplicates int // executions beyond the first for a member and title
	Unexpected int // executions for a pair that must not be posted
}

func (t tally) String() string {
	return fmt.Sprintf("events=%d expected_posts=%d executed_posts=%d lost=%d duplicates=%d unexpected=%d",
		t.Events, t.Expected, t.Executed, t.Lost, t.Duplicates, t.Unexpected)
}

// executedPosts counts, per member and title, the POST /me/video.watches
// calls the emulator executed: answered with success, or executed and
// then dropped, or executed while the caller gave up on the reply. Calls
// refused by an injected fault or an outage, or canceled before they ran,
// are not posts. Deleted posts still count.
func (r *rig) executedPosts() map[pair]int {
	r.mu.Lock()
	memberOf := maps.Clone(r.memberOf)
	r.mu.Unlock()
	n := map[pair]int{}
	for _, c := range r.emu.Calls() {
		if c.Route != "POST /me/video.watches" || c.Injected || c.Code != 0 || c.Err != "" || (c.Status != http.StatusOK && !c.Dropped) {
			continue
		}
		title := strings.TrimPrefix(c.Params.Get("movie"), titleURL)
		n[pair{memberOf[c.UserID], title}]++
	}
	return n
}

// count tallies plans against the emulator's call log.
func (r *rig) count(plans ...plan) tally {
	expect := map[pair]bool{}
	for _, p := range plans {
		for k := range p.expect {
			expect[k] = true
		}
	}
	t := tally{Events: len(r.published()), Expected: len(expect)}
	got := r.executedPosts()
	for k, n := range got {
		t.Executed += n
		if !expect[k] {
			t.Unexpected += n
			continue
		}
		t.Duplicates += n - 1
	}
	for k := range expect {
		if got[k] == 0 {
			t.Lost++
		}
	}
	return t
}

// consumerState reads the PLAYBACK consumer and the dead-letter stream.
type consumerState struct {
	Pending     uint64 // not delivered yet
	AckPending  int    // delivered, not settled (in flight, or waiting for a redelivery)
	Redelivery  int    // waiting for a redelivery
	Undelivered bool   // the stream holds messages past the last delivered one
	DLQ         uint64 // dead letters
}

func (c consumerState) terminal() bool { return c.Pending == 0 && c.AckPending == 0 && !c.Undelivered }

func (r *rig) consumer() (consumerState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The stream first: a message it acknowledged reaches the consumer's
	// NumPending asynchronously, so right after a publish NumPending can
	// still be 0; the last delivered sequence tells.
	stream, err := r.js.Stream(ctx, worker.StreamPlayback)
	if err != nil {
		return consumerState{}, err
	}
	sinfo, err := stream.Info(ctx)
	if err != nil {
		return consumerState{}, err
	}
	cons, err := r.js.Consumer(ctx, worker.StreamPlayback, worker.DurableName)
	if err != nil {
		return consumerState{}, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return consumerState{}, err
	}
	st := consumerState{Pending: info.NumPending, AckPending: info.NumAckPending, Redelivery: info.NumRedelivered,
		Undelivered: info.Delivered.Stream < sinfo.State.LastSeq}
	dlq, err := r.js.Stream(ctx, worker.StreamDLQ)
	if err != nil {
		return consumerState{}, err
	}
	dinfo, err := dlq.Info(ctx)
	if err != nil {
		return consumerState{}, err
	}
	st.DLQ = dinfo.State.Msgs
	return st, nil
}

// settle waits until every published event is in a terminal state (the
// consumer has nothing pending or unacknowledged) and returns how long that
// took and the tally. It does not fail on losses: the caller checks.
func (r *rig) settle(timeout time.Duration, plans ...plan) (time.Duration, tally, consumerState) {
	r.t.Helper()
	var st consumerState
	took := waitFor(r.t, timeout, "every event in a terminal state", func() bool {
		var err error
		st, err = r.consumer()
		return err == nil && st.terminal()
	})
	return took, r.count(plans...), st
}

// check fails the test unless nothing was lost, duplicated or dead-lettered.
func (r *rig) check(t tally, st consumerState, plans ...plan) {
	r.t.Helper()
	if t.Lost != 0 || t.Duplicates != 0 || t.Unexpected != 0 {
		r.t.Errorf("posts: %v; want 0 lost, 0 duplicates, 0 unexpected", t)
		r.reportPairs(plans...)
	}
	if !st.terminal() || st.DLQ != 0 {
		r.t.Errorf("consumer: %+v; want nothing pending and no dead letters", st)
	}
	if u := r.emu.UnhandledCalls(); len(u) != 0 {
		r.t.Errorf("%d calls to routes the emulator does not implement, first %+v", len(u), u[0])
	}
}

// reportPairs logs (some of) the pairs that were not posted exactly once.
func (r *rig) reportPairs(plans ...plan) {
	got := r.executedPosts()
	n := 0
	r.mu.Lock()
	fbOf := maps.Clone(r.fbOf)
	r.mu.Unlock()
	calls := r.emu.Calls()
	for k, c := range got {
		if c > 1 && n < 20 {
			r.t.Logf("posted %d times: %s/%s; the member's calls:", c, k.Member, k.Title)
			for _, c := range calls {
				if c.UserID == fbOf[k.Member] && (c.Route == "POST /me/video.watches" || c.Route == "GET /me/video.watches") {
					r.t.Logf("  %s %s %s status=%d code=%d injected=%v dropped=%v err=%q",
						c.Time.Format("15:04:05.000"), c.Route, c.Params.Get("movie"), c.Status, c.Code, c.Injected, c.Dropped, c.Err)
				}
			}
			n++
		}
	}
	for _, p := range plans {
		for k := range p.expect {
			if got[k] == 0 && n < 40 {
				r.t.Logf("never posted: %s/%s", k.Member, k.Title)
				n++
			}
		}
	}
}
