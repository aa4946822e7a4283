package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"watchshare/graph"
	"watchshare/graph/graphtest"
	"watchshare/store"
	"watchshare/worker"
	"watchshare/worker/natsembed"
)

// benchOptions are the bench's flags.
type benchOptions struct {
	load         benchLoad
	events       int
	graphLatency time.Duration
	concurrency  int // 0: serve's default
	httpRequests int
	probes       int
	probeRate    int
	seed         uint64
	workerBinary string // "": this executable
	cpuProfile   string
	keep         bool
	verbose      bool
	trace        bool
}

// benchResult is what bench prints, one JSON object.
type benchResult struct {
	Params struct {
		Members           int     `json:"members"`
		Connected         float64 `json:"connected"`
		ConnectedMembers  int     `json:"connected_members"`
		Events            int     `json:"events"`
		Mix               string  `json:"mix"`
		GraphLatencyMS    float64 `json:"graph_latency_ms"`
		WorkerConcurrency int     `json:"worker_concurrency"`
	} `json:"params"`
	Events struct {
		WorkerPerS   float64 `json:"worker_per_s"`
		CeilingPerS  float64 `json:"ceiling_per_s"`
		Ratio        float64 `json:"ratio"`
		WorkerSecs   float64 `json:"worker_s"`
		StartupSecs  float64 `json:"worker_startup_s"`
		CeilingSecs  float64 `json:"ceiling_s"`
		DeadLettered int64   `json:"dead_lettered"`
	} `json:"events"`
	Posts struct {
		Count           int     `json:"count"`
		PerS            float64 `json:"per_s"`
		HTTPCeilingPerS float64 `json:"http_ceiling_per_s"`
		Ratio           float64 `json:"ratio"`
	} `json:"posts"`
	LatencyMS struct {
		P50     float64 `json:"p50"`
		P99     float64 `json:"p99"`
		Samples int     `json:"samples"`
	} `json:"publish_to_post_latency_ms"`
	// PeakRSSMB is the peak resident set of the worker process (serve, a
	// child of the bench) from its start to its stop; WorkerPeakRSSMB the
	// same at the end of the drain. BenchProcessPeakRSSMB is the bench's
	// own process: the NATS server holding the streams, the emulator and
	// the ceilings.
	PeakRSSMB             float64 `json:"peak_rss_mb"`
	WorkerPeakRSSMB       float64 `json:"worker_peak_rss_mb"`
	BenchProcessPeakRSSMB float64 `json:"bench_process_peak_rss_mb"`
	CPUSeconds            struct {
		// Worker is the worker process's CPU (user + system) from its start
		// to the end of the drain.
		Worker float64 `json:"worker"`
		// Ceiling is the bench process's CPU while the bare consumer drains:
		// the consumer's and the NATS server's share (the server runs in the
		// bench process).
		Ceiling float64 `json:"ceiling"`
		// Total is the bench process's and the worker process's CPU over
		// the whole run.
		Total float64 `json:"total"`
		// CPU per event: less sensitive than rates to other load on the machine.
		WorkerUSPerEvent  float64 `json:"worker_us_per_event"`
		CeilingUSPerEvent float64 `json:"ceiling_us_per_event"`
	} `json:"cpu_seconds"`
	Correctness struct {
		OK         bool `json:"ok"`
		Posts      int  `json:"posts"`
		Expected   int  `json:"expected"`
		Duplicates int  `json:"duplicates"`
		Missing    int  `json:"missing"`
		Unexpected int  `json:"unexpected"`
	} `json:"correctness"`
}

// round rounds rates and durations for printing.
func (res *benchResult) round() {
	for _, f := range []*float64{&res.Events.WorkerPerS, &res.Events.CeilingPerS, &res.Posts.PerS, &res.Posts.HTTPCeilingPerS} {
		*f = math.Round(*f)
	}
	for _, f := range []*float64{&res.Events.WorkerSecs, &res.Events.StartupSecs, &res.Events.CeilingSecs, &res.CPUSeconds.Worker, &res.CPUSeconds.Ceiling, &res.CPUSeconds.Total} {
		*f = round3(*f)
	}
}

