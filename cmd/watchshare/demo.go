package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"watchshare/graph/graphtest"
	"watchshare/store"
	"watchshare/worker"
)

// runDemo runs the whole system on embedded defaults (embedded NATS, SQLite
// in a temporary folder, the built-in Graph emulator) and drives a scripted
// story through the public surfaces only: the HTTP API, the OAuth
// redirects, NATS subjects and Facebook's callbacks. It checks every
// expectation and fails naming the first that did not hold.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the temporary folder (database, NATS store) and print its path")
	serve := fs.Bool("serve", false, "set everything up, connect nobody, and stay up for manual use until interrupted")
	verbose := fs.Bool("v", false, "also print the service's JSON logs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "watchshare-demo-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintf(stdout, "\nkept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	d, err := startDemo(ctx, dir, slog.New(slog.NewJSONHandler(logOut, nil)), stdout)
	if err != nil {
		return err
	}
	defer d.close()
	if *serve {
		return d.serveForever(ctx)
	}
	return d.story(ctx)
}

// demo is the running demo: an emulator with users, and serve's system.
type demo struct {
	out    io.Writer
	emu    *graphtest.Server
	sys    *system
	base   string
	token  string
	client *http.Client
	failed []string
	checks int
}

// Facebook users of the demo (app-scoped ids are strings).
var demoUsers = []graphtest.User{
	{ID: "10158290481734562", Name: "Maya Chen"},
	{ID: "10160013487215903", Name: "Daniel Okafor"},
	{ID: "10159128374650081", Name: "James O'Connor"},
	{ID: "10157742019385214", Name: "Sofía Martínez"},
}

func startDemo(ctx context.Context, dir string, log *slog.Logger, out io.Writer) (*demo, error) {
	emu := &graphtest.Server{Logf: func(string, ...any) {}}
	emu.Start()
	for _, u := range demoUsers {
		emu.AddUser(u)
	}
	// Maya is friends with everyone; Daniel with James too. Sofía never
	// connects, so she appears in nobody's list (Facebook only returns
	// friends who use the app).
	emu.AddFriends(demoUsers[0].ID, demoUsers[1].ID, demoUsers[2].ID, demoUsers[3].ID)
	emu.AddFriends(demoUsers[1].ID, demoUsers[2].ID)

	key := make([]byte, 32)
	rand.Read(key)
	apiToken := base64.RawURLEncoding.EncodeToString(key[:18])
	vals := map[string]string{
		"FACEBOOK_APP_ID":       graphtest.DefaultAppID,
		"FACEBOOK_APP_SECRET":   graphtest.DefaultAppSecret,
		"WATCHSHARE_TOKEN_KEY":  base64.StdEncoding.EncodeToString(key),
		"WATCHSHARE_API_TOKEN":  apiToken,
		"WATCHSHARE_GRAPH_URL":  emu.GraphURL(),
		"WATCHSHARE_DIALOG_URL": emu.DialogURL(),
		"WATCHSHARE_DB":         filepath.Join(dir, "watchshare.db"),
		"WATCHSHARE_NATS_DIR":   filepath.Join(dir, "nats"),
		"WATCHSHARE_HTTP_ADDR":  "127.0.0.1:0",
		// Loopback only and gone with the process; --serve prints its URL.
		"WATCHSHARE_DEV_ACCOUNT_PAGE": "true",
	}
	cfg, err := parseConfig("demo", nil, func(k string) string { return vals[k] }, true, io.Discard)
	if err != nil {
		emu.Close()
		return nil, err
	}
	sys, err := startSystem(ctx, cfg, log)
	if err != nil {
		emu.Close()
		return nil, err
	}
	d := &demo{
		out: out, emu: emu, sys: sys, base: "http://" + sys.addr(), token: apiToken,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	emu.DeauthorizeURL = d.base + "/facebook/deauthorize"
	emu.DataDeletionURL = d.base + "/facebook/data-deletion"
	d.say("watchshare is up: API %s, Graph emulator %s, embedded NATS, SQLite in %s", d.base, emu.URL, dir)
	return d, nil
}

func (d *demo) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	d.sys.shutdown(ctx)
	d.emu.Close()
}

func (d *demo) serveForever(ctx context.Context) error {
	d.say("example account page: %s/account?member=m1 (any member id; Connect with Facebook goes through the emulator's consent page)", d.base)
	d.say("Graph emulator: %s (Graph API %s, consent page %s)", d.emu.URL, d.emu.GraphURL(), d.emu.DialogURL())
	for _, u := range demoUsers {
		d.say("  Facebook user on the consent page: %s (%s)", u.Name, u.ID)
	}
	d.say("API bearer token: %s", d.token)
	d.say("or by hand: curl -s -X POST -H 'Authorization: Bearer %s' %s/v1/members/m1/connect", d.token, d.base)
	d.say("Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "  "+format+"\n", a...)
}

func (d *demo) chapter(title string) {
	fmt.Fprintf(d.out, "\n== %s\n", title)
}

// check records an expectation.
func (d *demo) check(name string, ok bool, detail string) {
	d.checks++
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		d.failed = append(d.failed, name)
	}
	if detail != "" {
		detail = " (" + detail + ")"
	}
	fmt.Fprintf(d.out, "  [%s] %s%s\n", mark, name, detail)
}

// api calls the HTTP API with the bearer token.
func (d *demo) api(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, d.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// connect drives the OAuth redirect dance: our API gives the dialog URL,
// the "browser" approves on the emulator's consent page as fbUser, and
// follows Facebook's redirect to our callback.
func (d *demo) connect(member string, fb graphtest.User, grant ...string) (string, error) {
	status, out, err := d.api("POST", "/v1/members/"+member+"/connect", map[string]any{"return_to": "/account/social"})
	if err != nil || status != 200 {
		return "", fmt.Errorf("connect %s: %d %v %v", member, status, out, err)
	}
	redirect, err := d.emu.Approve(out["authorize_url"].(string), fb.ID, grant...)
	if err != nil {
		return "", err
	}
	resp, err := d.client.Get(redirect.String())
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	return loc.Query().Get("facebook"), nil
}

// play publishes a realistic stream of heartbeats: one every 30 s of play
// time, up to the given watch time, then a stopped event.
func (d *demo) play(ctx context.Context, member, session, title, name string, kids bool, watchSeconds, duration int) (int, error) {
	n := 0
	for w := 30; w <= watchSeconds+30; w += 30 {
		state := "playing"
		watched := min(w, watchSeconds)
		if w > watchSeconds {
			state = "stopped"
		}
		ev := map[string]any{
			"event_id":     fmt.Sprintf("%s-%s-%d", session, title, watched),
			"member_id":    member,
			"profile_id":   map[bool]string{true: "kids", false: "main"}[kids],
			"kids_profile": kids,
			"session_id":   session,
			"title": map[string]any{
				"id": title, "type": "movie",
				"url":  "https://www.example.com/title/" + title,
				"name": name,
			},
			"watched_seconds":  watched,
			"duration_seconds": duration,
			"state":            state,
			"occurred_at":      time.Now().UTC().Format(time.RFC3339),
		}
		data, _ := json.Marshal(ev)
		if _, err := worker.PublishWatch(ctx, d.sys.msg.js, member, ev["event_id"].(string), data); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// settled waits until the worker has settled every watch event.
func (d *demo) settled(ctx context.Context) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if done, _, err := worker.Drained(ctx, d.sys.msg.js, worker.StreamPlayback, worker.DurableName); err == nil && done {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (d *demo) postsOf(fb graphtest.User) []string {
	var titles []string
	for _, a := range d.emu.Actions(fb.ID) {
		titles = append(titles, a.ObjectURL[strings.LastIndex(a.ObjectURL, "/")+1:])
	}
	return titles
}

func (d *demo) story(ctx context.Context) error {
	maya, daniel, james := demoUsers[0], demoUsers[1], demoUsers[2]

	d.chapter("1. Three members connect Facebook through the OAuth redirects")
	for _, c := range []struct {
		member string
		fb     graphtest.User
		grant  []string
	}{
		{"maya", maya, nil},
		{"daniel", daniel, nil},
		{"james", james, []string{"public_profile", "user_friends"}},
	} {
		outcome, err := d.connect(c.member, c.fb, c.grant...)
		if err != nil {
			return err
		}
		note := "granted every permission"
		if c.grant != nil {
			note = "declined publish_actions"
		}
		d.say("%s logs in as %s on the consent page (%s) -> facebook=%s", c.member, c.fb.Name, note, outcome)
		d.check(c.member+" is connected", outcome == "connected", "")
	}
	_, m, _ := d.api("GET", "/v1/members/james", nil)
	d.check("james can not be posted for", m["can_publish"] == false, "can_publish=false")

	d.chapter("2. Playback publishes heartbeats on playback.watch.<member>")
	plays := []struct {
		member, session, title, name string
		kids                         bool
		watch, duration              int
		why                          string
	}{
		{"maya", "s-maya-1", "70143836", "The Night Train", false, 420, 6300, "7 minutes: crosses SHARE_AFTER (5m)"},
		{"maya", "s-maya-kids", "80011223", "Dino Friends", true, 900, 1320, "kids profile: never shared"},
		{"daniel", "s-dan-1", "70299110", "Harbour Lights", false, 390, 5700, "6.5 minutes: shared"},
		{"daniel", "s-dan-2", "70300012", "Cold Case Files", false, 60, 3000, "abandoned after a minute: not shared"},
		{"james", "s-james-1", "70143836", "The Night Train", false, 600, 6300, "no publish_actions: not shared"},
	}
	total := 0
	for _, p := range plays {
		n, err := d.play(ctx, p.member, p.session, p.title, p.name, p.kids, p.watch, p.duration)
		if err != nil {
			return err
		}
		total += n
		d.say("%-6s %-16s %3d heartbeats  %s", p.member, p.name, n, p.why)
	}
	// Redelivery and re-publishing must not double-post: publish Maya's
	// whole session again.
	n, _ := d.play(ctx, "maya", "s-maya-1", "70143836", "The Night Train", false, 420, 6300)
	d.say("maya's session published a second time (%d duplicates, dropped by Nats-Msg-Id)", n)
	d.check("the worker settled all events", d.settled(ctx), fmt.Sprintf("%d events", total+n))

	d.chapter("3. Posts appear on Facebook (the emulator)")
	d.say("maya:   %v", d.postsOf(maya))
	d.say("daniel: %v", d.postsOf(daniel))
	d.say("james:  %v", d.postsOf(james))
	d.check("maya has exactly one post (no kids title, no duplicate)", slices.Equal(d.postsOf(maya), []string{"70143836"}), "")
	d.check("daniel has exactly one post (the abandoned title is not shared)", slices.Equal(d.postsOf(daniel), []string{"70299110"}), "")
	d.check("james has no posts", len(d.postsOf(james)) == 0, "")

	d.chapter("4. Friends sync, and each member sees friends' activity")
	for _, member := range []string{"maya", "daniel", "james"} {
		status, out, err := d.api("POST", "/v1/members/"+member+"/friends/sync", nil)
		if err != nil {
			return err
		}
		d.say("%s: sync -> %d %v", member, status, out)
	}
	_, fr, _ := d.api("GET", "/v1/members/maya/friends", nil)
	d.check("maya's friends are daniel and james", friendIDs(fr) == "daniel,james", friendIDs(fr))
	_, act, _ := d.api("GET", "/v1/members/maya/friends/activity", nil)
	d.say("maya's friends' activity: %s", activityLine(act))
	d.check("maya sees daniel's share", strings.Contains(activityLine(act), "daniel:70299110"), "")
	_, act, _ = d.api("GET", "/v1/members/daniel/friends/activity", nil)
	d.check("daniel sees maya's share", strings.Contains(activityLine(act), "maya:70143836"), "")

	d.chapter("5. Maya hides a title that was already posted")
	status, hide, _ := d.api("PUT", "/v1/members/maya/hidden-titles/70143836", nil)
	d.say("PUT /v1/members/maya/hidden-titles/70143836 -> %d %v", status, hide)
	d.check("the post disappeared from Facebook", len(d.postsOf(maya)) == 0, "")
	_, act, _ = d.api("GET", "/v1/members/daniel/friends/activity", nil)
	d.check("the title disappeared from daniel's friends' activity", !strings.Contains(activityLine(act), "maya:70143836"), "")
	d.play(ctx, "maya", "s-maya-2", "70143836", "The Night Train", false, 600, 6300)
	d.settled(ctx)
	d.check("watching it again posts nothing", len(d.postsOf(maya)) == 0, "")

	d.chapter("6. Daniel disconnects and asks to delete his posts")
	danielTokens := d.emu.Tokens(daniel.ID)
	danielActions := d.emu.Actions(daniel.ID)
	status, disc, _ := d.api("POST", "/v1/members/daniel/disconnect", map[string]any{"delete_posts": true})
	d.say("POST /v1/members/daniel/disconnect -> %d %v", status, disc)
	d.check("the app is revoked at Facebook", !d.emu.Authorized(daniel.ID), "")
	d.check("daniel's posts are deleted on Facebook", len(d.postsOf(daniel)) == 0, "")
	_, m, _ = d.api("GET", "/v1/members/daniel", nil)
	d.check("daniel is not connected", m["status"] == "not_connected", "")
	_, fr, _ = d.api("GET", "/v1/members/maya/friends", nil)
	d.check("daniel is gone from maya's friends", friendIDs(fr) == "james", friendIDs(fr))
	canaries := []string{daniel.ID, daniel.Name}
	for _, t := range danielTokens {
		canaries = append(canaries, t.Token)
	}
	for _, a := range danielActions {
		canaries = append(canaries, a.ID)
	}
	hits := d.scan(canaries)
	d.check("no trace of daniel's Facebook data in the database files", hits == 0, fmt.Sprintf("%d canaries, %d hits", len(canaries), hits))
	d.play(ctx, "daniel", "s-dan-3", "70299110", "Harbour Lights", false, 600, 5700)
	d.settled(ctx)
	d.check("a late event for daniel posts nothing", len(d.postsOf(daniel)) == 0, "")

	d.chapter("7. James removes the app on Facebook: the deauthorize callback purges him")
	if err := d.emu.RemoveApp(ctx, james.ID); err != nil {
		return fmt.Errorf("remove app: %w", err)
	}
	_, m, _ = d.api("GET", "/v1/members/james", nil)
	d.check("james is purged", m["status"] == "not_connected", "")
	d.check("no trace of james's Facebook id in the database files", d.scan([]string{james.ID, james.Name}) == 0, "")

	d.chapter("What each member has")
	tw := tabwriter.NewWriter(d.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  member\tstatus\tposts on Facebook\tshares in watchshare\tfriends\thidden titles")
	for i, member := range []string{"maya", "daniel", "james"} {
		fb := demoUsers[i]
		_, m, _ := d.api("GET", "/v1/members/"+member, nil)
		_, sh, _ := d.api("GET", "/v1/members/"+member+"/shares", nil)
		_, fr, _ := d.api("GET", "/v1/members/"+member+"/friends", nil)
		_, hd, _ := d.api("GET", "/v1/members/"+member+"/hidden-titles", nil)
		fmt.Fprintf(tw, "  %s\t%v\t%d\t%d\t%s\t%d\n", member, m["status"], len(d.postsOf(fb)), lenOf(sh, "shares"), orDash(friendIDs(fr)), lenOf(hd, "titles"))
	}
	tw.Flush()

	fmt.Fprintf(d.out, "\n%d checks, %d failed\n", d.checks, len(d.failed))
	if len(d.failed) > 0 {
		return fmt.Errorf("demo check failed: %s", strings.Join(d.failed, "; "))
	}
	return nil
}

// scan counts occurrences of the canaries in the database files.
func (d *demo) scan(canaries []string) int { return store.Residue(d.sys.cfg.DB, canaries) }

func friendIDs(out map[string]any) string {
	fs, _ := out["friends"].([]any)
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.(map[string]any)["member_id"].(string))
	}
	return strings.Join(ids, ",")
}

func activityLine(out map[string]any) string {
	as, _ := out["activity"].([]any)
	var parts []string
	for _, a := range as {
		m := a.(map[string]any)
		parts = append(parts, fmt.Sprintf("%s:%s", m["member_id"], m["title_id"]))
	}
	return strings.Join(parts, " ")
}

func lenOf(out map[string]any, key string) int {
	l, _ := out[key].([]any)
	return len(l)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
