package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"watchshare/graph/graphtest"
)

// browserStepTimeout bounds one step of the browser test (a page load, a
// click and the answer it waits for).
const browserStepTimeout = 30 * time.Second

// chromiumPath finds Debian's Chromium: `chromium` on PATH, else
// /usr/bin/chromium; "" when there is none.
func chromiumPath() string {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts Chromium with a fresh profile, or skips the test when
// Chromium is not installed.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("Chromium is not installed (no chromium on PATH, no /usr/bin/chromium): skipping the browser test; apt-get install -y chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout on it
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx}
}

// do runs one step; on failure it reports where the tab is and what it shows.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n%s", step, err, b.page())
	}
}

// page describes the tab for a failure message: its URL and visible text.
func (b *browser) page() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("at %s (text unreadable: %v)", loc, err)
	}
	return fmt.Sprintf("at %s:\n%s", loc, text)
}

// screenshot renders the page at width×height CSS pixels (a phone when
// mobile) and writes it as a PNG to dir/name.
func (b *browser) screenshot(dir, name string, width, height int64, mobile bool) string {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		b.t.Fatalf("screenshot %s: viewport: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// textIn waits until the element sel exists and its text contains want.
func textIn(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); return !!e && e.textContent.includes(%s); })()`,
		jsString(sel), jsString(want)), chromedp.WithPollingTimeout(browserStepTimeout))
}

// textNotIn waits until the element sel exists and its text lacks gone.
func textNotIn(sel, gone string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); return !!e && !e.textContent.includes(%s); })()`,
		jsString(sel), jsString(gone)), chromedp.WithPollingTimeout(browserStepTimeout))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshotDir is where the screenshots go: $WATCHSHARE_SCREENSHOT_DIR if
// set (it survives the test), else the test's temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WATCHSHARE_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserAccountPage drives the example account page in Chromium:
// connect through the emulator's consent page (after one Cancel), see the
// status change, pause sharing, see a share and hide it (its post is gone
// from Facebook), sync friends and see their activity, and disconnect.
func TestBrowserAccountPage(t *testing.T) {
	b := newBrowser(t)
	ts := newTestSystem(t, map[string]string{
		"WATCHSHARE_DEV_ACCOUNT_PAGE": "true",
		"WATCHSHARE_ACCOUNT_URL":      "", // the default, <public>/account: the page itself
	})
	me := ts.emu.AddUser(graphtest.User{ID: "740001", Name: "Robin Browser"})
	pal := ts.emu.AddUser(graphtest.User{ID: "740002", Name: "Pat Palmer"})
	ts.emu.AddFriends(me.ID, pal.ID)
	ts.mustConnect("pal", pal.ID)
	ts.publishWatch(watchEvent("pal", "s-pal", "80000001", 600))
	waitFor(t, "pal's post", func() bool { return len(ts.emu.Actions(pal.ID)) == 1 })

	page := ts.base + "/account?member=web1"
	b.do("open the account page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("connect")),
		chromedp.WaitVisible(chromedp.CSS(`#member-status[data-status="not_connected"]`)),
		textIn("#member-status", "Not connected"),
	)

	b.do("cancel on the consent page",
		chromedp.Click(chromedp.ID("connect")),
		chromedp.WaitVisible(chromedp.CSS(`form button[value="cancel"]`)),
		chromedp.Click(chromedp.CSS(`form button[value="cancel"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#message.error`)),
		textIn("#message", "You cancelled on Facebook"),
		textIn("#member-status", "Not connected"),
	)

	b.do("connect through the consent page",
		chromedp.Click(chromedp.ID("connect")),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SetValue(chromedp.ID("user"), me.ID),
		chromedp.Click(chromedp.CSS(`button.allow`)),
		chromedp.WaitVisible(chromedp.CSS(`#member-status[data-status="connected"]`)),
		textIn("#message", "Your Facebook account is connected."),
		textIn("#fb-name", me.Name),
		textIn("#can-publish", "yes"),
	)
	if m := ts.member("web1"); m["status"] != "connected" || m["facebook_user_id"] != me.ID {
		t.Fatalf("member after connecting in the browser = %v", m)
	}
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if want := page; loc != want {
		t.Errorf("address after connecting = %s, want %s (member kept, facebook= dropped)", loc, want)
	}
	dir := screenshotDir(t)
	t.Logf("screenshot of the account page after connecting (desktop): %s", b.screenshot(dir, "account-connected-desktop.png", 1280, 900, false))
	t.Logf("screenshot of the account page after connecting (phone): %s", b.screenshot(dir, "account-connected-phone.png", 390, 844, true))
	b.do("back to a desktop viewport", chromedp.EmulateViewport(1280, 900))

	b.do("pause sharing",
		chromedp.Click(chromedp.ID("sharing-enabled")),
		textIn("#message", "Sharing is paused"),
	)
	if m := ts.member("web1"); m["sharing_enabled"] != false {
		t.Fatalf("sharing_enabled after the switch = %v", m["sharing_enabled"])
	}
	b.do("resume sharing",
		chromedp.Click(chromedp.ID("sharing-enabled")),
		textIn("#message", "Sharing is on"),
	)

	ts.publishWatch(watchEvent("web1", "s-web", "70143836", 600))
	waitFor(t, "the post of web1", func() bool { return len(ts.emu.Actions(me.ID)) == 1 })
	waitFor(t, "the recorded share of web1", func() bool {
		_, out := ts.api("GET", "/v1/members/web1/shares", nil)
		s, _ := out["shares"].([]any)
		return len(s) == 1
	})
	hide := chromedp.CSS(`#shares button[aria-label="Hide Title 70143836"]`)
	b.do("see the share",
		chromedp.Reload(),
		chromedp.WaitVisible(hide),
		textIn("#shares", "Title 70143836"),
	)
	b.do("hide it",
		chromedp.Click(hide),
		textIn("#message", "“Title 70143836” is hidden"),
		textIn("#message", "Its post was deleted from Facebook."),
		textIn("#hidden", "Title 70143836"),
		textNotIn("#shares", "Title 70143836"),
	)
	if n := len(ts.emu.Actions(me.ID)); n != 0 {
		t.Fatalf("%d posts left on Facebook after Hide", n)
	}

	b.do("sync friends and see their activity",
		chromedp.Click(chromedp.ID("sync-friends")),
		textIn("#message", "Friends synced: 1 on the service"),
		textIn("#friends", pal.Name),
		textIn("#activity", pal.Name+" watched Title 80000001"),
	)

	b.do("disconnect and delete posts",
		chromedp.Click(chromedp.ID("delete-posts")),
		chromedp.Click(chromedp.ID("disconnect")),
		chromedp.WaitVisible(chromedp.CSS(`#member-status[data-status="not_connected"]`)),
		textIn("#message", "Facebook is disconnected"),
		textIn("#hidden", "70143836"), // the hidden-title list is kept
	)
	if ts.emu.Authorized(me.ID) {
		t.Fatal("the app is still authorized at Facebook after Disconnect")
	}
	if m := ts.member("web1"); m["status"] != "not_connected" {
		t.Fatalf("member after Disconnect = %v", m)
	}
}