// runBench measures the worker against the machine's own ceiling in one
// run (see benchUsage) and prints one JSON object. It fails if the posts on
// the emulator differ from what the independent model expects.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o benchOptions
	fs.IntVar(&o.load.members, "members", 100000, "members (M)")
	fs.Float64Var(&o.load.connected, "connected", 0.1, "share of the members who are connected (C), 0 to 1")
	fs.IntVar(&o.events, "events", 500000, "watch events published (N)")
	fs.StringVar(&o.load.mix, "mix", benchMixPlayback, "playback: heartbeats every 30 s of sessions of varied length, a few crossing the share threshold; posts: every event crosses it for a new title of a connected member")
	fs.Float64Var(&o.load.cross, "cross", 0.05, "playback: share of sessions that reach the share threshold")
	fs.Float64Var(&o.load.kids, "kids", 0.03, "share of sessions on a kids profile")
	fs.DurationVar(&o.graphLatency, "graph-latency", 0, "latency the Graph emulator adds to every call")
	fs.IntVar(&o.concurrency, "concurrency", 0, "worker concurrency (0: the WATCHSHARE_WORKER_CONCURRENCY default)")
	fs.IntVar(&o.httpRequests, "http-requests", 4000, "requests of the bare HTTP client (the posting ceiling)")
	fs.IntVar(&o.probes, "probes", 200, "events of the publish-to-post latency probe, published one by one after the drain")
	fs.IntVar(&o.probeRate, "probe-rate", 100, "probe events per second")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated load")
	fs.StringVar(&o.workerBinary, "worker-binary", "", "the watchshare binary run as the worker (its serve command); empty: this executable")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker process (its whole life: drain, probe, shutdown) to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (database, NATS store, the worker's log)")
	fs.BoolVar(&o.verbose, "v", false, "print the worker's JSON logs (warnings and errors)")
	fs.BoolVar(&o.trace, "trace", false, "print the consumers' progress every 20 ms (pending, delivered, pull requests waiting)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.load.members < 1 || o.events < 1 || o.httpRequests < 1 || o.probes < 0 || o.probeRate < 1:
		return usageError{errors.New("members, events, http-requests and probe-rate must be positive, probes not negative")}
	case o.load.connected < 0 || o.load.connected > 1 || o.load.cross < 0 || o.load.cross > 1 || o.load.kids < 0 || o.load.kids > 1:
		return usageError{errors.New("connected, cross and kids are shares from 0 to 1")}
	case o.load.mix != benchMixPlayback && o.load.mix != benchMixPosts:
		return usageError{fmt.Errorf("mix must be %s or %s", benchMixPlayback, benchMixPosts)}
	case o.load.mix == benchMixPosts && o.load.nConnected() == 0:
		return usageError{errors.New("mix posts needs connected members")}
	}
	o.load.hiddenPick = 0.5
	logOut := io.Discard
	if o.verbose {
		logOut = stderr
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := bench(ctx, o, log, stderr)
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(stdout, string(out))
	if !res.Correctness.OK {
		return errors.New("bench: the posts on the emulator differ from the model's")
	}
	return nil
}

// benchRun is one bench run's environment.
type benchRun struct {
	o        benchOptions
	progress io.Writer
	dir      string
	emu      *graphtest.Server
	ns       *natsembed.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	env      map[string]string // the worker's settings
	cfg      config            // env, parsed as serve parses it
	worker   *benchWorker      // nil until the drain starts
	model    *benchModel
	res      benchResult
	trace    io.Writer // nil unless -trace
	// probeSent is when each probe event was published, by title URL.
	probeSent map[string]time.Time
}

const (
	benchCeilingStream  = "BENCH_CEILING"
	benchCeilingSubject = "bench.ceiling."
	benchCeilingUser    = "99999999999"
	benchProbeTitle     = "probe-"
)

// bench runs the NATS server (on a loopback port), the emulator, the
// ceilings and the checks in this process, and the worker as a child
// process: `watchshare serve`, started once the backlog is published.
func bench(ctx context.Context, o benchOptions, log *slog.Logger, progress io.Writer) (*benchResult, error) {
	if o.workerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: the worker binary: %w (use -worker-binary)", err)
		}
		o.workerBinary = exe
	}
	dir, err := os.MkdirTemp("", "watchshare-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		defer fmt.Fprintf(progress, "bench: kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &benchRun{o: o, progress: progress, dir: dir, probeSent: make(map[string]time.Time)}
	if o.trace {
		r.trace = progress
	}
	defer func() {
		if r.worker != nil {
			r.worker.kill()
		}
	}()
	// A budget far above the load: Facebook's default of 200 calls per user
	// and hour would (rightly) throttle a synthetic burst.
	r.emu = &graphtest.Server{AppCallsPerHour: 1 << 30, Logf: func(string, ...any) {}}
	r.emu.Start()
	defer r.emu.Close()

	var nsLog *slog.Logger
	if o.verbose {
		nsLog = log
	}
	r.ns, err = natsembed.Start(ctx, natsembed.Options{StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0", Logger: nsLog})
	if err != nil {
		return nil, err
	}
	defer r.ns.Shutdown()
	r.nc, err = r.ns.Connect(nats.Name("watchshare-bench"))
	if err != nil {
		return nil, err
	}
	defer r.nc.Close()
	if r.js, err = jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return nil, err
	}
	if err := worker.EnsureStreams(ctx, r.js); err != nil {
		return nil, err
	}

	key := make([]byte, 32)
	rand.Read(key)
	r.env = map[string]string{
		"WATCHSHARE_NATS_URL":   r.ns.ClientURL(),
		"WATCHSHARE_DB":         filepath.Join(dir, "watchshare.db"),
		"WATCHSHARE_HTTP_ADDR":  "127.0.0.1:0",
		"FACEBOOK_APP_ID":       graphtest.DefaultAppID,
		"FACEBOOK_APP_SECRET":   graphtest.DefaultAppSecret,
		"WATCHSHARE_GRAPH_URL":  r.emu.GraphURL(),
		"WATCHSHARE_DIALOG_URL": r.emu.DialogURL(),
		"WATCHSHARE_TOKEN_KEY":  base64.StdEncoding.EncodeToString(key),
		"WATCHSHARE_API_TOKEN":  "bench-token-0123456789",
		"WATCHSHARE_LOG_LEVEL":  "warn",
	}
	if o.concurrency > 0 {
		r.env["WATCHSHARE_WORKER_CONCURRENCY"] = strconv.Itoa(o.concurrency)
	}
	if o.cpuProfile != "" {
		abs, err := filepath.Abs(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		r.env[serveCPUProfileEnv] = abs
	}
	// The worker's settings, parsed as serve will parse them: the model
	// uses its share threshold and maximum event age.
	r.cfg, err = parseConfig("bench", nil, func(k string) string { return r.env[k] }, true, io.Discard)
	if err != nil {
		return nil, err
	}
	r.o.load.shareAfter, r.o.load.maxAge = r.cfg.ShareAfter, r.cfg.MaxEventAge

	p := &r.res.Params
	p.Members, p.Connected, p.ConnectedMembers = o.load.members, o.load.connected, o.load.nConnected()
	p.Events, p.Mix, p.WorkerConcurrency = o.events, o.load.mix, r.cfg.WorkerConcurrency
	p.GraphLatencyMS = float64(o.graphLatency) / float64(time.Millisecond)

	steps := []struct {
		name string
		f    func(context.Context) error
	}{
		{"seeding members", r.seed},
		{"publishing events", r.publish},
		{"bare consumer", r.ceiling},
		{"bare HTTP client", r.httpCeiling},
		{"worker", r.drain},
		{"latency probe", r.probe},
		{"stopping the worker", r.stopWorker},
		{"checking posts", r.check},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.f(ctx); err != nil {
			if r.worker != nil {
				fmt.Fprintf(progress, "bench: the worker's log (last lines):\n%s\n", r.worker.logTail(40))
			}
			return nil, fmt.Errorf("bench: %s: %w", s.name, err)
		}
		fmt.Fprintf(progress, "bench: %s: %.1fs\n", s.name, time.Since(start).Seconds())
	}
	r.res.BenchProcessPeakRSSMB = vmHWMMB("/proc/self/status")
	r.res.CPUSeconds.Total += cpuSeconds()
	r.res.CPUSeconds.WorkerUSPerEvent = math.Round(r.res.CPUSeconds.Worker/float64(o.events)*1e7) / 10
	r.res.CPUSeconds.CeilingUSPerEvent = math.Round(r.res.CPUSeconds.Ceiling/float64(o.events)*1e7) / 10
	r.res.round()
	return &r.res, nil
}

// seed connects the first C·M members (emulator users with a token, and the
// connections imported in bulk into the worker's database, which is closed
// again before the worker starts), hides a title for every 50th and pauses
// every 100th of them.
func (r *benchRun) seed(ctx context.Context) (err error) {
	db, err := store.Open(ctx, r.cfg.DB, store.Options{TokenKey: r.cfg.TokenKey})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	l := r.o.load
	now := time.Now()
	var conns []store.Connection
	flush := func() error {
		err := db.ImportConnections(ctx, conns, now.Add(24*time.Hour))
		conns = conns[:0]
		return err
	}
	for i := range l.nConnected() {
		u := r.emu.AddUser(graphtest.User{ID: benchFBUser(i), Name: "Bench " + benchMemberID(i)})
		token := r.emu.AuthorizeApp(u.ID, "public_profile", "user_friends", "publish_actions")
		conns = append(conns, store.Connection{MemberID: benchMemberID(i), FacebookUserID: u.ID, Name: u.Name,
			Scopes: []string{"public_profile", "user_friends", "publish_actions"}, CanPublish: true,
			Token: token, TokenExpiresAt: now.Add(60 * 24 * time.Hour)})
		if len(conns) == 5000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for i := range l.nConnected() {
		if h := l.hiddenTitle(i); h >= 0 {
			if _, _, err := db.HideTitle(ctx, benchMemberID(i), benchTitleOf(h).id); err != nil {
				return err
			}
		}
		if l.isPaused(i) {
			if err := db.SetSharingEnabled(ctx, benchMemberID(i), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// publish generates the events, feeds them to the model, and publishes each
// twice: on playback.watch.<member> for the worker and on
// bench.ceiling.<member>, a stream configured like PLAYBACK, for the bare
// consumer. Both copies carry the event id as Nats-Msg-Id.
func (r *benchRun) publish(ctx context.Context) error {
	cc := worker.StreamConfigs()[0]
	cc.Name, cc.Subjects = benchCeilingStream, []string{benchCeilingSubject + ">"}
	cc.Description = "watchshare bench: a copy of the events for the bare consumer"
	if _, err := r.js.CreateStream(ctx, cc); err != nil {
		return err
	}
	now := time.Now()
	gen := newBenchGen(r.o.load, r.o.seed, r.o.events, now)
	r.model = &benchModel{load: r.o.load, now: now, expected: make(map[benchPair]struct{})}
	var buf bytes.Buffer
	for range r.o.events {
		ev, member, title := gen.next()
		r.model.observe(ev, member, title)
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(ev); err != nil {
			return err
		}
		data := bytes.Clone(bytes.TrimSpace(buf.Bytes()))
		h := nats.Header{jetstream.MsgIDHeader: []string{ev.EventID}}
		for _, subj := range []string{worker.SubjectWatchPrefix + ev.MemberID, benchCeilingSubject + ev.MemberID} {
			if _, err := r.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: data, Header: h},
				jetstream.WithStallWait(time.Minute)); err != nil {
				return err
			}
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := r.js.PublishAsyncPending(); n != 0 {
		return fmt.Errorf("%d publishes not acknowledged", n)
	}
	for _, name := range []string{worker.StreamPlayback, benchCeilingStream} {
		s, err := r.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != uint64(r.o.events) {
			return fmt.Errorf("stream %s holds %d messages, want %d", name, info.State.Msgs, r.o.events)
		}
	}
	return nil
}

// ceiling drains the copy with a bare pull consumer configured like the
// worker's durable, that does nothing but ack each message.
func (r *benchRun) ceiling(ctx context.Context) error {
	cons, err := r.js.CreateOrUpdateConsumer(ctx, benchCeilingStream, jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait: worker.DefaultAckWait, MaxDeliver: worker.DefaultMaxDeliver, MaxAckPending: worker.DefaultMaxAckPending,
	})
	if err != nil {
		return err
	}
	// This process's CPU: the consumer's and the NATS server's.
	cpu0, start := cpuSeconds(), time.Now()
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	for range r.o.events {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			it.Stop()
			return err
		}
		if err := msg.Ack(); err != nil {
			it.Stop()
			return err
		}
	}
	it.Stop()
	if err := waitDrained(ctx, r.js, benchCeilingStream, "bench", r.trace, nil, nil); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	r.res.CPUSeconds.Ceiling = cpuSeconds() - cpu0
	r.res.Events.CeilingSecs = secs
	r.res.Events.CeilingPerS = float64(r.o.events) / secs
	// Give the copy's memory and disk back before the worker runs.
	return r.js.DeleteStream(ctx, benchCeilingStream)
}

// waitDrained polls until the durable consumer on stream is drained (see
// worker.Drained);
// a non-nil trace gets every poll's figures. It gives up when exited is
// closed (nil: never), with exitErr's error.
func waitDrained(ctx context.Context, js jetstream.JetStream, stream, durable string, trace io.Writer, exited <-chan struct{}, exitErr func() error) error {
	for {
		done, info, err := worker.Drained(ctx, js, stream, durable)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if trace != nil {
			fmt.Fprintf(trace, "%s %s pending=%d ack_pending=%d delivered=%d waiting_pulls=%d\n", time.Now().Format("15:04:05.000"),
				info.Stream, info.NumPending, info.NumAckPending, info.Delivered.Stream, info.NumWaiting)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return exitErr()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// httpCeiling posts video.watches actions to the emulator from as many
// goroutines as the worker's concurrency, with the HTTP client the Graph
// client uses by default, as one emulator user that is no member.
func (r *benchRun) httpCeiling(ctx context.Context) error {
	if r.o.graphLatency > 0 {
		r.emu.SetLatency(graphtest.AnyRoute, r.o.graphLatency)
	}
	u := r.emu.AddUser(graphtest.User{ID: benchCeilingUser, Name: "Bench Ceiling"})
	token := r.emu.AuthorizeApp(u.ID, "public_profile", "publish_actions")
	endpoint := r.emu.GraphURL() + "/me/video.watches"
	client := graph.DefaultHTTPClient()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, r.res.Params.WorkerConcurrency)
	)
	start := time.Now()
	for range r.res.Params.WorkerConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(r.o.httpRequests); i = next.Add(1) {
				form := url.Values{"movie": {fmt.Sprintf("https://www.example.com/ceiling/%d", i)},
					"access_token": {token}, "appsecret_proof": {graphtest.Proof(graphtest.DefaultAppSecret, token)}}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("emulator answered %s", resp.Status)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	r.res.Posts.HTTPCeilingPerS = float64(r.o.httpRequests) / time.Since(start).Seconds()
	return nil
}

// drain starts the worker process on the published backlog and waits until
// its durable consumer has nothing pending or unacknowledged: every event is
// settled, so every post is on the emulator. The drain is timed from the
// process's start, so it includes starting serve (opening the database,
// connecting to NATS).
func (r *benchRun) drain(ctx context.Context) error {
	var tee io.Writer
	if r.o.verbose {
		tee = r.progress
	}
	w, err := startBenchWorker(r.o.workerBinary, r.env, filepath.Join(r.dir, "serve.log"), tee)
	if err != nil {
		return err
	}
	r.worker = w
	if err := r.workerConsumer(ctx); err != nil {
		return err
	}
	// The drain is timed as the ceiling's is: from the moment the durable
	// consumer exists (the worker creates it just before it pulls) until
	// nothing is pending. The process's start-up before it (exec, store,
	// NATS, streams) is reported on its own.
	pulling := time.Now()
	r.res.Events.StartupSecs = pulling.Sub(w.started).Seconds()
	if err := waitDrained(ctx, r.js, worker.StreamPlayback, worker.DurableName, r.trace, w.exited(), w.exitError); err != nil {
		return err
	}
	secs := time.Since(pulling).Seconds()
	if r.res.CPUSeconds.Worker, err = w.cpuSeconds(); err != nil {
		return err
	}
	r.res.WorkerPeakRSSMB = w.peakRSSMB()
	r.res.Events.WorkerSecs = secs
	r.res.Events.WorkerPerS = float64(r.o.events) / secs
	r.res.Events.Ratio = round3(r.res.Events.WorkerPerS / r.res.Events.CeilingPerS)
	return nil
}

// workerConsumer waits for the worker process to create its durable
// consumer on PLAYBACK.
func (r *benchRun) workerConsumer(ctx context.Context) error {
	deadline := time.After(time.Minute)
	for {
		_, err := r.js.Consumer(ctx, worker.StreamPlayback, worker.DurableName)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.worker.exited():
			return r.worker.exitError()
		case <-deadline:
			return errors.New("the worker created no consumer within a minute")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// deadLetters counts the watch events the worker dead-lettered (drain and
// probe).
func (r *benchRun) deadLetters(ctx context.Context) (int64, error) {
	s, err := r.js.Stream(ctx, worker.StreamDLQ)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(worker.DLQSubject(worker.StreamPlayback)))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return int64(n), nil
}

// stopWorker takes the worker process's peak resident set, stops it with
// SIGTERM, as production does, expects exit code 0, and adds its CPU time
// to the total.
//
// The peak is VmHWM, read before the stop: the Maxrss of the exited
// process's resource usage is no good, because Linux starts a process's
// Maxrss at exec with the peak of the memory it replaces, and Go starts
// children with vfork, on the bench process's memory.
func (r *benchRun) stopWorker(ctx context.Context) error {
	r.res.PeakRSSMB = r.worker.peakRSSMB()
	ru, err := r.worker.stop(shutdownGrace + 5*time.Second)
	if err != nil {
		return err
	}
	r.res.CPUSeconds.Total += rusageSeconds(ru)
	return nil
}

// probe measures publish-to-post latency on an idle worker: it publishes
// events that each post a new title for a connected member who shares, one
// by one at probe-rate, and waits until they are settled.
func (r *benchRun) probe(ctx context.Context) error {
	l := r.o.load
	var members []int
	for i := range l.nConnected() {
		if !l.isPaused(i) {
			members = append(members, i)
		}
	}
	if len(members) == 0 || r.o.probes == 0 {
		return nil
	}
	tick := time.NewTicker(time.Second / time.Duration(r.o.probeRate))
	defer tick.Stop()
	for i := range r.o.probes {
		m := members[(i*7919)%len(members)]
		t := benchTitle{id: fmt.Sprintf("%s%d", benchProbeTitle, i), typ: "movie", duration: 5400}
		data, _ := json.Marshal(map[string]any{
			"event_id": fmt.Sprintf("probe-%d", i), "member_id": benchMemberID(m), "profile_id": "p1",
			"kids_profile": false, "session_id": fmt.Sprintf("probe-s%d", i),
			"title":           map[string]any{"id": t.id, "type": t.typ, "url": t.url(), "name": t.id},
			"watched_seconds": 600, "duration_seconds": t.duration, "state": "playing",
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
		})
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.probeSent[t.url()] = time.Now()
		if _, err := worker.PublishWatch(ctx, r.js, benchMemberID(m), fmt.Sprintf("probe-%d", i), data); err != nil {
			return err
		}
	}
	return waitDrained(ctx, r.js, worker.StreamPlayback, worker.DurableName, r.trace, r.worker.exited(), r.worker.exitError)
}

// check reads every connected member's actions from the emulator and
// compares them with the model: each expected (member, title) posted
// exactly once, nothing else; probe posts give the latency samples.
func (r *benchRun) check(ctx context.Context) error {
	l := r.o.load
	c := &r.res.Correctness
	c.Expected = len(r.model.expected)
	var err error
	if r.res.Events.DeadLettered, err = r.deadLetters(ctx); err != nil {
		return err
	}
	var lat []float64
	posted := make(map[benchPair]struct{})
	for i := range l.nConnected() {
		seen := make(map[string]int)
		for _, a := range r.emu.Actions(benchFBUser(i)) {
			if sent, ok := r.probeSent[a.ObjectURL]; ok {
				lat = append(lat, float64(a.PublishTime.Sub(sent))/float64(time.Millisecond))
				continue
			}
			seen[a.ObjectURL]++
		}
		for u, n := range seen {
			p := benchPair{benchMemberID(i), u}
			posted[p] = struct{}{}
			c.Posts += n
			c.Duplicates += n - 1
			if _, ok := r.model.expected[p]; !ok {
				c.Unexpected++
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for p := range r.model.expected {
		if _, ok := posted[p]; !ok {
			c.Missing++
		}
	}
	r.res.Posts.Count = c.Posts
	r.res.Posts.PerS = float64(c.Posts) / r.res.Events.WorkerSecs
	r.res.Posts.Ratio = round3(r.res.Posts.PerS / r.res.Posts.HTTPCeilingPerS)
	c.OK = c.Posts == c.Expected && c.Duplicates == 0 && c.Missing == 0 && c.Unexpected == 0 &&
		len(lat) == len(r.probeSent) && r.res.Events.DeadLettered == 0
	slices.Sort(lat)
	r.res.LatencyMS.Samples = len(lat)
	r.res.LatencyMS.P50 = percentile(lat, 0.50)
	r.res.LatencyMS.P99 = percentile(lat, 0.99)
	return nil
}

// percentile of sorted values, rounded to 0.1.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return math.Round(sorted[max(i, 0)]*10) / 10
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return rusageSeconds(&ru)
}
