package main

import (
	"bufio"
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
	"runtime/pprof"
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
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	WorkerPeakRSSMB float64 `json:"worker_peak_rss_mb"`
	CPUSeconds      struct {
		Worker  float64 `json:"worker"`
		Ceiling float64 `json:"ceiling"`
		Total   float64 `json:"total"`
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
	for _, f := range []*float64{&res.Events.WorkerSecs, &res.Events.CeilingSecs, &res.CPUSeconds.Worker, &res.CPUSeconds.Ceiling, &res.CPUSeconds.Total} {
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
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker's drain to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (database, NATS store)")
	fs.BoolVar(&o.verbose, "v", false, "print the service's JSON logs (warnings and errors)")
	fs.BoolVar(&o.trace, "trace", false, "print the consumers' progress every 20 ms (pending, delivered, pull requests waiting)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
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
	log      *slog.Logger
	progress io.Writer
	emu      *graphtest.Server
	sys      *system
	nc       *nats.Conn
	js       jetstream.JetStream
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

func bench(ctx context.Context, o benchOptions, log *slog.Logger, progress io.Writer) (*benchResult, error) {
	dir, err := os.MkdirTemp("", "watchshare-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		defer fmt.Fprintf(progress, "bench: kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &benchRun{o: o, log: log, progress: progress, probeSent: make(map[string]time.Time)}
	if o.trace {
		r.trace = progress
	}
	// A budget far above the load: Facebook's default of 200 calls per user
	// and hour would (rightly) throttle a synthetic burst.
	r.emu = &graphtest.Server{AppCallsPerHour: 1 << 30, Logf: func(string, ...any) {}}
	r.emu.Start()
	defer r.emu.Close()

	key := make([]byte, 32)
	rand.Read(key)
	env := map[string]string{
		"FACEBOOK_APP_ID":       graphtest.DefaultAppID,
		"FACEBOOK_APP_SECRET":   graphtest.DefaultAppSecret,
		"WATCHSHARE_TOKEN_KEY":  base64.StdEncoding.EncodeToString(key),
		"WATCHSHARE_API_TOKEN":  "bench-token-0123456789",
		"WATCHSHARE_GRAPH_URL":  r.emu.GraphURL(),
		"WATCHSHARE_DIALOG_URL": r.emu.DialogURL(),
		"WATCHSHARE_DB":         dir + "/watchshare.db",
		"WATCHSHARE_NATS_DIR":   dir + "/nats",
		"WATCHSHARE_HTTP_ADDR":  "127.0.0.1:0",
	}
	if o.concurrency > 0 {
		env["WATCHSHARE_WORKER_CONCURRENCY"] = strconv.Itoa(o.concurrency)
	}
	cfg, err := parseConfig("bench", nil, func(k string) string { return env[k] }, true, io.Discard)
	if err != nil {
		return nil, err
	}
	cfg.holdWorker = true
	r.o.load.shareAfter, r.o.load.maxAge = cfg.ShareAfter, cfg.MaxEventAge
	r.sys, err = startSystem(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		r.sys.shutdown(sctx)
	}()
	r.nc, err = r.sys.msg.embedded.Connect(nats.Name("watchshare-bench"))
	if err != nil {
		return nil, err
	}
	defer r.nc.Close()
	if r.js, err = jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return nil, err
	}

	p := &r.res.Params
	p.Members, p.Connected, p.ConnectedMembers = o.load.members, o.load.connected, o.load.nConnected()
	p.Events, p.Mix, p.WorkerConcurrency = o.events, o.load.mix, cfg.WorkerConcurrency
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
		{"checking posts", r.check},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.f(ctx); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", s.name, err)
		}
		fmt.Fprintf(progress, "bench: %s: %.1fs\n", s.name, time.Since(start).Seconds())
	}
	r.res.PeakRSSMB = peakRSSMB()
	r.res.CPUSeconds.Total = cpuSeconds()
	r.res.CPUSeconds.WorkerUSPerEvent = math.Round(r.res.CPUSeconds.Worker/float64(o.events)*1e7) / 10
	r.res.CPUSeconds.CeilingUSPerEvent = math.Round(r.res.CPUSeconds.Ceiling/float64(o.events)*1e7) / 10
	r.res.round()
	return &r.res, nil
}

// seed connects the first C·M members (emulator users with a token, and the
// connections imported in bulk), hides a title for every 50th and pauses
// every 100th of them.
func (r *benchRun) seed(ctx context.Context) error {
	l := r.o.load
	now := time.Now()
	var conns []store.Connection
	flush := func() error {
		err := r.sys.db.ImportConnections(ctx, conns, now.Add(24*time.Hour))
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
			if _, _, err := r.sys.db.HideTitle(ctx, benchMemberID(i), benchTitleOf(h).id); err != nil {
				return err
			}
		}
		if l.isPaused(i) {
			if err := r.sys.db.SetSharingEnabled(ctx, benchMemberID(i), false); err != nil {
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
	if err := waitDrained(ctx, cons, r.trace); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	r.res.CPUSeconds.Ceiling = cpuSeconds() - cpu0
	r.res.Events.CeilingSecs = secs
	r.res.Events.CeilingPerS = float64(r.o.events) / secs
	// Give the copy's memory and disk back before the worker runs.
	return r.js.DeleteStream(ctx, benchCeilingStream)
}

// waitDrained polls the consumer until nothing is pending or unacknowledged;
// a non-nil trace gets every poll's figures.
func waitDrained(ctx context.Context, cons jetstream.Consumer, trace io.Writer) error {
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 {
			return nil
		}
		if trace != nil {
			fmt.Fprintf(trace, "%s %s pending=%d ack_pending=%d delivered=%d waiting_pulls=%d\n", time.Now().Format("15:04:05.000"),
				info.Stream, info.NumPending, info.NumAckPending, info.Delivered.Stream, info.NumWaiting)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
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

// drain starts the worker on the published backlog and waits until its
// durable consumer has nothing pending or unacknowledged: every event is
// settled, so every post is on the emulator.
func (r *benchRun) drain(ctx context.Context) error {
	resetPeakRSS()
	if r.o.cpuProfile != "" {
		f, err := os.Create(r.o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, start := cpuSeconds(), time.Now()
	if err := r.sys.msg.resumeWorker(ctx); err != nil {
		return err
	}
	cons, err := r.js.Consumer(ctx, worker.StreamPlayback, worker.DurableName)
	if err != nil {
		return err
	}
	if err := waitDrained(ctx, cons, r.trace); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	r.res.CPUSeconds.Worker = cpuSeconds() - cpu0
	r.res.WorkerPeakRSSMB = peakRSSMB()
	r.res.Events.WorkerSecs = secs
	r.res.Events.WorkerPerS = float64(r.o.events) / secs
	r.res.Events.Ratio = round3(r.res.Events.WorkerPerS / r.res.Events.CeilingPerS)
	r.res.Events.DeadLettered = int64(r.sys.msg.consumer.Stats().DeadLettered)
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
	cons, err := r.js.Consumer(ctx, worker.StreamPlayback, worker.DurableName)
	if err != nil {
		return err
	}
	return waitDrained(ctx, cons, r.trace)
}

// check reads every connected member's actions from the emulator and
// compares them with the model: each expected (member, title) posted
// exactly once, nothing else; probe posts give the latency samples.
func (r *benchRun) check(ctx context.Context) error {
	l := r.o.load
	c := &r.res.Correctness
	c.Expected = len(r.model.expected)
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
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSSMB is the process's peak resident set (VmHWM) in MiB, 0 where
// /proc is missing.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return math.Round(kb/1024*10) / 10
		}
	}
	return 0
}

// resetPeakRSS restarts VmHWM from the current resident set (Linux 4.0+),
// so that peakRSSMB afterwards is the peak of what follows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
