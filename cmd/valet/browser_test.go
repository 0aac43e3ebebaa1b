package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserStory plays the note's story in a real browser: FriendFinder
// → Valet's sign-in → consent → FriendFinder's result with the contacts and
// the six steps; then Valet's connected-apps page, where ana removes
// FriendFinder, after which FriendFinder's tokens are refused.
//
// It skips when chromium is missing, unless VALET_TEST_BROWSER=1 (CI), and
// saves a screenshot of each page: to docs/screenshots when
// VALET_SCREENSHOTS=1, else to a temporary directory.
func TestBrowserStory(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("VALET_TEST_BROWSER") == "1" {
			t.Fatalf("VALET_TEST_BROWSER=1 but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("%s is missing (apt-get install chromium); set VALET_TEST_BROWSER=1 to make this a failure", chromiumPath)
	}
	shots := t.TempDir()
	if os.Getenv("VALET_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := startDemo(t)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first Run starts the browser and must not carry the deadline
	// (it would stop the browser); every step after runs under 90 s.
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// shot saves the whole page, or only the first screenful of a long one
	// (the result page runs to several thousand pixels), as PNG.
	shot := func(name string, full bool) {
		t.Helper()
		capture := chromedp.CaptureScreenshot()
		if full {
			capture = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, capture)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// FriendFinder's home page, then Valet's sign-in page.
	do("open FriendFinder", chromedp.Navigate(d.FriendFinder+"/"), chromedp.WaitVisible(chromedp.CSS(`form[action="/start"] button`)))
	shot("1-friendfinder", true)
	do("start", chromedp.Click(chromedp.CSS(`form[action="/start"] button`)), chromedp.WaitVisible(chromedp.CSS("#username")))
	shot("2-valet-sign-in", true)
	do("sign in",
		chromedp.SendKeys(chromedp.CSS("#username"), "ana"),
		chromedp.SendKeys(chromedp.CSS("#password"), d.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
	if h := text("h1"); !strings.Contains(h, "FriendFinder") {
		t.Errorf("consent page heading %q does not name FriendFinder", h)
	}
	if s := text("ul.scopes"); !strings.Contains(s, "Read your contacts") || strings.Contains(s, "mail") {
		t.Errorf("consent page scopes %q", s)
	}
	shot("3-valet-consent", true)
	do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.CSS("ol.steps")))
	shot("4-friendfinder-result", false)

	body := text("body")
	if !strings.Contains(body, "3 of your 6 Mail contacts already use FriendFinder: Bruno Costa, Dara Okafor, Farah Haddad.") {
		t.Errorf("the result page does not list the member contacts:\n%s", body)
	}
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("li.step:not(.refused) h3")].map(h => h.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 {
		t.Fatalf("the flow explorer shows %d steps, want 6: %q", len(steps), steps)
	}
	for i, s := range steps {
		if want := "Step " + string(rune('1'+i)); !strings.HasPrefix(s, want) {
			t.Errorf("step %d is %q, want it to start with %q", i+1, s, want)
		}
	}
	tokens := d.tokens.all()
	if len(tokens) != 1 {
		t.Fatalf("FriendFinder called the token endpoint %d times, want 1", len(tokens))
	}
	_, rest, _ := strings.Cut(tokens[0], "\n")
	_, respBody, _ := strings.Cut(rest, "\n")
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(respBody), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("token response %q: %v", respBody, err)
	}
	if status, _ := friendFinderCall(t, d, "/introspect", url.Values{"token": {tok.AccessToken}}); status != 200 || !introspectsActive(t, d, tok.AccessToken) {
		t.Fatal("control: FriendFinder's access token is not active before removal")
	}

	// The same browser has Valet's session cookie: the account page opens.
	do("open the account page", chromedp.Navigate(d.Valet+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`[data-client-id="`+d.FriendFinderID+`"] button`)))
	if s := text(`[data-client-id="` + d.FriendFinderID + `"]`); !strings.Contains(s, "Read your contacts") || !strings.Contains(s, "Last used") {
		t.Errorf("the account page's FriendFinder card: %q", s)
	}
	shot("5-valet-account", true)
	do("remove FriendFinder", chromedp.Click(chromedp.CSS(`[data-client-id="`+d.FriendFinderID+`"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := text(".notice"); !strings.Contains(s, "FriendFinder no longer has access") {
		t.Errorf("notice after removal: %q", s)
	}
	shot("6-valet-account-removed", true)

	// FriendFinder's next calls are refused: its refresh token at once, and
	// its access token at introspection.
	status, answer := friendFinderCall(t, d, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != http.StatusBadRequest || answer["error"] != "invalid_grant" {
		t.Errorf("FriendFinder's refresh after removal: %d %v, want 400 invalid_grant", status, answer)
	}
	if introspectsActive(t, d, tok.AccessToken) {
		t.Error("FriendFinder's access token still introspects active after removal")
	}
	// And running FriendFinder again makes Valet ask again.
	do("run FriendFinder again", chromedp.Navigate(d.FriendFinder+"/"),
		chromedp.Click(chromedp.CSS(`form[action="/start"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
	shot("7-valet-asks-again", true)
}

// friendFinderCall posts form to Valet's endpoint path as FriendFinder (its
// client secret, HTTP Basic) and returns the status and JSON answer.
func friendFinderCall(t *testing.T, d *runningDemo, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.Valet+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.FriendFinderID), url.QueryEscape(d.FriendFinderSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func introspectsActive(t *testing.T, d *runningDemo, tok string) bool {
	t.Helper()
	status, m := friendFinderCall(t, d, "/introspect", url.Values{"token": {tok}})
	if status != http.StatusOK {
		t.Fatalf("introspection: %d %v", status, m)
	}
	return m["active"] == true
}