// The account page is off unless asked for: /account is the API's 404.
func TestAccountPageOffByDefault(t *testing.T) {
	ts := newTestSystem(t, nil)
	for _, path := range []string{"/account", "/account/api/v1/members/m1"} {
		req, _ := http.NewRequest("GET", ts.base+path, nil)
		if status, out := ts.do(req); status != http.StatusNotFound {
			t.Fatalf("GET %s = %d %v, want 404", path, status, out)
		}
	}
}

func TestDevAccountPageSetting(t *testing.T) {
	cases := []struct {
		name    string
		env     string
		args    []string
		want    bool
		wantErr bool
	}{
		{name: "off by default"},
		{name: "env true", env: "true", want: true},
		{name: "env 1", env: "1", want: true},
		{name: "env false", env: "false"},
		{name: "flag alone", args: []string{"--dev-account-page"}, want: true},
		{name: "flag wins over env", env: "true", args: []string{"--dev-account-page=false"}},
		{name: "bad env", env: "maybe", wantErr: true},
		{name: "bad flag", args: []string{"--dev-account-page=sometimes"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string {
				if k == "WATCHSHARE_DEV_ACCOUNT_PAGE" {
					return tc.env
				}
				return ""
			}
			cfg, err := parseConfig("serve", tc.args, env, false, io.Discard)
			if tc.wantErr {
				var se *settingError
				if !errors.As(err, &se) || se.env != "WATCHSHARE_DEV_ACCOUNT_PAGE" || se.flag != "dev-account-page" {
					t.Fatalf("parseConfig = %v, want a settingError naming WATCHSHARE_DEV_ACCOUNT_PAGE", err)
				}
				return
			}
			if err != nil || cfg.DevAccountPage != tc.want {
				t.Fatalf("DevAccountPage = %v (%v), want %v", cfg.DevAccountPage, err, tc.want)
			}
		})
	}
}
